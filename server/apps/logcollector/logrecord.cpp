#include "logrecord.h"

#include <QDateTime>
#include <QHash>
#include <QJsonDocument>
#include <QJsonObject>
#include <QJsonValue>

#include "http/formencoding.h"

#include <cmath>

namespace Berth::Apps {

namespace {

QString decodeComponent(QByteArrayView raw)
{
    return QString::fromUtf8(Http::decodeFormComponent(raw));
}

bool isIntegerField(const QString &key)
{
    return key == u"lineno" || key == u"levelno" || key == u"process" || key == u"thread";
}

bool isFloatField(const QString &key)
{
    return key == u"created" || key == u"msecs" || key == u"relativeCreated";
}

bool isOptionalField(const QString &key)
{
    return key == u"exc_info" || key == u"exc_text" || key == u"stack_info" || key == u"taskName";
}

QJsonValue jsonValue(const QString &key, const QString &value)
{
    if (isIntegerField(key)) {
        bool ok = false;
        const qint64 number = value.toLongLong(&ok);
        if (ok)
            return QJsonValue(number);
    } else if (isFloatField(key)) {
        bool ok = false;
        const double number = value.toDouble(&ok);
        if (ok && std::isfinite(number))
            return QJsonValue(number);
    }
    if ((isIntegerField(key) || isFloatField(key) || isOptionalField(key)) && value == u"None")
        return QJsonValue(QJsonValue::Null);
    return QJsonValue(value);
}

// Control characters would let a sender rewrite the terminal of whoever tails the file (ESC
// sequences) or fake further records (CR); tabs are harmless.
QString visible(const QString &text)
{
    QString out = text;
    for (QChar &c : out) {
        if ((c.unicode() < 0x20 && c != u'\t') || c.unicode() == 0x7f)
            c = u'?';
    }
    return out;
}

void appendIndented(QString &out, const QString &block)
{
    const QStringList lines = block.split(u'\n');
    for (const QString &line : lines) {
        QString l = line;
        if (l.endsWith(u'\r'))
            l.chop(1);
        out += QStringLiteral("\n    ") + visible(l);
    }
}

bool isPythonNothing(const QString &value)
{
    return value.isEmpty() || value == u"None";
}

} // namespace

LogRecordFields parseUrlEncoded(QByteArrayView data)
{
    LogRecordFields fields;
    QHash<QString, qsizetype> positions;
    Http::forEachFormPair(data, [&](QByteArrayView rawKey, QByteArrayView rawValue) {
        const QString key = decodeComponent(rawKey);
        const QString value = rawValue.isNull() ? QString() : decodeComponent(rawValue);
        if (key.isEmpty())
            return;
        const auto it = positions.constFind(key);
        if (it != positions.constEnd()) {
            fields[*it].second = value;
        } else {
            positions.insert(key, fields.size());
            fields.append({key, value});
        }
    });
    return fields;
}

QByteArray logRecordJson(const LogRecordFields &fields)
{
    // QJsonObject sorts its keys; the record is written by hand to keep the sender's order, with
    // QJsonDocument escaping each value.
    QByteArray out = "{";
    bool first = true;
    for (const auto &[key, value] : fields) {
        if (!first)
            out += ',';
        first = false;
        QJsonObject one{{key, jsonValue(key, value)}};
        QByteArray text = QJsonDocument(one).toJson(QJsonDocument::Compact);
        out += QByteArrayView(text).sliced(1, text.size() - 2); // strip "{" and "}"
    }
    out += '}';
    return out;
}

QByteArray logRecordText(const LogRecordFields &fields)
{
    QHash<QString, QString> map;
    for (const auto &[key, value] : fields)
        map.insert(key, value);
    auto field = [&](const char *key) {
        const QString value = map.value(QString::fromLatin1(key));
        return value.isEmpty() ? QStringLiteral("-") : visible(value);
    };

    QString out;
    bool ok = false;
    const double created = map.value(QStringLiteral("created")).toDouble(&ok);
    if (ok && std::isfinite(created) && std::abs(created) < 1e12) {
        const QDateTime when = QDateTime::fromMSecsSinceEpoch(qint64(std::floor(created * 1000)));
        out = when.toString(QStringLiteral("yyyy-MM-dd HH:mm:ss,zzz"));
    } else {
        out = QStringLiteral("-");
    }
    out += u' ' + field("levelname") + u' ' + field("name") + QStringLiteral(" [") +
           field("pathname") + u':' + field("lineno") + QStringLiteral("] ");

    // A record a Formatter has seen (another handler ran first) carries the formatted
    // `message`; otherwise HTTPHandler sends msg unformatted, with the %-arguments apart.
    QString message = map.value(QStringLiteral("message"));
    if (!map.contains(QStringLiteral("message"))) {
        message = map.value(QStringLiteral("msg"));
        const QString args = map.value(QStringLiteral("args"));
        if (!isPythonNothing(args) && args != u"()" && args != u"{}")
            message += QStringLiteral(" % ") + args;
    }
    const QStringList messageLines = message.split(u'\n');
    out += visible(messageLines.first());
    if (messageLines.size() > 1)
        appendIndented(out, messageLines.mid(1).join(u'\n'));

    const QString excText = map.value(QStringLiteral("exc_text"));
    const QString excInfo = map.value(QStringLiteral("exc_info"));
    if (!isPythonNothing(excText))
        appendIndented(out, excText);
    else if (!isPythonNothing(excInfo))
        appendIndented(out, QStringLiteral("exc_info: ") + excInfo);
    const QString stack = map.value(QStringLiteral("stack_info"));
    if (!isPythonNothing(stack))
        appendIndented(out, stack);
    return out.toUtf8();
}

} // namespace Berth::Apps
