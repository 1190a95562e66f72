#include "http1codec.h"

#include "http/httpdate.h"
#include "http/response.h"

#include <charconv>
#include <cstring>

namespace Berth::Engine::Http1 {

namespace {

// Decimal or hex without a temporary QByteArray (this runs several times per response).
void appendNumber(QByteArray &out, qint64 value, int base = 10)
{
    char buffer[24];
    const auto result = std::to_chars(buffer, buffer + sizeof(buffer), value, base);
    out.append(buffer, result.ptr - buffer);
}

void rebase(QByteArrayView &view, const char *from, const char *to)
{
    if (!view.isNull())
        view = QByteArrayView(to + (view.data() - from), view.size());
}

bool isFramingHeader(QByteArrayView name)
{
    return Http::equalsIgnoreCase(name, "content-length") ||
           Http::equalsIgnoreCase(name, "transfer-encoding") ||
           Http::equalsIgnoreCase(name, "connection") || Http::equalsIgnoreCase(name, "date") ||
           Http::equalsIgnoreCase(name, "server");
}

bool isSafeFieldText(QByteArrayView text)
{
    for (char c : text) {
        if (c == '\r' || c == '\n' || c == '\0')
            return false;
    }
    return true;
}

} // namespace

RequestDecoder::RequestDecoder(const Http::HeadLimits &limits)
    : m_parser(limits)
{}

RequestDecoder::Event RequestDecoder::decodeHead(QByteArrayView input, Http::RequestHead &head)
{
    m_data = {};
    const auto status = m_parser.parse(input, head);
    m_consumed = m_parser.consumed();
    switch (status) {
    case Http::RequestHeadParser::Status::NeedMore:
        return Event::NeedMore;
    case Http::RequestHeadParser::Status::EmptyClose:
        return Event::EmptyClose;
    case Http::RequestHeadParser::Status::Error:
        m_errorStatus = m_parser.errorStatus();
        m_errorReason = m_parser.errorReason();
        return Event::Error;
    case Http::RequestHeadParser::Status::Done:
        break;
    }
    m_framing = m_parser.framing(); // reset() forgets it
    m_parser.reset();
    return Event::Head;
}

void RequestDecoder::startBody(const Http::RequestHead &head, qint64 maxBody)
{
    const bool chunked = m_framing.chunked;
    m_mode = chunked ? Mode::Chunked : (head.contentLength > 0 ? Mode::Length : Mode::None);
    m_remaining = chunked ? 0 : qMax<qint64>(0, head.contentLength);
    if (m_mode == Mode::Chunked)
        m_chunked.reset(maxBody);
}

RequestDecoder::Event RequestDecoder::decodeBody(QByteArrayView input)
{
    m_consumed = 0;
    m_data = {};
    if (m_mode == Mode::None)
        return Event::End;
    if (m_mode == Mode::Length) {
        const qsizetype n = qsizetype(qMin<qint64>(m_remaining, input.size()));
        if (n == 0)
            return Event::NeedMore;
        m_data = input.first(n);
        m_consumed = n;
        m_remaining -= n;
        if (m_remaining == 0)
            m_mode = Mode::None;
        return Event::Data;
    }
    const auto status = m_chunked.decode(input);
    m_consumed = m_chunked.consumed();
    switch (status) {
    case Http::ChunkedDecoder::Status::Error:
        m_errorStatus = 400;
        m_errorReason = m_chunked.errorReason();
        return Event::Error;
    case Http::ChunkedDecoder::Status::TooLarge:
        m_errorStatus = 413;
        m_errorReason = "chunked body over max_body_bytes";
        return Event::Error;
    case Http::ChunkedDecoder::Status::Done:
        m_mode = Mode::None;
        return Event::End;
    case Http::ChunkedDecoder::Status::Data:
        m_data = m_chunked.data();
        return Event::Data;
    case Http::ChunkedDecoder::Status::NeedMore:
        break;
    }
    return Event::NeedMore;
}

bool RequestDecoder::bodyCanNeverComplete(qsizetype buffered) const
{
    // A known length tells at once; a chunked body only once what is buffered is decoded.
    if (m_mode == Mode::Length)
        return m_remaining > buffered;
    return m_mode == Mode::Chunked && buffered == 0;
}

void RequestDecoder::reset()
{
    m_parser.reset();
    m_framing = Http::Http1Framing();
    m_mode = Mode::None;
    m_remaining = 0;
    m_consumed = 0;
    m_data = {};
    m_errorStatus = 0;
    m_errorReason = "";
}

void rebaseHead(Http::RequestHead &head, const char *from, const char *to)
{
    rebase(head.method, from, to);
    rebase(head.target, from, to);
    rebase(head.path, from, to);
    rebase(head.query, from, to);
    rebase(head.authority, from, to);
    rebase(head.host, from, to);
    for (Http::HeaderField &field : head.fields) {
        rebase(field.name, from, to);
        rebase(field.value, from, to);
    }
}

namespace {

// Writes into memory appendResponseHead sized for the whole head: one resize of the
// connection's reused output buffer instead of a QByteArray call (capacity check, maybe a
// reallocation) per piece.
struct HeadWriter
{
    char *p;

    void put(QByteArrayView data)
    {
        if (data.isEmpty()) // an empty view may have no storage; memcpy wants a valid pointer
            return;
        std::memcpy(p, data.data(), size_t(data.size()));
        p += data.size();
    }
    template <size_t N> void put(const char (&literal)[N])
    {
        std::memcpy(p, literal, N - 1);
        p += N - 1;
    }
    void putNumber(qint64 value) { p = std::to_chars(p, p + 24, value).ptr; }
};

} // namespace

ResponseFraming appendResponseHead(QByteArray &out, const ResponseHeadInput &input,
                                   const Http::Response &response)
{
    ResponseFraming framing;
    framing.keepAlive = input.keepAlive;
    const int status = input.status;
    const bool noBodyStatus = status < 200 || status == 204 || status == 304;
    framing.headOnly = noBodyStatus || input.headRequest;
    const bool http11 = input.versionMinor >= 1 || !input.parsedRequest;

    const QByteArrayView reason = Http::reasonPhrase(status);
    const QByteArrayView date = Http::DateCache::now();
    // Every fixed line below fits in the constant; the variable parts are counted.
    qsizetype bound = 256 + reason.size() + date.size() + input.hsts.size() + input.txnId.size();
    for (const auto &[name, value] : response.headers())
        bound += name.size() + value.size() + 4;
    const qsizetype start = out.size();
    out.resize(start + bound);
    HeadWriter w{out.data() + start};

    w.put("HTTP/1.1 ");
    w.putNumber(status);
    *w.p++ = ' ';
    w.put(reason);
    w.put("\r\nServer: berth\r\nDate: ");
    w.put(date);
    w.put("\r\n");
    if (!noBodyStatus) {
        if (input.contentLength >= 0) {
            w.put("Content-Length: ");
            w.putNumber(input.contentLength);
            w.put("\r\n");
        } else if (http11) {
            w.put("Transfer-Encoding: chunked\r\n");
            framing.chunked = !framing.headOnly;
        } else {
            framing.keepAlive = false; // HTTP/1.0: the body ends with the connection
        }
    }
    if (!framing.keepAlive)
        w.put("Connection: close\r\n");
    else if (!http11 || input.versionMinor == 0)
        w.put("Connection: keep-alive\r\n");
    if (!input.hsts.isEmpty()) {
        w.put("Strict-Transport-Security: ");
        w.put(input.hsts);
        w.put("\r\n");
    }
    w.put("X-Berth-Txn: ");
    w.put(input.txnId);
    w.put("\r\n");
    for (const auto &[name, value] : response.headers()) {
        // The codec owns framing; and a CR or LF from an app would split the response.
        if (isFramingHeader(name) || !isSafeFieldText(name) || !isSafeFieldText(value))
            continue;
        w.put(name);
        w.put(": ");
        w.put(value);
        w.put("\r\n");
    }
    w.put("\r\n");
    out.truncate(w.p - out.constData());
    return framing;
}

void appendChunkSize(QByteArray &out, qint64 size)
{
    appendNumber(out, size, 16);
    out.append("\r\n");
}

void appendChunk(QByteArray &out, QByteArrayView data)
{
    appendChunkSize(out, data.size());
    out.append(data);
    out.append("\r\n");
}

QByteArrayView versionText(const Http::RequestHead &head, const Http::Http1Framing &framing)
{
    if (head.method.isEmpty())
        return {};
    return framing.versionMinor == 0 ? QByteArrayView("HTTP/1.0") : QByteArrayView("HTTP/1.1");
}

} // namespace Berth::Engine::Http1
