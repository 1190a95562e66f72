#include "requestheadparser.h"

#include "bytescan.h"

#include <algorithm>
#include <cstring>
#include <limits>

// How the scanner works
//
// parse() is a resumable byte scanner over the request line and the field lines. Every check
// is decided at one byte offset, using only bytes at or before that offset (plus, for a CR,
// the byte after it). When the buffer ends before a decision can be made the scanner stores
// its state (offsets only, since the engine may reallocate its buffer between calls) and
// returns NeedMore; the next call resumes at the same byte. So feeding a request in any number
// of pieces gives exactly the same result, error status and reason as feeding it whole, each
// byte is examined once (no O(n^2) rescans of a slowly arriving 32 KiB head), and limits fire
// as soon as they are crossed, before the blank line, so memory stays bounded.
//
// Only when the blank line arrives is the RequestHead filled in (parseComplete): its views must
// point into the buffer of that very call. The framing checks (RFC 9112 §6) run then, because
// they need all fields.
//
// Nearly every request arrives whole, in one read, and is plain. parseWhole() is a one-pass
// parser for exactly that case (requestheadwhole.cpp): it accepts only a complete head that
// the scanner would accept too, fills the RequestHead while it goes, and gives up at the first
// byte that is unusual in any way (a limit near, a class it does not expect, a split head);
// then the scanner starts over from the first byte and decides. So the scanner alone defines
// every error and its reason, and parseWhole can only be faster, never different: the unit
// tests and the fuzz target compare a head fed whole (parseWhole) with the same head fed byte
// by byte (the scanner).

namespace Berth::Http {

namespace {

// RFC 9112 §2.2 asks servers to ignore "at least one" empty line before the request line;
// a peer that sends many is not an HTTP client.
constexpr int kMaxLeadingEmptyLines = 8;
// "HTTP/" DIGIT "." DIGIT (RFC 9112 §2.3); '#' stands for a digit.
constexpr char kVersionPattern[] = "HTTP/#.#";
constexpr qsizetype kVersionBytes = 8;

using ByteScan::addClamped;
using ByteScan::isDigit;

bool startsWithIgnoreCase(QByteArrayView v, QByteArrayView prefix)
{
    return v.size() >= prefix.size() && equalsIgnoreCase(v.first(prefix.size()), prefix);
}

} // namespace

RequestHeadParser::RequestHeadParser(const HeadLimits &limits)
    : m_limits(limits)
{}

RequestHeadParser::Status RequestHeadParser::fail(int status, const char *reason)
{
    m_state = State::Error;
    m_errorStatus = status;
    m_errorReason = reason;
    m_consumed = 0;
    return Status::Error;
}

RequestHeadParser::Status RequestHeadParser::parse(QByteArrayView buffer, RequestHead &head)
{
    switch (m_state) {
    case State::Done:
        // Called again after Done: refill from this buffer, which must hold the same head.
        if (buffer.size() < m_consumed)
            return fail(400, "buffer shrank after the head was parsed");
        return parseComplete(buffer, head);
    case State::Error:
        return Status::Error;
    case State::EmptyClose:
        return Status::EmptyClose;
    case State::Leading:
        if (m_scanned == 0 && m_emptyLines == 0) {
            Status status;
            if (parseWhole(buffer, head, &status))
                return status;
        }
        break;
    default:
        break;
    }
    if (buffer.size() < m_scanned) {
        // Not the contract (the buffer only ever grows), but never read past the end: start
        // over on what we were given.
        reset();
    }

    const char *b = buffer.data();
    const qsizetype n = buffer.size();
    qsizetype p = m_scanned;
    const auto needMore = [&] {
        m_scanned = p;
        return Status::NeedMore;
    };
    const auto tooLarge = [&] { return fail(431, "header section too large"); };

    while (p < n) {
        switch (m_state) {
        case State::Leading: {
            // RFC 9112 §2.2: ignore empty lines before the request line. A lone CR or LF is not
            // an empty line (CRLF is the only line terminator Berth accepts).
            if (b[p] == '\r') {
                if (p + 1 == n)
                    return needMore();
                if (b[p + 1] != '\n')
                    return fail(400, "bare CR before the request line");
                p += 2;
                if (++m_emptyLines > kMaxLeadingEmptyLines) {
                    m_state = State::EmptyClose;
                    m_scanned = p;
                    return Status::EmptyClose;
                }
                break;
            }
            if (b[p] == '\n')
                return fail(400, "bare LF before the request line");
            m_headStart = p;
            m_totalLimitEnd = addClamped(p, m_limits.maxHeaderBytes);
            m_state = State::Method;
            break;
        }

        case State::Method: {
            // method = token (RFC 9112 §3.1), followed by exactly one SP.
            const qsizetype stop = std::min(n, m_totalLimitEnd);
            while (p < stop && CharClass::is(b[p], CharClass::Token)) {
                if (p - m_headStart >= MaxMethodBytes)
                    return fail(400, "method too long");
                ++p;
            }
            if (p == n)
                return needMore();
            if (p >= m_totalLimitEnd)
                return tooLarge();
            if (b[p] != ' ')
                return fail(400, "invalid byte in method");
            if (p == m_headStart)
                return fail(400, "empty method");
            m_methodEnd = p;
            m_targetStart = ++p;
            m_state = State::Target;
            break;
        }

        case State::Target: {
            // The limit is checked byte by byte, so a 70 KiB target is refused as soon as its
            // maxUriBytes+1st byte arrives (HOSTILE-INPUTS 18).
            const qsizetype stop =
                std::min({n, m_totalLimitEnd, addClamped(m_targetStart, m_limits.maxUriBytes)});
            while (p < stop && CharClass::is(b[p], CharClass::Target))
                ++p;
            if (p == n)
                return needMore();
            if (p >= m_totalLimitEnd)
                return tooLarge();
            const char c = b[p];
            if (c == ' ') {
                if (p == m_targetStart)
                    return fail(400, "empty request-target");
                m_targetEnd = p;
                m_versionStart = ++p;
                m_state = State::Version;
                break;
            }
            if (CharClass::is(c, CharClass::Target))
                return fail(414, "request-target too long");
            if (c == '#')
                return fail(400, "fragment in request-target");
            if (c == '\r' || c == '\n')
                return fail(400, "request line without HTTP version");
            return fail(400, "invalid byte in request-target");
        }

        case State::Version: {
            // Exactly "HTTP/" DIGIT "." DIGIT then CRLF; no longest-prefix matching, so
            // "HTTP/1.10" or "HTTP/1.1x" never passes as HTTP/1.1 (HTTP Garden #5/#6).
            if (p >= m_totalLimitEnd)
                return tooLarge();
            const qsizetype i = p - m_versionStart;
            const char c = b[p];
            if (i < kVersionBytes) {
                const char want = kVersionPattern[i];
                if (want == '#' ? !isDigit(c) : c != want)
                    return fail(400, "malformed HTTP version");
                ++p;
                break;
            }
            if (c == '\n')
                return fail(400, "bare LF after the request line");
            if (c != '\r')
                return fail(400, "malformed HTTP version");
            if (p + 1 == n)
                return needMore();
            if (b[p + 1] != '\n')
                return fail(400, "bare CR after the request line");
            if (p + 1 >= m_totalLimitEnd)
                return tooLarge();
            if (!finishRequestLine(b))
                return Status::Error;
            p += 2;
            m_fieldsStart = p;
            m_state = State::FieldStart;
            break;
        }

        case State::FieldStart: {
            if (p >= m_totalLimitEnd)
                return tooLarge();
            const char c = b[p];
            if (c == '\r') {
                if (p + 1 == n)
                    return needMore();
                if (b[p + 1] != '\n')
                    return fail(400, "bare CR in the header section");
                if (p + 1 >= m_totalLimitEnd)
                    return tooLarge();
                m_scanned = p + 2;
                m_consumed = p + 2;
                m_state = State::Done;
                return parseComplete(buffer, head);
            }
            if (c == '\n')
                return fail(400, "bare LF in the header section");
            if (c == ' ' || c == '\t') {
                // RFC 9112 §5.2: obs-fold may be rejected with 400; unfolding instead would
                // let "Transfer-Encoding:\r\n chunked" mean different things to different hops.
                // RFC 9112 §2.2: whitespace before the first field must be rejected too.
                return fail(400, m_fieldCount == 0 ? "whitespace before the first header field"
                                                   : "obs-fold in the header section");
            }
            if (++m_fieldCount > m_limits.maxHeaders)
                return fail(431, "too many header fields");
            m_lineStart = p;
            m_state = State::FieldName;
            break;
        }

        case State::FieldName: {
            const qsizetype lineLimitEnd = addClamped(m_lineStart, m_limits.maxFieldBytes);
            const qsizetype stop = std::min({n, m_totalLimitEnd, lineLimitEnd});
            while (p < stop && CharClass::is(b[p], CharClass::Token))
                ++p;
            if (p == n)
                return needMore();
            if (p >= m_totalLimitEnd)
                return tooLarge();
            const char c = b[p];
            if (c == ':') {
                if (p == m_lineStart)
                    return fail(400, "empty field name");
                if (p >= lineLimitEnd)
                    return fail(431, "header field too large");
                ++p;
                m_state = State::FieldValue;
                break;
            }
            if (CharClass::is(c, CharClass::Token))
                return fail(431, "header field too large");
            // RFC 9112 §5.1: whitespace between the name and the colon MUST be rejected.
            if (c == ' ' || c == '\t')
                return fail(400, "whitespace before colon");
            if (c == '\r' || c == '\n')
                return fail(400, "header field without colon");
            return fail(400, "invalid byte in field name");
        }

        case State::FieldValue: {
            // RFC 9110 §5.5: field-vchar, SP, HTAB and obs-text. CR, LF and NUL inside a value
            // are rejected, never replaced or truncated at (HTTP Garden #2/#8/#12).
            const qsizetype lineLimitEnd = addClamped(m_lineStart, m_limits.maxFieldBytes);
            const qsizetype stop = std::min({n, m_totalLimitEnd, lineLimitEnd});
            while (p < stop && CharClass::is(b[p], CharClass::FieldValue))
                ++p;
            if (p == n)
                return needMore();
            if (p >= m_totalLimitEnd)
                return tooLarge();
            const char c = b[p];
            if (c == '\r') {
                if (p + 1 == n)
                    return needMore();
                // RFC 9112 §2.2: a CR not followed by LF is never a line end.
                if (b[p + 1] != '\n')
                    return fail(400, "bare CR in field value");
                if (p + 1 >= m_totalLimitEnd)
                    return tooLarge();
                p += 2;
                m_state = State::FieldStart;
                break;
            }
            if (CharClass::is(c, CharClass::FieldValue))
                return fail(431, "header field too large");
            if (c == '\n')
                return fail(400, "bare LF in field value");
            if (c == '\0')
                return fail(400, "NUL in field value");
            return fail(400, "control character in field value");
        }

        case State::Done:
        case State::Error:
        case State::EmptyClose:
            return Status::Error; // unreachable: handled before the loop
        }
    }
    return needMore();
}

// Classifies the request-target (RFC 9112 §3.2) once the request line is complete, and
// checks the version number. Records offsets; parseComplete() turns them into views.
bool RequestHeadParser::finishRequestLine(const char *buffer)
{
    const QByteArrayView method(buffer + m_headStart, m_methodEnd - m_headStart);
    const QByteArrayView target(buffer + m_targetStart, m_targetEnd - m_targetStart);
    m_authorityStart = m_authoritySize = 0;
    m_queryStart = m_querySize = 0;

    // Splits "path?query" starting at offset `from` (absolute offsets into the buffer).
    const auto splitPathQuery = [&](qsizetype from) {
        const QByteArrayView rest(buffer + from, m_targetEnd - from);
        const char *q = static_cast<const char *>(std::memchr(rest.data(), '?', rest.size()));
        const qsizetype pathEnd = q ? q - buffer : m_targetEnd;
        m_pathStart = from;
        m_pathSize = pathEnd - from;
        if (q) {
            m_queryStart = pathEnd + 1;
            m_querySize = m_targetEnd - m_queryStart;
        }
    };

    if (target == "*") {
        // asterisk-form is only for a server-wide OPTIONS (RFC 9112 §3.2.4).
        if (method != "OPTIONS") {
            fail(400, "asterisk-form without OPTIONS");
            return false;
        }
        m_pathStart = m_targetStart;
        m_pathSize = 1;
    } else if (method == "CONNECT") {
        // authority-form = uri-host ":" port, and only for CONNECT (RFC 9112 §3.2.3). The
        // engine answers 405: Berth does not tunnel.
        if (!isValidHostPort(target, false, true)) {
            fail(400, "CONNECT without authority-form target");
            return false;
        }
        m_pathStart = m_targetStart;
        m_pathSize = 0;
    } else if (target.front() == '/') {
        splitPathQuery(m_targetStart); // origin-form (RFC 9112 §3.2.1)
    } else {
        // absolute-form (RFC 9112 §3.2.2). Only http and https: Berth is not a forward proxy
        // for other schemes. Scheme names are case-insensitive (RFC 3986 §3.1).
        qsizetype schemeSize = 0;
        if (startsWithIgnoreCase(target, "http://"))
            schemeSize = 7;
        else if (startsWithIgnoreCase(target, "https://"))
            schemeSize = 8;
        if (schemeSize == 0) {
            fail(400, "invalid request-target");
            return false;
        }
        const qsizetype authStart = m_targetStart + schemeSize;
        qsizetype authEnd = authStart;
        while (authEnd < m_targetEnd && buffer[authEnd] != '/' && buffer[authEnd] != '?')
            ++authEnd;
        const QByteArrayView authority(buffer + authStart, authEnd - authStart);
        // RFC 9110 §4.2.4: userinfo in an http(s) URI is an error (it hides the real host from
        // a quick reader, "http://trusted@evil/"). §4.2.1: an empty host is invalid.
        if (authority.contains('@')) {
            fail(400, "userinfo in request-target");
            return false;
        }
        if (!isValidHostPort(authority, false, false)) {
            fail(400, "invalid authority in request-target");
            return false;
        }
        m_authorityStart = authStart;
        m_authoritySize = authEnd - authStart;
        if (authEnd < m_targetEnd && buffer[authEnd] == '/') {
            splitPathQuery(authEnd);
        } else {
            // No path means "/" (RFC 9110 §4.2.3). Point at the second '/' of "://" so that
            // this view, like every other, lies inside the buffer: the engine moves a head to
            // its own storage by rebasing the views.
            m_pathStart = authStart - 1;
            m_pathSize = 1;
            if (authEnd < m_targetEnd) { // '?'
                m_queryStart = authEnd + 1;
                m_querySize = m_targetEnd - m_queryStart;
            }
        }
    }

    // The syntax was checked while scanning; "HTTP/2.0" or "HTTP/1.2" is well-formed but not a
    // version we speak: 505 (RFC 9110 §15.6.6).
    const int major = buffer[m_versionStart + 5] - '0';
    const int minor = buffer[m_versionStart + 7] - '0';
    if (major != 1 || minor > 1) {
        fail(505, "HTTP version not supported");
        return false;
    }
    m_versionMinor = minor;
    return true;
}

} // namespace Berth::Http
