#include "chunkeddecoder.h"

#include "formencoding.h"

#include "requesthead.h"

#include <algorithm>
#include <limits>

// A byte-at-a-time state machine for the framing bytes and a bulk span for chunk data. All
// input is consumed on NeedMore, so partial lines live in the state (digits read so far,
// which part of an extension we are in), never in a buffer: memory is constant whatever the
// peer sends. A CR is always followed by an "expect LF" state, so a bare CR anywhere in the
// framing is an error (RFC 9112 §2.2).

namespace Berth::Http {

namespace {

// The chunk-ext grammar has no limit; 4 KiB is far more than any real client sends and keeps
// a peer from making us scan megabytes of "extension" per chunk.
constexpr qsizetype kMaxExtensionBytes = 4 * 1024;
// RFC 9112 §7.1: "anticipate potentially large hexadecimal numerals". 16 hex digits is 64 bits;
// anything longer is refused before it can overflow.
constexpr int kMaxSizeDigits = 16;

} // namespace

ChunkedDecoder::ChunkedDecoder(qint64 maxBodyBytes, qsizetype maxTrailerBytes)
    : m_maxBody(maxBodyBytes)
    , m_maxTrailer(maxTrailerBytes)
{}

void ChunkedDecoder::reset(qint64 maxBodyBytes)
{
    *this = ChunkedDecoder(maxBodyBytes, m_maxTrailer);
}

ChunkedDecoder::Status ChunkedDecoder::fail(const char *reason)
{
    m_state = State::Error;
    m_errorReason = reason;
    m_data = {};
    return Status::Error;
}

ChunkedDecoder::Status ChunkedDecoder::tooLarge(const char *reason)
{
    m_state = State::TooLarge;
    m_errorReason = reason;
    m_data = {};
    return Status::TooLarge;
}

ChunkedDecoder::Status ChunkedDecoder::decode(QByteArrayView input)
{
    m_data = {};
    m_consumed = 0;
    switch (m_state) {
    case State::Done:
        return Status::Done;
    case State::Error:
        return Status::Error;
    case State::TooLarge:
        return Status::TooLarge;
    default:
        break;
    }

    const char *b = input.data();
    const qsizetype n = input.size();
    qsizetype p = 0;
    // Framing errors report the bytes consumed up to (not including) the offending one.
    const auto failAt = [&](const char *reason) {
        m_consumed = p;
        return fail(reason);
    };

    while (p < n) {
        if (m_state == State::Data) {
            const qint64 take = std::min<qint64>(m_chunkRemaining, n - p);
            m_data = QByteArrayView(b + p, take);
            p += take;
            m_chunkRemaining -= take;
            m_total += take;
            if (m_chunkRemaining == 0)
                m_state = State::DataCr;
            m_consumed = p;
            return Status::Data;
        }

        const char c = b[p];
        switch (m_state) {
        case State::Size: {
            const int digit = hexDigitValue(c);
            if (digit >= 0) {
                if (m_digits == kMaxSizeDigits)
                    return failAt("chunk size has more than 16 digits");
                ++m_digits;
                m_chunkSize = m_chunkSize * 16 + quint64(digit);
                // Announce-time checks: refuse before a single data byte is read.
                if (m_chunkSize > quint64(std::numeric_limits<qint64>::max() - m_total)) {
                    m_consumed = p;
                    return tooLarge("chunk size overflows");
                }
                if (m_maxBody >= 0 && qint64(m_chunkSize) > m_maxBody - m_total) {
                    m_consumed = p;
                    return tooLarge("chunked body too large");
                }
                break;
            }
            // No whitespace, sign or "0x" (RFC 9112 §7.1 chunk-size = 1*HEXDIG): accepting
            // them is how HTTP Garden #1/#17/#22 smuggled requests.
            if (m_digits == 0)
                return failAt("missing chunk size");
            if (c == ';') {
                m_lineBytes = 1;
                m_state = State::ExtName;
            } else if (c == '\r') {
                m_state = State::SizeLf;
            } else {
                return failAt("invalid byte after chunk size");
            }
            break;
        }

        // chunk-ext = *( ";" ext-name [ "=" ext-val ] ), ext-val = token / quoted-string
        // (RFC 9112 §7.1.1). Berth takes no BWS around ';' and '=': strict is safer and no
        // client it knows sends any.
        case State::ExtName:
        case State::ExtNameMore:
        case State::ExtValueStart:
        case State::ExtToken:
        case State::ExtQuoted:
        case State::ExtQuotedPair:
        case State::ExtAfterQuoted: {
            // The size line's CR is not part of the extension.
            if (c != '\r' && ++m_lineBytes > kMaxExtensionBytes)
                return failAt("chunk extension too long");
            const bool tchar = CharClass::is(c, CharClass::Token);
            switch (m_state) {
            case State::ExtName:
                if (!tchar)
                    return failAt("invalid chunk extension name");
                m_state = State::ExtNameMore;
                break;
            case State::ExtNameMore:
            case State::ExtToken:
                if (tchar)
                    break;
                if (c == '=' && m_state == State::ExtNameMore)
                    m_state = State::ExtValueStart;
                else if (c == ';')
                    m_state = State::ExtName;
                else if (c == '\r')
                    m_state = State::SizeLf;
                else
                    return failAt("invalid byte in chunk extension");
                break;
            case State::ExtValueStart:
                if (tchar)
                    m_state = State::ExtToken;
                else if (c == '"')
                    m_state = State::ExtQuoted;
                else
                    return failAt("invalid chunk extension value");
                break;
            case State::ExtQuoted:
                if (c == '"')
                    m_state = State::ExtAfterQuoted;
                else if (c == '\\')
                    m_state = State::ExtQuotedPair;
                else if (!CharClass::is(c, CharClass::QuotedText))
                    return failAt("invalid byte in quoted chunk extension");
                break;
            case State::ExtQuotedPair:
                // quoted-pair = "\" ( HTAB / SP / VCHAR / obs-text ): the field-value class.
                if (!CharClass::is(c, CharClass::FieldValue))
                    return failAt("invalid quoted-pair in chunk extension");
                m_state = State::ExtQuoted;
                break;
            case State::ExtAfterQuoted:
                if (c == ';')
                    m_state = State::ExtName;
                else if (c == '\r')
                    m_state = State::SizeLf;
                else
                    return failAt("invalid byte after quoted chunk extension");
                break;
            default:
                break;
            }
            break;
        }

        case State::SizeLf:
            if (c != '\n')
                return failAt("bare CR in chunk-size line");
            if (m_chunkSize == 0) {
                m_lineBytes = 0;
                m_state = State::TrailerStart;
            } else {
                m_chunkRemaining = qint64(m_chunkSize);
                m_state = State::Data;
            }
            break;

        case State::DataCr:
            // The data must be followed by exactly CRLF: a longer or shorter chunk than its
            // size announced lands here (HOSTILE-INPUTS 7).
            if (c != '\r')
                return failAt("missing CRLF after chunk data");
            m_state = State::DataLf;
            break;

        case State::DataLf:
            if (c != '\n')
                return failAt("missing CRLF after chunk data");
            m_chunkSize = 0;
            m_digits = 0;
            m_state = State::Size;
            break;

        // trailer-section = *( field-line CRLF ), validated like header fields and dropped
        // (RFC 9112 §7.1.2: nothing in a trailer may change the framing or routing).
        case State::TrailerStart:
        case State::TrailerName:
        case State::TrailerValue:
        case State::TrailerLf: {
            if (m_state == State::TrailerStart && c == '\r') {
                m_state = State::FinalLf;
                break;
            }
            if (++m_lineBytes > m_maxTrailer)
                return failAt("trailer section too large");
            switch (m_state) {
            case State::TrailerStart:
                if (c == ' ' || c == '\t')
                    return failAt("obs-fold in trailer section");
                if (!CharClass::is(c, CharClass::Token))
                    return failAt("invalid trailer field name");
                m_state = State::TrailerName;
                break;
            case State::TrailerName:
                if (c == ':')
                    m_state = State::TrailerValue;
                else if (!CharClass::is(c, CharClass::Token))
                    return failAt("invalid trailer field name");
                break;
            case State::TrailerValue:
                if (c == '\r')
                    m_state = State::TrailerLf;
                else if (!CharClass::is(c, CharClass::FieldValue))
                    return failAt("invalid byte in trailer field value");
                break;
            case State::TrailerLf:
                if (c != '\n')
                    return failAt("bare CR in trailer section");
                m_state = State::TrailerStart;
                break;
            default:
                break;
            }
            break;
        }

        case State::FinalLf:
            if (c != '\n')
                return failAt("bare CR at end of chunked body");
            m_state = State::Done;
            m_consumed = p + 1; // the next byte belongs to the next request
            return Status::Done;

        case State::Data:
        case State::Done:
        case State::Error:
        case State::TooLarge:
            break; // handled above
        }
        ++p;
    }
    m_consumed = n;
    return Status::NeedMore;
}

} // namespace Berth::Http
