#include "cachepolicy.h"

#include <QDateTime>
#include <QLocale>

#include <algorithm>

namespace Berth::Gateway::Cache {

namespace {

bool equalsIgnoreCase(QByteArrayView a, QByteArrayView b)
{
    return a.compare(b, Qt::CaseInsensitive) == 0;
}

// delta-seconds (RFC 9111 §1.2.2): a value too large saturates, a malformed one is absent.
qint64 deltaSeconds(QByteArrayView text)
{
    if (text.size() >= 2 && text.front() == '"' && text.back() == '"')
        text = text.sliced(1, text.size() - 2);
    if (text.isEmpty())
        return -1;
    qint64 value = 0;
    for (char c : text) {
        if (c < '0' || c > '9')
            return -1;
        value = std::min<qint64>(value * 10 + (c - '0'), qint64(1) << 31);
    }
    return value;
}

} // namespace

Directives Directives::parse(const QList<QByteArrayView> &values)
{
    Directives d;
    for (QByteArrayView value : values) {
        for (QByteArrayView item : QByteArray(value.toByteArray()).split(',')) {
            const QByteArrayView directive = item.trimmed();
            const qsizetype eq = directive.indexOf('=');
            const QByteArrayView name = (eq < 0 ? directive : directive.first(eq)).trimmed();
            const QByteArrayView arg =
                eq < 0 ? QByteArrayView() : directive.sliced(eq + 1).trimmed();
            if (equalsIgnoreCase(name, "no-store"))
                d.noStore = true;
            else if (equalsIgnoreCase(name, "no-cache"))
                d.noCache = true; // a qualified no-cache="field" is treated as unqualified
            else if (equalsIgnoreCase(name, "private"))
                d.isPrivate = true;
            else if (equalsIgnoreCase(name, "public"))
                d.isPublic = true;
            else if (equalsIgnoreCase(name, "must-revalidate") ||
                     equalsIgnoreCase(name, "proxy-revalidate"))
                d.mustRevalidate = true;
            else if (equalsIgnoreCase(name, "only-if-cached"))
                d.onlyIfCached = true;
            else if (equalsIgnoreCase(name, "max-age"))
                d.maxAge = deltaSeconds(arg);
            else if (equalsIgnoreCase(name, "s-maxage"))
                d.sMaxAge = deltaSeconds(arg);
            else if (equalsIgnoreCase(name, "stale-while-revalidate"))
                d.staleWhileRevalidate = deltaSeconds(arg);
            else if (equalsIgnoreCase(name, "stale-if-error"))
                d.staleIfError = deltaSeconds(arg);
        }
    }
    return d;
}

qint64 parseHttpDate(QByteArrayView text)
{
    const QString s = QString::fromLatin1(text.trimmed());
    static const QLocale c = QLocale::c();
    const char *const formats[] = {"ddd, dd MMM yyyy HH:mm:ss 'GMT'",
                                   "dddd, dd-MMM-yy HH:mm:ss 'GMT'", "ddd MMM d HH:mm:ss yyyy",
                                   "ddd MMM  d HH:mm:ss yyyy"};
    for (const char *format : formats) {
        QDateTime dt = c.toDateTime(s, QString::fromLatin1(format));
        if (!dt.isValid())
            continue;
        dt.setTimeSpec(Qt::UTC);
        if (dt.date().year() < 1970 && QByteArrayView(format).contains("yy H"))
            dt = dt.addYears(100); // RFC 850 two-digit years: within 50 years of now
        return dt.toSecsSinceEpoch();
    }
    return -1;
}

QByteArray formatHttpDate(qint64 seconds)
{
    return QLocale::c()
        .toString(QDateTime::fromSecsSinceEpoch(seconds, Qt::UTC),
                  QStringLiteral("ddd, dd MMM yyyy HH:mm:ss 'GMT'"))
        .toLatin1();
}

bool isHeuristicallyCacheable(int status)
{
    switch (status) {
    case 200:
    case 203:
    case 204:
    case 300:
    case 301:
    case 308:
    case 404:
    case 405:
    case 410:
    case 414:
    case 501:
        return true;
    default:
        return false;
    }
}

QList<QByteArrayView> fieldValues(const Fields &fields, QByteArrayView name)
{
    QList<QByteArrayView> values;
    for (const auto &[n, v] : fields) {
        if (equalsIgnoreCase(n, name))
            values.append(v);
    }
    return values;
}

namespace {

// The opaque-tag of an entity-tag, quotes included, without a weak prefix (weak comparison,
// RFC 9110 §8.8.3.2); empty when it is no entity-tag.
QByteArrayView opaqueTag(QByteArrayView tag)
{
    if (tag.startsWith("W/"))
        tag = tag.sliced(2);
    if (tag.size() < 2 || tag.front() != '"' || tag.back() != '"' ||
        tag.sliced(1, tag.size() - 2).contains('"'))
        return {};
    return tag;
}

// Whether an If-None-Match value (`*` or a list of entity-tags) matches the stored tag.
bool listMatches(QByteArrayView value, QByteArrayView stored)
{
    qsizetype pos = 0;
    while (pos < value.size()) {
        const char c = value[pos];
        if (c == ' ' || c == '\t' || c == ',') {
            ++pos;
            continue;
        }
        if (c == '*')
            return true;
        qsizetype start = pos;
        if (value.sliced(pos).startsWith("W/"))
            pos += 2;
        if (pos >= value.size() || value[pos] != '"')
            return false; // not an entity-tag list: no match
        const qsizetype close = value.indexOf('"', pos + 1);
        if (close < 0)
            return false;
        const QByteArrayView tag = opaqueTag(value.sliced(start, close + 1 - start));
        if (!tag.isEmpty() && !stored.isEmpty() && tag == stored)
            return true;
        pos = close + 1;
    }
    return false;
}

} // namespace

bool clientHasRepresentation(const QList<QByteArrayView> &ifNoneMatch,
                             QByteArrayView ifModifiedSince, const Fields &storedFields)
{
    if (!ifNoneMatch.isEmpty()) {
        const QList<QByteArrayView> etags = fieldValues(storedFields, "etag");
        const QByteArrayView stored = etags.isEmpty() ? QByteArrayView() : opaqueTag(etags.front());
        for (QByteArrayView value : ifNoneMatch) {
            if (listMatches(value, stored))
                return true;
        }
        return false;
    }
    if (ifModifiedSince.isEmpty())
        return false;
    const QList<QByteArrayView> modified = fieldValues(storedFields, "last-modified");
    if (modified.isEmpty())
        return false;
    const qint64 since = parseHttpDate(ifModifiedSince.trimmed());
    const qint64 last = parseHttpDate(modified.front().trimmed());
    return since >= 0 && last >= 0 && last <= since;
}

QList<QByteArray> varyNames(const Fields &responseFields)
{
    QList<QByteArray> names;
    for (QByteArrayView value : fieldValues(responseFields, "vary")) {
        for (const QByteArray &item : value.toByteArray().split(',')) {
            const QByteArray name = item.trimmed().toLower();
            if (name == "*")
                return {name};
            if (!name.isEmpty() && !names.contains(name))
                names.append(name);
        }
    }
    std::sort(names.begin(), names.end());
    return names;
}

StorePlan planStore(int status, const Fields &fields, bool requestHasAuthorization,
                    qint64 defaultTtl, qint64 now)
{
    StorePlan plan;
    const Directives cc = Directives::parse(fieldValues(fields, "cache-control"));
    auto refuse = [&plan](const char *reason) {
        plan.store = false;
        plan.reason = reason;
        return plan;
    };
    if (cc.noStore)
        return refuse("no-store");
    if (cc.isPrivate)
        return refuse("private");
    if (!fieldValues(fields, "set-cookie").isEmpty())
        return refuse("set-cookie");
    if (varyNames(fields).contains("*"))
        return refuse("vary-star");
    // §3.5: a shared cache stores a response to an authorised request only when the member
    // says so.
    if (requestHasAuthorization && !cc.isPublic && !cc.mustRevalidate && cc.sMaxAge < 0)
        return refuse("authorization");

    const QList<QByteArrayView> dates = fieldValues(fields, "date");
    const qint64 date = dates.isEmpty() ? -1 : parseHttpDate(dates.front());
    qint64 lifetime = -1;
    if (cc.sMaxAge >= 0) {
        lifetime = cc.sMaxAge;
    } else if (cc.maxAge >= 0) {
        lifetime = cc.maxAge;
    } else if (const QList<QByteArrayView> expires = fieldValues(fields, "expires");
               !expires.isEmpty()) {
        const qint64 at = parseHttpDate(expires.front());
        lifetime = at < 0 ? 0 : std::max<qint64>(0, at - (date >= 0 ? date : now));
    }
    const bool explicitFreshness = lifetime >= 0;
    if (!explicitFreshness) {
        if (!isHeuristicallyCacheable(status))
            return refuse("status");
        if (defaultTtl <= 0)
            return refuse("no-ttl");
        lifetime = defaultTtl;
    } else if (status < 200 || status == 206 || status == 304 || status >= 600) {
        return refuse("status");
    }
    plan.store = true;
    plan.freshSeconds = lifetime;
    // §4.2.3, with the response received now (no request/response delay to correct for).
    const QList<QByteArrayView> ages = fieldValues(fields, "age");
    const qint64 ageValue = ages.isEmpty() ? 0 : std::max<qint64>(0, deltaSeconds(ages.front()));
    const qint64 apparentAge = date >= 0 ? std::max<qint64>(0, now - date) : 0;
    plan.initialAge = std::max(ageValue, apparentAge);
    plan.mustRevalidate = cc.mustRevalidate || cc.noCache;
    if (cc.noCache)
        plan.freshSeconds = 0; // §5.2.2.4: stored, but validated before every use
    plan.staleWhileRevalidate =
        plan.mustRevalidate ? 0 : std::max<qint64>(0, cc.staleWhileRevalidate);
    plan.staleIfError = plan.mustRevalidate ? 0 : std::max<qint64>(0, cc.staleIfError);
    return plan;
}

} // namespace Berth::Gateway::Cache
