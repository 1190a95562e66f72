#include "multipartsender.h"

#include "http/exchange.h"

#include <QLoggingCategory>
#include <QRandomGenerator>

#include <cerrno>
#include <cstring>
#include <unistd.h>

namespace Berth::Apps {

namespace {

Q_LOGGING_CATEGORY(lcMultipart, "berth.apps.static")

constexpr qint64 chunkSize = 64 * 1024;

} // namespace

MultipartSender::MultipartSender(Http::Exchange &exchange, int fd, std::vector<ByteRange> ranges)
    : m_exchange(exchange)
    , m_fd(fd)
    , m_ranges(std::move(ranges))
{}

MultipartSender::~MultipartSender()
{
    closeFile();
}

MultipartSender::Layout MultipartSender::layout(QByteArrayView boundary, QByteArrayView contentType,
                                                qint64 fileSize,
                                                const std::vector<ByteRange> &ranges)
{
    Layout result;
    result.boundary = boundary.toByteArray();
    const QByteArray size = QByteArray::number(fileSize);
    for (const ByteRange &range : ranges) {
        // The leading CRLF belongs to the delimiter (RFC 2046 §5.1.1); sending it before the
        // first part too is what nginx does and every parser accepts.
        QByteArray header = QByteArrayLiteral("\r\n--") + result.boundary +
                            QByteArrayLiteral("\r\nContent-Type: ") + contentType.toByteArray() +
                            QByteArrayLiteral("\r\nContent-Range: bytes ") +
                            QByteArray::number(range.first) + '-' + QByteArray::number(range.last) +
                            '/' + size + QByteArrayLiteral("\r\n\r\n");
        result.contentLength += header.size() + range.length();
        result.partHeaders.push_back(std::move(header));
    }
    result.trailer = QByteArrayLiteral("\r\n--") + result.boundary + QByteArrayLiteral("--\r\n");
    result.contentLength += result.trailer.size();
    return result;
}

void MultipartSender::start(Http::Exchange &exchange, int fd, qint64 fileSize,
                            QByteArrayView contentType, std::vector<ByteRange> ranges)
{
    auto sender = std::make_shared<MultipartSender>(exchange, fd, std::move(ranges));
    // The boundary only has to be absent from the parts; 128 random bits make a collision with
    // file content practically impossible (and it is not a secret, so the global generator is
    // fine).
    QByteArray boundary(32, Qt::Uninitialized);
    static constexpr char hex[] = "0123456789abcdef";
    for (int i = 0; i < 32; i += 8) {
        quint32 bits = QRandomGenerator::global()->generate();
        for (int j = 0; j < 8; ++j, bits >>= 4)
            boundary[i + j] = hex[bits & 0xf];
    }
    sender->m_layout = layout(boundary, contentType, fileSize, sender->m_ranges);

    exchange.response().status = 206;
    exchange.response().setHeader("Content-Type",
                                  QByteArrayLiteral("multipart/byteranges; boundary=") + boundary);
    // The exchange owns the handlers, the handlers own the sender, the sender only refers to the
    // exchange: no cycle, and the sender (with its fd) dies with the exchange at the latest.
    exchange.setAbortHandler([sender] { sender->onAbort(); });
    exchange.setWritableHandler([sender] { sender->pump(); });
    exchange.startResponse(sender->m_layout.contentLength);
    if (exchange.request().isHead()) {
        sender->m_done = true;
        sender->closeFile();
        exchange.finish();
        return;
    }
    sender->pump();
}

void MultipartSender::pump()
{
    if (m_done)
        return;
    if (m_pumping) {
        m_pumpAgain = true;
        return;
    }
    // finish() or abort() may destroy the exchange, and with it the handler that owns us.
    const auto self = shared_from_this();
    m_pumping = true;
    bool writable = true;
    while (!m_done) {
        if (!writable) {
            // Over the high-water mark: wait for the writable handler, unless it already ran
            // from inside the write() that returned false.
            if (!std::exchange(m_pumpAgain, false))
                break;
            writable = true;
        }
        if (m_part == m_ranges.size()) {
            m_exchange.write(m_layout.trailer);
            if (m_done) // aborted during write
                break;
            m_done = true;
            closeFile();
            m_buffer = QByteArray();
            m_exchange.finish();
            break;
        }
        const ByteRange &range = m_ranges[m_part];
        if (!m_headerSent) {
            m_headerSent = true;
            m_offset = range.first;
            writable = m_exchange.write(m_layout.partHeaders[m_part]);
            continue;
        }
        if (m_offset > range.last) {
            ++m_part;
            m_headerSent = false;
            continue;
        }
        if (m_buffer.isEmpty())
            m_buffer.resize(chunkSize);
        const qint64 want = std::min(chunkSize, range.last - m_offset + 1);
        ssize_t got;
        do {
            got = ::pread(m_fd, m_buffer.data(), size_t(want), off_t(m_offset));
        } while (got < 0 && errno == EINTR);
        if (got <= 0) {
            // The file shrank or failed under us after Content-Length went out. Finishing
            // normally would leave the client waiting for bytes that never come (or, pipelined,
            // reading the next response as body), so the connection is cut instead.
            qCWarning(lcMultipart, "read failed at offset %lld: %s", m_offset,
                      got < 0 ? strerror(errno) : "file truncated");
            m_done = true;
            closeFile();
            m_exchange.abort();
            break;
        }
        m_offset += got;
        writable = m_exchange.write(QByteArrayView(m_buffer.constData(), got));
    }
    m_pumping = false;
}

void MultipartSender::onAbort()
{
    m_done = true;
    closeFile();
    m_buffer = QByteArray();
}

void MultipartSender::closeFile()
{
    if (m_fd >= 0) {
        ::close(m_fd);
        m_fd = -1;
    }
}

} // namespace Berth::Apps
