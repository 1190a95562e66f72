#include "calltemplate.h"

#include "http/requesthead.h"

#include <QRegularExpression>

namespace Berth::Compose {

namespace {

bool isPlaceholderName(QByteArrayView name)
{
    if (name.isEmpty())
        return false;
    for (char c : name) {
        const bool ok =
            (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
        if (!ok)
            return false;
    }
    return true;
}

// Visits target: literal text as onText(bytes), each {name} as onName(name, inQuery); false
// (with *error) for an unbalanced brace or a bad name.
template <typename Text, typename Name>
bool walk(QByteArrayView target, Text &&onText, Name &&onName, QString *error)
{
    bool inQuery = false;
    qsizetype i = 0;
    while (i < target.size()) {
        const char c = target[i];
        if (c == '}') {
            *error = QStringLiteral("'}' without '{'");
            return false;
        }
        if (c != '{') {
            if (c == '?')
                inQuery = true;
            onText(target.sliced(i, 1));
            ++i;
            continue;
        }
        const qsizetype close = target.indexOf('}', i);
        if (close < 0) {
            *error = QStringLiteral("'{' without '}'");
            return false;
        }
        const QByteArrayView name = target.sliced(i + 1, close - i - 1);
        if (!isPlaceholderName(name)) {
            *error = QStringLiteral("bad placeholder {%1}").arg(QString::fromUtf8(name));
            return false;
        }
        if (!onName(name.toByteArray(), inQuery))
            return false;
        i = close + 1;
    }
    return true;
}

} // namespace

QByteArray percentEncode(QByteArrayView value)
{
    static const char hex[] = "0123456789ABCDEF";
    QByteArray out;
    out.reserve(value.size() * 3);
    for (char c : value) {
        const uchar u = uchar(c);
        const bool unreserved = (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') ||
                                (u >= '0' && u <= '9') || u == '-' || u == '.' || u == '_' ||
                                u == '~';
        if (unreserved) {
            out.append(c);
        } else {
            out.append('%');
            out.append(hex[u >> 4]);
            out.append(hex[u & 0xf]);
        }
    }
    return out;
}

bool CallTemplate::parse(const QString &name, const QString &value, CallTemplate *out,
                         QString *error)
{
    static const QRegularExpression space(QStringLiteral("\\s+"));
    QStringList tokens = value.trimmed().split(space, Qt::SkipEmptyParts);
    CallTemplate call;
    call.name = name;
    if (!tokens.isEmpty() && !tokens.front().startsWith(u'/') && !tokens.front().startsWith(u'@')) {
        const QByteArray method = tokens.takeFirst().toLatin1();
        if (!Http::isToken(method) || method.toUpper() != method) {
            *error = QStringLiteral("'%1' is not a method").arg(QString::fromLatin1(method));
            return false;
        }
        call.method = method;
    }
    if (!tokens.isEmpty() && tokens.front().startsWith(u'@')) {
        call.group = tokens.takeFirst();
        if (call.group.size() < 2) {
            *error = QStringLiteral("'@' names no group");
            return false;
        }
    }
    if (tokens.size() != 1 || !tokens.front().startsWith(u'/')) {
        *error = QStringLiteral("expected [METHOD] [@group] /path, got '%1'").arg(value);
        return false;
    }
    call.target = tokens.front().toUtf8();
    for (char c : call.target) {
        if (c != '{' && c != '}' && !Http::CharClass::is(c, Http::CharClass::Target)) {
            *error = QStringLiteral("the path '%1' has a byte a request can't carry")
                         .arg(QString::fromUtf8(call.target));
            return false;
        }
    }
    const bool ok = walk(
        call.target, [](QByteArrayView) {}, [](const QByteArray &, bool) { return true; }, error);
    if (!ok)
        return false;
    *out = std::move(call);
    return true;
}

bool expandTarget(const QByteArray &target, const PlaceholderLookup &lookup, QByteArray *out,
                  QString *error)
{
    QByteArray result;
    result.reserve(target.size() + 32);
    const bool ok = walk(
        target, [&](QByteArrayView text) { result.append(text); },
        [&](const QByteArray &name, bool inQuery) {
            const std::optional<QByteArray> value = lookup(name);
            if (!value) {
                *error = QStringLiteral("no value for {%1}").arg(QString::fromUtf8(name));
                return false;
            }
            if (!inQuery) {
                const QByteArray &v = *value;
                const bool dots = !v.isEmpty() && v.count('.') == v.size();
                if (v.isEmpty() || dots || v.contains('/') || v.contains('\\')) {
                    *error = QStringLiteral("bad value for {%1}").arg(QString::fromUtf8(name));
                    return false;
                }
            }
            result.append(percentEncode(*value));
            return true;
        },
        error);
    if (!ok)
        return false;
    *out = std::move(result);
    return true;
}

} // namespace Berth::Compose
