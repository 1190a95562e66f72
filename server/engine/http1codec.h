#pragma once

#include "http/chunkeddecoder.h"
#include "http/requesthead.h"
#include "http/requestheadparser.h"

#include <QByteArray>
#include <QByteArrayView>

namespace Berth::Http {
class Response;
}

namespace Berth::Engine::Http1 {

// HTTP/1 framing with no socket, no clock and no app: bytes in become a request head, body
// pieces and the body's end; a response head and body framing come out as bytes. Everything
// that is HTTP/1 only (chunked coding, keep-alive, Expect: 100-continue, the version minor,
// lingering on unread bodies) is decided here, so the exchange driver stays protocol-neutral
// and an HTTP/2 codec can sit beside this one.
class RequestDecoder
{
public:
    enum class Event {
        NeedMore,   // every byte given is consumed (or held); call again with more
        Head,       // head() is complete; consumed() bytes belong to it
        EmptyClose, // the client sent only blank lines and closed: not a request
        Data,       // data() is a piece of the body (a view into the input)
        End,        // the body is complete (at once when there is none)
        Error,      // answer errorStatus() and close
    };

    explicit RequestDecoder(const Http::HeadLimits &limits);

    // --- head ---
    Event decodeHead(QByteArrayView input, Http::RequestHead &head);
    // After Head: what only HTTP/1 knows of it (chunked, keep-alive, 100-continue, version).
    const Http::Http1Framing &framing() const { return m_framing; }
    // --- body (after startBody) ---
    // Framing from the head: Content-Length, chunked or none. maxBody caps a chunked body as
    // it is decoded (an announced Content-Length over it is the caller's 413 before reading).
    void startBody(const Http::RequestHead &head, qint64 maxBody);
    Event decodeBody(QByteArrayView input);
    bool bodyComplete() const { return m_mode == Mode::None; }
    bool chunked() const { return m_mode == Mode::Chunked; }
    qint64 bodyRemaining() const { return m_remaining; } // Content-Length framing only
    // After the peer's end of stream with `buffered` undecoded bytes: the body can't complete.
    bool bodyCanNeverComplete(qsizetype buffered) const;

    qsizetype consumed() const { return m_consumed; }
    QByteArrayView data() const { return m_data; }
    int errorStatus() const { return m_errorStatus; }
    const char *errorReason() const { return m_errorReason; }
    // Ready for the next head on the connection.
    void reset();

private:
    enum class Mode { None, Length, Chunked };

    Http::RequestHeadParser m_parser;
    Http::Http1Framing m_framing;
    Http::ChunkedDecoder m_chunked;
    Mode m_mode = Mode::None;
    qint64 m_remaining = 0;
    qsizetype m_consumed = 0;
    QByteArrayView m_data;
    int m_errorStatus = 0;
    const char *m_errorReason = "";
};

// Moves every view of a parsed head from one buffer to a copy of it, so the input buffer can
// grow and shift while the request is served.
void rebaseHead(Http::RequestHead &head, const char *from, const char *to);

// What the response head depends on besides the app's Response.
struct ResponseHeadInput
{
    int status = 200;
    qint64 contentLength = -1; // < 0: streamed (chunked on HTTP/1.1, until close on HTTP/1.0)
    bool headRequest = false;
    bool parsedRequest = true; // false: the head failed to parse (answer as HTTP/1.1)
    int versionMinor = 1;
    bool keepAlive = true; // the connection may carry another request after this one
    QByteArrayView txnId;
    QByteArrayView hsts; // Strict-Transport-Security value on TLS, empty otherwise
    // Bytes that follow the head in the same piece of output when the response has a body (not
    // for HEAD, 1xx, 204, 304): a whole body of contentLength bytes, never with a streamed one.
    QByteArrayView body;
};

// The framing the head committed to.
struct ResponseFraming
{
    bool keepAlive = true;
    bool chunked = false;  // body bytes go out as chunks (appendChunk, then LastChunk)
    bool headOnly = false; // HEAD, 1xx, 204, 304: no body bytes go out
};

// Appends the status line and header fields (Server, Date, framing, Connection, HSTS,
// X-Berth-Txn, then the app's fields minus the framing ones the codec owns and any with CR, LF
// or NUL), the blank line and input.body if it goes out. The output buffer is resized once.
ResponseFraming appendResponseHead(QByteArray &out, const ResponseHeadInput &input,
                                   const Http::Response &response);
// One chunk of a chunked body.
void appendChunk(QByteArray &out, QByteArrayView data);
void appendChunkSize(QByteArray &out, qint64 size); // "1a\r\n": the size line alone
inline constexpr QByteArrayView LastChunk = "0\r\n\r\n";
inline constexpr QByteArrayView ContinueResponse = "HTTP/1.1 100 Continue\r\n\r\n";

// The "HTTP/1.x" request.log shows for a parsed head, empty for one that failed to parse.
QByteArrayView versionText(const Http::RequestHead &head, const Http::Http1Framing &framing);

} // namespace Berth::Engine::Http1
