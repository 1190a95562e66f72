#include "bytescan.h"
#include "requestheadparser.h"

#include <algorithm>
#include <cstring>
#include <limits>

// The completed head: the one-pass parser for a head that arrived whole (parseWhole) and the
// framing rules both parsers end with (FramingFacts, deriveFraming). The resumable scanner is
// requestheadparser.cpp; its comment says how the two relate.

namespace Berth::Http {

namespace {

using ByteScan::addClamped;
using ByteScan::isDigit;

// Content-Length = 1*DIGIT (RFC 9110 §8.6). No sign, no whitespace inside, no list. 18 digits
// always fit in a qint64, so more are rejected rather than risk an overflow.
qint64 parseContentLength(QByteArrayView v)
{
    if (v.isEmpty() || v.size() > 18)
        return -1;
    qint64 value = 0;
    for (char c : v) {
        if (!isDigit(c))
            return -1;
        value = value * 10 + (c - '0');
    }
    return value;
}

// The first byte in [p, stop) that is not of the class, eight bytes at a time while none is
// suspect; words may be read up to readEnd (>= stop). `suspect` flags (ByteScan style) every
// byte outside the class and maybe some inside it (HTAB for field values): from the first
// flagged byte on, the table decides byte by byte.
template <typename Suspect>
inline const char *skipClass(const char *p, const char *stop, const char *readEnd, quint8 cls,
                             Suspect suspect)
{
#if Q_BYTE_ORDER == Q_LITTLE_ENDIAN
    while (readEnd - p >= 8 && p < stop) {
        if (const quint64 flagged = suspect(ByteScan::load64(p))) {
            p += ByteScan::firstFlagged(flagged);
            break;
        }
        p += 8;
    }
    if (p >= stop)
        return stop;
#else
    Q_UNUSED(suspect);
    Q_UNUSED(readEnd);
#endif
    while (p < stop && CharClass::is(*p, cls))
        ++p;
    return p;
}

// field-value bytes: not a control byte (HTAB is, and is checked byte-wise), not DEL.
inline const char *skipFieldValue(const char *p, const char *stop, const char *readEnd)
{
    using namespace ByteScan;
    return skipClass(p, stop, readEnd, CharClass::FieldValue,
                     [](quint64 w) { return bytesBelow(w, 0x20) | bytesEqual(w, 0x7f); });
}

// request-target bytes: VCHAR except '#'.
inline const char *skipTarget(const char *p, const char *stop, const char *readEnd)
{
    using namespace ByteScan;
    return skipClass(p, stop, readEnd, CharClass::Target, [](quint64 w) {
        return bytesBelow(w, 0x21) | (w & kHigh) | bytesEqual(w, 0x7f) | bytesEqual(w, '#');
    });
}

inline const char *skipToken(const char *p, const char *end)
{
    while (p < end && CharClass::is(*p, CharClass::Token))
        ++p;
    return p;
}

// The first '?' of a request-target [p, end), or end. The head goes on for at least eight
// bytes after a target (" HTTP/1.1\r\n"), so whole words can be read up to end.
inline const char *findQuestionMark(const char *p, const char *end)
{
#if Q_BYTE_ORDER == Q_LITTLE_ENDIAN
    for (; p < end; p += 8) {
        if (const quint64 found = ByteScan::bytesEqual(ByteScan::load64(p), '?')) {
            p += ByteScan::firstFlagged(found);
            return p < end ? p : end;
        }
    }
    return end;
#else
    while (p < end && *p != '?')
        ++p;
    return p;
#endif
}

// The Connection options the framing needs, in one pass over the list (the same elements,
// trimmed and compared whole, as listContainsToken).
void noteConnectionOptions(QByteArrayView value, bool &close, bool &keepAlive, bool &upgrade)
{
    const char *p = value.data();
    const char *const end = p + value.size();
    for (;;) {
        const char *comma = std::find(p, end, ',');
        const QByteArrayView option = trimOws(QByteArrayView(p, comma - p));
        switch (option.size()) {
        case 5:
            close |= equalsIgnoreCase(option, "close");
            break;
        case 7:
            upgrade |= equalsIgnoreCase(option, "upgrade");
            break;
        case 10:
            keepAlive |= equalsIgnoreCase(option, "keep-alive");
            break;
        default:
            break;
        }
        if (comma == end)
            break;
        p = comma + 1;
    }
}

} // namespace

Q_ALWAYS_INLINE void RequestHeadParser::FramingFacts::note(QByteArrayView name,
                                                           QByteArrayView value)
{
    // Known names by length, then one word compare: most fields are none of these.
    const char *n = name.data();
    switch (name.size()) {
    case 4:
        if (ByteScan::tokenIs(n, "host")) {
            ++hostCount;
            host = value;
        }
        break;
    case 6:
        if (ByteScan::tokenIs(n, "expect")) {
            if (equalsIgnoreCase(value, "100-continue"))
                expect100 = true;
            else
                badExpectation = true;
        }
        break;
    case 7:
        if (ByteScan::tokenIs(n, "upgrade"))
            hasUpgrade = true;
        break;
    case 10:
        if (ByteScan::tokenIs(n, "connection"))
            noteConnectionOptions(value, connectionClose, connectionKeepAlive, connectionUpgrade);
        break;
    case 14:
        if (ByteScan::tokenIs(n, "content-length")) {
            ++contentLengthCount;
            contentLength = value;
        }
        break;
    case 17:
        if (ByteScan::tokenIs(n, "transfer-encoding")) {
            ++transferEncodingCount;
            transferEncoding = value;
        }
        break;
    default:
        break;
    }
}

// Fills `out` with views into `buffer` (the caller's buffer of this call) and derives framing.
// Every byte was validated by the scanner, so this only splits.
RequestHeadParser::Status RequestHeadParser::parseComplete(QByteArrayView buffer, RequestHead &out)
{
    const char *b = buffer.data();
    fillRequestLine(b, out);

    FramingFacts facts;
    const qsizetype end = m_consumed - 2; // the final empty line
    qsizetype p = m_fieldsStart;
    while (p < end) {
        const char *line = b + p;
        const char *cr = static_cast<const char *>(std::memchr(line, '\r', end - p));
        const char *colon = static_cast<const char *>(std::memchr(line, ':', cr - line));
        const HeaderField field{QByteArrayView(line, colon),
                                trimOws(QByteArrayView(colon + 1, cr - colon - 1))};
        out.fields.push_back(field);
        facts.note(field.name, field.value);
        p = cr - b + 2;
    }

    if (!deriveFraming(out, facts))
        return Status::Error;
    return Status::Done;
}

// The views of the request line, after the scanner or parseWhole() recorded its offsets.
Q_ALWAYS_INLINE void RequestHeadParser::fillRequestLine(const char *b, RequestHead &out)
{
    out.clear();
    if (out.fields.capacity() < 32)
        out.fields.reserve(32);
    out.method = QByteArrayView(b + m_headStart, m_methodEnd - m_headStart);
    out.target = QByteArrayView(b + m_targetStart, m_targetEnd - m_targetStart);
    out.path = QByteArrayView(b + m_pathStart, m_pathSize);
    out.query = QByteArrayView(b + m_queryStart, m_querySize);
    out.authority = QByteArrayView(b + m_authorityStart, m_authoritySize);
    m_framing = Http1Framing();
    m_framing.versionMinor = m_versionMinor;
}

// Returns false, with `out` cleared and the parser's state as it was, when the head is not
// complete in `buffer` or anything in it is unusual; the scanner then decides. Returns true
// with *status Done, or Error from a check the scanner shares (finishRequestLine,
// deriveFraming) and would make on the same bytes at the same point.
// Flattened: the field vector's push_back and the helpers inline into the one loop.
[[gnu::flatten]] bool RequestHeadParser::parseWhole(QByteArrayView buffer, RequestHead &out,
                                                    Status *status)
{
    const char *const b = buffer.data();
    // Every byte looked at lies below `end`, so the whole head, its final CRLF included, fits
    // in maxHeaderBytes and no "too large" can apply.
    const qsizetype end = std::min(buffer.size(), m_limits.maxHeaderBytes);

    // method SP: no leading empty line, 1 to MaxMethodBytes tchar.
    const char *p = skipToken(b, b + std::min(end, MaxMethodBytes + 1));
    qsizetype at = p - b;
    if (at == 0 || at > MaxMethodBytes || at >= end || *p != ' ')
        return false;
    const qsizetype methodEnd = at;
    const qsizetype targetStart = at + 1;

    // request-target SP, at most maxUriBytes.
    const char *const readEnd = b + buffer.size();
    p = skipTarget(b + targetStart,
                   b + std::min(end, addClamped(targetStart, m_limits.maxUriBytes)), readEnd);
    at = p - b;
    if (at == targetStart || at >= end || *p != ' ')
        return false;
    const qsizetype targetEnd = at;
    const qsizetype versionStart = at + 1;

    // "HTTP/1.1" or "HTTP/1.0", CRLF. Other versions (505, malformed) are the scanner's.
    if (end - versionStart < 10)
        return false;
    const quint64 version = ByteScan::load64(b + versionStart);
    if ((version != ByteScan::load64("HTTP/1.1") && version != ByteScan::load64("HTTP/1.0")) ||
        ByteScan::load16(b + versionStart + 8) != ByteScan::load16("\r\n"))
        return false;
    m_headStart = 0;
    m_methodEnd = methodEnd;
    m_targetStart = targetStart;
    m_targetEnd = targetEnd;
    m_versionStart = versionStart;
    if (b[targetStart] == '/' && !(methodEnd == 7 && ByteScan::sameBytes(b, "CONNECT", 7))) {
        // origin-form, as finishRequestLine() splits it, with the version known to be good.
        const char *const q = findQuestionMark(b + targetStart, b + targetEnd);
        m_pathStart = targetStart;
        m_pathSize = q - (b + targetStart);
        m_queryStart = q == b + targetEnd ? 0 : q + 1 - b;
        m_querySize = q == b + targetEnd ? 0 : targetEnd - m_queryStart;
        m_authorityStart = m_authoritySize = 0;
        m_versionMinor = b[versionStart + 7] - '0';
    } else if (!finishRequestLine(b)) {
        *status = Status::Error; // the scanner fails here too, with the same status and reason
        return true;
    }
    m_fieldsStart = versionStart + 10;
    fillRequestLine(b, out);

    // field-name ":" OWS field-value OWS CRLF, then the empty line.
    FramingFacts facts;
    int fieldCount = 0;
    at = m_fieldsStart;
    for (;;) {
        if (at + 1 >= end)
            break; // no room for a CRLF: the head is incomplete or too large
        if (b[at] == '\r') {
            if (b[at + 1] != '\n')
                break;
            m_consumed = m_scanned = at + 2;
            m_fieldCount = fieldCount;
            m_state = State::Done;
            *status = deriveFraming(out, facts) ? Status::Done : Status::Error;
            return true;
        }
        if (++fieldCount > m_limits.maxHeaders)
            break;
        const qsizetype lineStart = at;
        // The line's CR may sit at lineEnd at most (as in the scanner: maxFieldBytes before it).
        const qsizetype lineEnd = std::min(end, addClamped(lineStart, m_limits.maxFieldBytes));
        p = skipToken(b + lineStart, b + lineEnd);
        if (p == b + lineStart || p == b + lineEnd || *p != ':')
            break;
        const char *const colon = p;
        const char *const cr = skipFieldValue(colon + 1, b + lineEnd, readEnd);
        at = cr - b;
        if (at + 1 >= end || cr[0] != '\r' || cr[1] != '\n')
            break;
        const HeaderField field{QByteArrayView(b + lineStart, colon),
                                trimOws(QByteArrayView(colon + 1, cr))};
        out.fields.push_back(field);
        facts.note(field.name, field.value);
        at += 2;
    }
    out.clear(); // no view into a buffer that may move before the scanner is done
    return false;
}

// RFC 9112 §6.1, §6.3, §9.3 and RFC 9110 §7.2, §10.1.1: the facts the engine frames the
// message by. Every ambiguity is an error: a front end that guesses differently from the
// next hop is how requests get smuggled (HOSTILE-INPUTS 1-6, 12).
bool RequestHeadParser::deriveFraming(RequestHead &head, const FramingFacts &facts)
{
    const bool http11 = m_framing.isHttp11();

    // RFC 9112 §3.2: 400 for a missing Host in HTTP/1.1, for more than one, or an invalid one.
    // An empty Host is valid (a URI without authority).
    if (facts.hostCount > 1) {
        fail(400, "duplicate Host");
        return false;
    }
    if (facts.hostCount == 0 && http11) {
        fail(400, "missing Host");
        return false;
    }
    if (facts.hostCount == 1 && !isValidHostPort(facts.host, true, false)) {
        fail(400, "invalid Host");
        return false;
    }

    // nginx rejects any repeated Content-Length, equal or not; so does Berth (RFC 9110 §8.6
    // allows merging identical ones, but HTTP Garden #23/#33 show what picking one leads to).
    if (facts.contentLengthCount > 1) {
        fail(400, "duplicate Content-Length");
        return false;
    }
    if (facts.transferEncodingCount > 1) {
        fail(400, "duplicate Transfer-Encoding");
        return false;
    }
    // RFC 9112 §6.1: a server MAY reject CL+TE as a likely smuggling attempt, and then must
    // close. Berth always does (CL.TE and TE.CL, HOSTILE-INPUTS 1-2).
    if (facts.contentLengthCount && facts.transferEncodingCount) {
        fail(400, "both Content-Length and Transfer-Encoding");
        return false;
    }
    // RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0 means the framing is faulty.
    if (facts.transferEncodingCount && !http11) {
        fail(400, "Transfer-Encoding in HTTP/1.0");
        return false;
    }
    if (facts.contentLengthCount) {
        head.contentLength = parseContentLength(facts.contentLength);
        if (head.contentLength < 0) {
            fail(400, "invalid Content-Length");
            return false;
        }
    }
    if (facts.transferEncodingCount) {
        // transfer-coding list (RFC 9112 §6.1, §7). Syntax and placement errors are 400;
        // well-formed codings other than chunked are 501 (we decode none of them).
        const QByteArrayView transferEncoding = facts.transferEncoding;
        int chunkedCount = 0;
        bool chunkedLast = false;
        bool otherCoding = false;
        qsizetype i = 0;
        const qsizetype n = transferEncoding.size();
        while (i <= n) {
            const char *comma = static_cast<const char *>(
                i < n ? std::memchr(transferEncoding.data() + i, ',', n - i) : nullptr);
            const qsizetype end = comma ? comma - transferEncoding.data() : n;
            const QByteArrayView coding = trimOws(transferEncoding.sliced(i, end - i));
            // Empty elements (",chunked") and parameters ("chunked;x=y") are not tolerated.
            if (!isToken(coding)) {
                fail(400, "malformed Transfer-Encoding");
                return false;
            }
            if (equalsIgnoreCase(coding, "chunked")) {
                ++chunkedCount;
                chunkedLast = true;
            } else {
                otherCoding = true;
                chunkedLast = false;
            }
            i = end + 1;
        }
        if (chunkedCount > 1) {
            fail(400, "chunked applied more than once");
            return false;
        }
        // RFC 9112 §6.3 item 4: chunked must be the final coding of a request.
        if (chunkedCount == 1 && !chunkedLast) {
            fail(400, "chunked is not the final transfer-coding");
            return false;
        }
        // RFC 9112 §6.1: a coding we do not understand gets 501.
        if (otherCoding) {
            fail(501, "unsupported transfer-coding");
            return false;
        }
        m_framing.chunked = true;
        head.bodyFollows = true;
    }
    // RFC 9110 §10.1.1: an expectation other than 100-continue cannot be met: 417.
    if (facts.badExpectation) {
        fail(417, "unsupported expectation");
        return false;
    }

    // RFC 9112 §3.2.2: the authority of an absolute-form target wins over Host.
    head.host = head.authority.isEmpty() ? facts.host : head.authority;
    // RFC 9112 §9.3: persistent by default in 1.1; in 1.0 only with keep-alive.
    m_framing.keepAlive =
        http11 ? !facts.connectionClose : (facts.connectionKeepAlive && !facts.connectionClose);
    // RFC 9110 §10.1.1: ignore 100-continue in HTTP/1.0; §7.8: ignore Upgrade in HTTP/1.0.
    m_framing.expectContinue = http11 && facts.expect100;
    m_framing.upgrade = http11 && facts.connectionUpgrade && facts.hasUpgrade;
    return true;
}

} // namespace Berth::Http
