#include "http1codec.h"

#include "http/httpdate.h"
#include "http/response.h"

#include <array>
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

// Copies a short piece (a status line, a name, a value, the txn id) with two overlapping moves
// of a fixed size instead of a memcpy call; longer ones still go to memcpy.
inline void copyBytes(char *to, const char *from, size_t n)
{
    if (n > 32) {
        if (n > 64) {
            std::memcpy(to, from, n);
            return;
        }
        std::memcpy(to, from, 32);
        std::memcpy(to + n - 32, from + n - 32, 32);
    } else if (n >= 16) {
        std::memcpy(to, from, 16);
        std::memcpy(to + n - 16, from + n - 16, 16);
    } else if (n >= 8) {
        std::memcpy(to, from, 8);
        std::memcpy(to + n - 8, from + n - 8, 8);
    } else if (n >= 4) {
        std::memcpy(to, from, 4);
        std::memcpy(to + n - 4, from + n - 4, 4);
    } else if (n > 0) {
        to[0] = from[0];
        to[n / 2] = from[n / 2];
        to[n - 1] = from[n - 1];
    }
}

// A decimal number formatted before the head is sized, copied into it after.
struct Digits
{
    char text[24];
    qsizetype size = 0;

    void format(qint64 value) { size = std::to_chars(text, text + sizeof(text), value).ptr - text; }
};

// Writes into memory appendResponseHead sized exactly for the whole head: one resize of the
// connection's reused output buffer instead of a QByteArray call (capacity check, maybe a
// reallocation) per piece.
struct HeadWriter
{
    char *p;

    void put(QByteArrayView data)
    {
        copyBytes(p, data.data(), size_t(data.size()));
        p += data.size();
    }
    void put(const Digits &digits)
    {
        // At most 20 digits in a 24-byte buffer: two overlapping moves, whatever the count.
        const char *from = digits.text;
        const qsizetype n = digits.size;
        if (n >= 8) {
            std::memcpy(p + n - 8, from + n - 8, 8);
            std::memcpy(p, from, 8);
            if (n > 16)
                std::memcpy(p + 8, from + 8, 8);
        } else if (n >= 4) {
            std::memcpy(p, from, 4);
            std::memcpy(p + n - 4, from + n - 4, 4);
        } else {
            p[0] = from[0]; // at least one digit
            p[n / 2] = from[n / 2];
            p[n - 1] = from[n - 1];
        }
        p += n;
    }
    template <size_t N> void put(const char (&literal)[N])
    {
        std::memcpy(p, literal, N - 1);
        p += N - 1;
    }
};

template <size_t N> constexpr qsizetype literalSize(const char (&)[N])
{
    return qsizetype(N - 1);
}

// "Sun, 06 Nov 1994 08:49:37 GMT": an IMF-fixdate is always this long.
constexpr qsizetype DateSize = 29;

// The head's fixed lines, each counted once from its own text.
constexpr char ServerDatePrefix[] = "\r\nServer: berth\r\nDate: ";
constexpr char ContentLengthName[] = "Content-Length: ";
constexpr char ChunkedLine[] = "Transfer-Encoding: chunked\r\n";
constexpr char CloseLine[] = "Connection: close\r\n";
constexpr char KeepAliveLine[] = "Connection: keep-alive\r\n";
constexpr char HstsName[] = "Strict-Transport-Security: ";
constexpr char TxnName[] = "X-Berth-Txn: ";

// "HTTP/1.1 200 OK\r\nServer: berth\r\nDate: " for every status with a reason phrase, formatted
// once at startup: a head starts with one copy of it.
class StatusLines
{
public:
    StatusLines()
    {
        for (int status = First; status <= Last; ++status) {
            const QByteArrayView reason = Http::reasonPhrase(status);
            if (reason.isEmpty())
                continue;
            m_offset[status - First] = quint16(m_text.size());
            m_text += "HTTP/1.1 ";
            m_text += QByteArray::number(status);
            m_text += ' ';
            m_text += reason;
            m_text += ServerDatePrefix;
            m_size[status - First] = quint8(m_text.size() - m_offset[status - First]);
        }
    }

    // Empty for a status with no reason phrase (written piece by piece then).
    QByteArrayView find(int status) const
    {
        if (status < First || status > Last || m_size[status - First] == 0)
            return {};
        return QByteArrayView(m_text.constData() + m_offset[status - First],
                              m_size[status - First]);
    }

private:
    static constexpr int First = 100;
    static constexpr int Last = 599;
    QByteArray m_text;
    std::array<quint16, Last - First + 1> m_offset{};
    std::array<quint8, Last - First + 1> m_size{};
};

const StatusLines statusLines;

bool fieldGoesOut(const QByteArray &name, const QByteArray &value)
{
    // The codec owns framing; and a CR or LF from an app would split the response.
    return !Http::isFramingFieldName(name) && Http::isSafeFieldText(name) &&
           Http::isSafeFieldText(value);
}

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

    // First what each piece will take, so the buffer is resized once to the exact size.
    const QByteArrayView statusLine = statusLines.find(status);
    Digits statusDigits;
    QByteArrayView reason;
    qsizetype size = 0;
    if (!statusLine.isEmpty()) {
        size += statusLine.size();
    } else {
        statusDigits.format(status);
        reason = Http::reasonPhrase(status);
        size += literalSize("HTTP/1.1 ") + statusDigits.size + 1 + reason.size() +
                literalSize(ServerDatePrefix);
    }
    const QByteArrayView date = Http::DateCache::now();
    Q_ASSERT(date.size() == DateSize);
    size += DateSize + 2;

    Digits lengthDigits;
    enum class Framing { None, Length, Chunked } framingLine = Framing::None;
    if (!noBodyStatus) {
        if (input.contentLength >= 0) {
            framingLine = Framing::Length;
            lengthDigits.format(input.contentLength);
            size += literalSize(ContentLengthName) + lengthDigits.size + 2;
        } else if (http11) {
            framingLine = Framing::Chunked;
            size += literalSize(ChunkedLine);
            framing.chunked = !framing.headOnly;
        } else {
            framing.keepAlive = false; // HTTP/1.0: the body ends with the connection
        }
    }
    const char *connectionLine = nullptr;
    qsizetype connectionLineSize = 0;
    if (!framing.keepAlive) {
        connectionLine = CloseLine;
        connectionLineSize = literalSize(CloseLine);
    } else if (!http11 || input.versionMinor == 0) {
        connectionLine = KeepAliveLine;
        connectionLineSize = literalSize(KeepAliveLine);
    }
    size += connectionLineSize;
    if (!input.hsts.isEmpty())
        size += literalSize(HstsName) + input.hsts.size() + 2;
    size += literalSize(TxnName) + input.txnId.size() + 2;
    const auto &fields = response.headers();
    const bool filter = response.mayNeedFiltering();
    if (!filter) {
        size += response.fieldBytes() + qsizetype(fields.size()) * 4;
    } else {
        for (const auto &[name, value] : fields) {
            if (fieldGoesOut(name, value))
                size += name.size() + value.size() + 4;
        }
    }
    size += 2;
    const QByteArrayView body = framing.headOnly ? QByteArrayView() : input.body;
    size += body.size();

    const qsizetype start = out.size();
    out.resize(start + size);
    HeadWriter w{out.data() + start};

    if (!statusLine.isEmpty()) {
        w.put(statusLine);
    } else {
        w.put("HTTP/1.1 ");
        w.put(statusDigits);
        *w.p++ = ' ';
        w.put(reason);
        w.put(ServerDatePrefix);
    }
    std::memcpy(w.p, date.data(), DateSize); // a constant size: two moves
    w.p += DateSize;
    w.put("\r\n");
    if (framingLine == Framing::Length) {
        w.put(ContentLengthName);
        w.put(lengthDigits);
        w.put("\r\n");
    } else if (framingLine == Framing::Chunked) {
        w.put(ChunkedLine);
    }
    if (connectionLine)
        w.put(QByteArrayView(connectionLine, connectionLineSize));
    if (!input.hsts.isEmpty()) {
        w.put(HstsName);
        w.put(input.hsts);
        w.put("\r\n");
    }
    w.put(TxnName);
    w.put(input.txnId);
    w.put("\r\n");
    for (const auto &[name, value] : fields) {
        if (filter && !fieldGoesOut(name, value))
            continue;
        w.put(name);
        w.put(": ");
        w.put(value);
        w.put("\r\n");
    }
    w.put("\r\n");
    w.put(body);
    Q_ASSERT(w.p == out.constData() + out.size());
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
