#pragma once

#include <QByteArrayView>

namespace Berth::Http {

// Decodes a chunked request body (RFC 9112 §7.1) incrementally without copying: each call
// consumes some input and may point at one span of body data inside that input. Strict: chunk
// sizes are 1-16 hex digits with no sign, prefix or whitespace; extensions are token[=token|
// quoted-string]; every line ends in CRLF; trailers are parsed and dropped.
class ChunkedDecoder
{
public:
    enum class Status {
        NeedMore, // all input consumed; more bytes needed
        Data,     // data() is body bytes; call again with the input after consumed()
        Done,     // the last chunk and trailers are complete; consumed() ends the message
        Error,    // malformed: answer 400 and close
        TooLarge, // the body would exceed the maximum: answer 413 and close
    };

    // maxBodyBytes: cap on decoded bytes (< 0 = none); maxTrailerBytes: cap on the trailer
    // field lines (their CRLFs included, the final empty line not). Chunk extensions are capped
    // at 4 KiB per chunk-size line.
    explicit ChunkedDecoder(qint64 maxBodyBytes = -1, qsizetype maxTrailerBytes = 8 * 1024);

    Status decode(QByteArrayView input);
    qsizetype consumed() const { return m_consumed; }
    QByteArrayView data() const { return m_data; }
    qint64 decodedBytes() const { return m_total; }
    const char *errorReason() const { return m_errorReason; }
    void reset(qint64 maxBodyBytes);

private:
    enum class State : quint8 {
        Size,    // chunk-size hex digits
        ExtName, // first byte of a chunk-ext name, after ';'
        ExtNameMore,
        ExtValueStart, // after '='
        ExtToken,
        ExtQuoted,
        ExtQuotedPair,  // after '\\' inside a quoted-string
        ExtAfterQuoted, // after the closing '"'
        SizeLf,         // after the CR of the chunk-size line
        Data,
        DataCr,
        DataLf,
        TrailerStart, // first byte of a trailer field line or of the final empty line
        TrailerName,
        TrailerValue,
        TrailerLf, // after the CR of a trailer field line
        FinalLf,   // after the CR of the final empty line
        Done,
        Error,
        TooLarge,
    };

    Status fail(const char *reason);
    Status tooLarge(const char *reason);

    State m_state = State::Size;
    quint64 m_chunkSize = 0;     // the size being read (up to 16 hex digits fit)
    qint64 m_chunkRemaining = 0; // data bytes of the current chunk not yet returned
    qint64 m_total = 0;
    qint64 m_maxBody = -1;
    qsizetype m_maxTrailer = 8 * 1024;
    qsizetype m_lineBytes = 0; // chunk-ext bytes of this size line, or trailer bytes so far
    int m_digits = 0;
    qsizetype m_consumed = 0;
    QByteArrayView m_data;
    const char *m_errorReason = "";
};

} // namespace Berth::Http
