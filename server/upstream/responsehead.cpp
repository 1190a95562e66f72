#include "responsehead.h"

#include "http/requesthead.h"

#include <cstring>

namespace Berth::Upstream {

using Http::equalsIgnoreCase;

QByteArrayView ResponseHead::field(QByteArrayView name) const
{
    for (const auto &[n, v] : fields) {
        if (equalsIgnoreCase(n, name))
            return v;
    }
    return {};
}

void ResponseHead::setFields(const std::vector<std::pair<QByteArray, QByteArray>> &owned)
{
    qsizetype size = 0;
    for (const auto &[name, value] : owned)
        size += name.size() + value.size();
    raw = QByteArray(size, Qt::Uninitialized);
    fields.clear();
    char *p = raw.data();
    for (const auto &[name, value] : owned) {
        std::memcpy(p, name.constData(), size_t(name.size()));
        std::memcpy(p + name.size(), value.constData(), size_t(value.size()));
        fields.emplace_back(QByteArrayView(p, name.size()),
                            QByteArrayView(p + name.size(), value.size()));
        p += name.size() + value.size();
    }
}

BodyFraming ResponseHead::framing(QByteArrayView requestMethod) const
{
    if (requestMethod == "HEAD" || status < 200 || status == 204 || status == 304)
        return BodyFraming::None;
    if (chunked)
        return BodyFraming::Chunked;
    if (otherCoding)
        return BodyFraming::UntilClose;
    if (contentLength >= 0)
        return BodyFraming::Length;
    return BodyFraming::UntilClose;
}

bool ResponseHead::keepAlive() const
{
    return !connectionClose && !otherCoding &&
           (chunked || contentLength >= 0 || status < 200 || status == 204 || status == 304);
}

bool isHopByHopField(QByteArrayView name)
{
    // One length test, then at most two comparisons: this runs for every field of every
    // proxied request and response.
    auto is = [&name](const char *candidate) {
        return equalsIgnoreCase(name, QByteArrayView(candidate));
    };
    switch (name.size()) {
    case 2:
        return is("te");
    case 7:
        return is("trailer") || is("upgrade");
    case 10:
        return is("connection") || is("keep-alive");
    case 14:
        return is("http2-settings");
    case 16:
        return is("proxy-connection");
    case 17:
        return is("transfer-encoding");
    case 18:
        return is("proxy-authenticate");
    case 19:
        return is("proxy-authorization");
    default:
        return false;
    }
}

namespace {

bool parseDigits(QByteArrayView text, qint64 *value)
{
    if (text.isEmpty() || text.size() > 18)
        return false;
    qint64 v = 0;
    for (char c : text) {
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *value = v;
    return true;
}

QByteArrayView trimmed(QByteArrayView v)
{
    while (!v.isEmpty() && (v.front() == ' ' || v.front() == '\t'))
        v = v.sliced(1);
    while (!v.isEmpty() && (v.back() == ' ' || v.back() == '\t'))
        v.chop(1);
    return v;
}

} // namespace

ResponseHeadParser::Status ResponseHeadParser::parse(QByteArrayView input, ResponseHead *head,
                                                     qsizetype *consumed)
{
    // The end of the head: line by line (memchr), each LF checked for its CR on the way, so a
    // bare LF, which would never complete the head, is refused as soon as it shows.
    const char *bytes = input.data();
    qsizetype lineStart = 0;
    qsizetype end = -1; // where the CRLF of the last field line starts (+4: the head's size)
    for (;;) {
        const void *found = std::memchr(bytes + lineStart, '\n', size_t(input.size() - lineStart));
        if (!found) {
            if (input.size() > m_maxBytes)
                return fail("response head too large");
            return Status::NeedMore;
        }
        const qsizetype lf = static_cast<const char *>(found) - bytes;
        if (lf == 0 || bytes[lf - 1] != '\r')
            return fail("bare LF in response head");
        if (lf - 1 == lineStart) { // the empty line
            if (lineStart == 0)
                return fail("bad status line");
            end = lineStart - 2;
            break;
        }
        lineStart = lf + 1;
        if (lineStart > m_maxBytes)
            return fail("response head too large");
    }
    if (end + 4 > m_maxBytes)
        return fail("response head too large");
    // Reset in place: the field vector keeps its capacity from one response to the next.
    head->status = 0;
    head->versionMinor = 1;
    head->fields.clear();
    head->contentLength = -1;
    head->chunked = head->otherCoding = head->connectionClose = false;
    // raw's buffer is reused too unless a copy of the last head still shares it.
    if (!head->raw.isDetached())
        head->raw = QByteArray();
    head->raw.resize(end + 4);
    std::memcpy(head->raw.data(), input.data(), size_t(end + 4));
    const QByteArrayView text = QByteArrayView(head->raw).first(end + 2); // lines with CRLF
    qsizetype pos = 0;
    bool first = true;
    bool haveLength = false;
    int transferCodings = 0;
    while (pos < text.size()) {
        const qsizetype lf = text.indexOf('\n', pos);
        if (lf < 1 || text[lf - 1] != '\r')
            return fail("bare LF in response head");
        const QByteArrayView line = text.sliced(pos, lf - 1 - pos);
        pos = lf + 1;
        if (first) {
            // A field line's name and value are checked against their character classes
            // below, which have no CR, LF or NUL; the status line's reason is checked here.
            for (char c : line) {
                if (c == '\r' || c == '\0' || c == '\n')
                    return fail("bare CR or NUL in response head");
            }
            first = false;
            // HTTP/1.x SP 3DIGIT SP reason
            if (line.size() < 12 || !line.startsWith("HTTP/1.") ||
                (line[7] != '0' && line[7] != '1') || line[8] != ' ')
                return fail("bad status line");
            head->versionMinor = line[7] - '0';
            qint64 status = 0;
            if (!parseDigits(line.sliced(9, 3), &status) || status < 100 || status > 599)
                return fail("bad status code");
            if (line.size() > 12 && line[12] != ' ')
                return fail("bad status line");
            head->status = int(status);
            continue;
        }
        if (line.front() == ' ' || line.front() == '\t')
            return fail("obs-fold in response head");
        const qsizetype colon = line.indexOf(':');
        if (colon <= 0 || !Http::isToken(line.first(colon)))
            return fail("bad field name in response head");
        const QByteArrayView name = line.first(colon);
        const QByteArrayView value = trimmed(line.sliced(colon + 1));
        for (char c : value) {
            if (!Http::CharClass::is(c, Http::CharClass::FieldValue))
                return fail("bad field value in response head");
        }
        // The sizes first: equalsIgnoreCase is a call, and most fields are none of these.
        if (name.size() == 14 && equalsIgnoreCase(name, "content-length")) {
            // "5, 5" is one length; anything else that disagrees is an error.
            qsizetype start = 0;
            while (start <= value.size()) {
                qsizetype comma = value.indexOf(',', start);
                if (comma < 0)
                    comma = value.size();
                qint64 length = 0;
                if (!parseDigits(trimmed(value.sliced(start, comma - start)), &length))
                    return fail("bad Content-Length in response");
                if (haveLength && length != head->contentLength)
                    return fail("conflicting Content-Length in response");
                haveLength = true;
                head->contentLength = length;
                start = comma + 1;
            }
        } else if (name.size() == 17 && equalsIgnoreCase(name, "transfer-encoding")) {
            ++transferCodings;
            // The last coding decides: chunked frames the body, anything else runs to close.
            QByteArrayView last = value;
            const qsizetype comma = value.lastIndexOf(',');
            if (comma >= 0)
                last = trimmed(value.sliced(comma + 1));
            head->chunked = equalsIgnoreCase(last, "chunked");
            head->otherCoding = !head->chunked;
        } else if (name.size() == 10 && equalsIgnoreCase(name, "connection")) {
            if (Http::listContainsToken(value, "close"))
                head->connectionClose = true;
        }
        head->fields.emplace_back(name, value);
    }
    if (first)
        return fail("empty response head");
    if (transferCodings > 1)
        return fail("several Transfer-Encoding fields in response");
    if (transferCodings && haveLength)
        return fail("Content-Length beside Transfer-Encoding in response");
    if (head->versionMinor == 0 &&
        !Http::listContainsToken(head->field("connection"), "keep-alive"))
        head->connectionClose = true;
    *consumed = end + 4;
    return Status::Done;
}

} // namespace Berth::Upstream
