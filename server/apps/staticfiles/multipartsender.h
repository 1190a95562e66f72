#pragma once

#include "byteranges.h"

#include <QByteArray>

#include <memory>
#include <vector>

namespace Berth::Http {
class Exchange;
}

namespace Berth::Apps {

// Streams a 206 multipart/byteranges body (RFC 9110 §14.6) from an open file: part header, then
// the range read in bounded chunks with pread, honouring write()'s back-pressure and resuming
// from the writable handler. Memory per response is one 64 KiB buffer, whatever the ranges.
class MultipartSender final : public std::enable_shared_from_this<MultipartSender>
{
public:
    // Sets Content-Type on the response, starts it with the exact Content-Length, and streams.
    // Takes ownership of fd (closed when done, on abort, or when the exchange drops the
    // sender). ranges must be non-empty, non-overlapping and inside the file.
    static void start(Http::Exchange &exchange, int fd, qint64 fileSize, QByteArrayView contentType,
                      std::vector<ByteRange> ranges);

    MultipartSender(Http::Exchange &exchange, int fd, std::vector<ByteRange> ranges);
    ~MultipartSender();
    MultipartSender(const MultipartSender &) = delete;
    MultipartSender &operator=(const MultipartSender &) = delete;

    // The boundary, part headers and trailer for these ranges, and the exact body length.
    struct Layout
    {
        QByteArray boundary;
        std::vector<QByteArray> partHeaders;
        QByteArray trailer;
        qint64 contentLength = 0;
    };
    static Layout layout(QByteArrayView boundary, QByteArrayView contentType, qint64 fileSize,
                         const std::vector<ByteRange> &ranges);

private:
    void pump();
    void onAbort();
    void closeFile();

    Http::Exchange &m_exchange;
    int m_fd = -1;
    std::vector<ByteRange> m_ranges;
    Layout m_layout;
    QByteArray m_buffer;
    std::size_t m_part = 0;
    qint64 m_offset = 0; // next file offset of the current part
    bool m_headerSent = false;
    bool m_done = false;    // finished, failed or aborted: never touch the exchange again
    bool m_pumping = false; // re-entrancy guard (a writable handler run from inside write())
    bool m_pumpAgain = false;
};

} // namespace Berth::Apps
