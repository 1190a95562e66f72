#include "preconditions.h"

#include "http/httpdate.h"
#include "http/requesthead.h"

namespace Berth::Apps {

namespace {

bool isOws(char c)
{
    return c == ' ' || c == '\t';
}

bool sameName(QByteArrayView a, QByteArrayView b)
{
    return a.size() == b.size() && a.compare(b, Qt::CaseInsensitive) == 0;
}

bool hasField(const Http::RequestHead &head, QByteArrayView name)
{
    for (const auto &field : head.fields) {
        if (sameName(field.name, name))
            return true;
    }
    return false;
}

// Entity-tag lists may be split over several field lines (RFC 9110 §5.3); match against each.
bool anyFieldMatches(const Http::RequestHead &head, QByteArrayView name, QByteArrayView entityTag,
                     TagComparison comparison)
{
    for (const auto &field : head.fields) {
        if (sameName(field.name, name) && entityTagListMatches(field.value, entityTag, comparison))
            return true;
    }
    return false;
}

// A date field is only usable when it appears once and parses; otherwise it is ignored, as
// RFC 9110 requires for If-Modified-Since and If-Unmodified-Since.
std::optional<qint64> singleDate(const Http::RequestHead &head, QByteArrayView name)
{
    const Http::HeaderField *found = nullptr;
    for (const auto &field : head.fields) {
        if (sameName(field.name, name)) {
            if (found)
                return std::nullopt;
            found = &field;
        }
    }
    return found ? Http::parseHttpDate(found->value) : std::nullopt;
}

} // namespace

Validators Validators::forFile(qint64 mtimeSeconds, qint64 size)
{
    // nginx's ETag, so caches primed by an nginx in front of or before Berth stay valid.
    QByteArray tag;
    tag.reserve(40);
    tag += '"';
    tag += QByteArray::number(mtimeSeconds, 16);
    tag += '-';
    tag += QByteArray::number(size, 16);
    tag += '"';
    return {tag, mtimeSeconds};
}

bool entityTagListMatches(QByteArrayView list, QByteArrayView entityTag, TagComparison comparison)
{
    qsizetype pos = 0;
    while (pos < list.size()) {
        if (isOws(list[pos]) || list[pos] == ',') {
            ++pos;
            continue;
        }
        // "*" matches any current representation, and the file exists.
        if (list[pos] == '*')
            return true;
        bool weak = false;
        if (list.sliced(pos).startsWith("W/")) {
            weak = true;
            pos += 2;
        }
        if (pos >= list.size() || list[pos] != '"')
            return false;
        const qsizetype close = list.indexOf('"', pos + 1);
        if (close < 0)
            return false;
        const QByteArrayView tag = list.sliced(pos, close - pos + 1);
        if (tag == entityTag && (comparison == TagComparison::Weak || !weak))
            return true;
        pos = close + 1;
    }
    return false;
}

Precondition evaluatePreconditions(const Http::RequestHead &head, const Validators &validators)
{
    // Steps 1 and 2 of §13.2.2: the state-changing preconditions. A GET that carries them still
    // gets the 412 a client asked for.
    if (hasField(head, "If-Match")) {
        if (!anyFieldMatches(head, "If-Match", validators.entityTag, TagComparison::Strong))
            return Precondition::PreconditionFailed;
    } else if (const auto date = singleDate(head, "If-Unmodified-Since")) {
        if (validators.lastModified > *date)
            return Precondition::PreconditionFailed;
    }

    // Steps 3 and 4: cache revalidation. If-Modified-Since only counts without If-None-Match,
    // because an entity-tag is the more precise validator.
    if (hasField(head, "If-None-Match")) {
        if (anyFieldMatches(head, "If-None-Match", validators.entityTag, TagComparison::Weak))
            return Precondition::NotModified;
    } else if (const auto date = singleDate(head, "If-Modified-Since")) {
        if (validators.lastModified <= *date)
            return Precondition::NotModified;
    }
    return Precondition::Proceed;
}

bool ifRangeAllowsRange(const Http::RequestHead &head, const Validators &validators)
{
    const Http::HeaderField *found = nullptr;
    for (const auto &field : head.fields) {
        if (sameName(field.name, "If-Range")) {
            // Two If-Range fields: we cannot tell which one the client meant; the safe answer
            // is the whole, current file.
            if (found)
                return false;
            found = &field;
        }
    }
    if (!found)
        return true;
    const QByteArrayView value = found->value.trimmed();
    if (value.startsWith('"') || value.startsWith("W/")) {
        // Strong comparison: a weak tag never matches, and partial content spliced from two
        // versions of a file is exactly what If-Range exists to prevent.
        return value == validators.entityTag;
    }
    const auto date = Http::parseHttpDate(value);
    return date && *date == validators.lastModified;
}

} // namespace Berth::Apps
