#pragma once

#include <QByteArray>
#include <QByteArrayView>

#include <utility>
#include <vector>

namespace Berth::Upstream {

// How the body of an upstream response is delimited (RFC 9112 §6.3).
enum class BodyFraming {
    None,       // HEAD, 1xx, 204, 304: no body, whatever the fields say
    Length,     // Content-Length bytes
    Chunked,    // chunked transfer coding
    UntilClose, // read until the member closes the connection
};

// The status line and header section of a response from a member. The fields are views into
// `raw`, the head's bytes copied once out of the connection's buffer (a copy of the head shares
// them: QByteArray is implicitly shared and raw is never modified); names keep their case.
struct ResponseHead
{
    int status = 0;
    int versionMinor = 1;
    QByteArray raw;
    std::vector<std::pair<QByteArrayView, QByteArrayView>> fields;
    qint64 contentLength = -1;    // -1: none given
    bool chunked = false;         // Transfer-Encoding ends in chunked
    bool otherCoding = false;     // Transfer-Encoding without a final chunked: read until close
    bool connectionClose = false; // the member closes after this response

    QByteArrayView field(QByteArrayView name) const;
    // Fields given as owned pairs (a head not read from a member: tests, the cache), copied
    // into raw.
    void setFields(const std::vector<std::pair<QByteArray, QByteArray>> &owned);
    // What frames the body of this response to a request with this method.
    BodyFraming framing(QByteArrayView requestMethod) const;
    // Whether the connection can carry another request after this response's body.
    bool keepAlive() const;
};

// Parses a response head strictly: "HTTP/1.x SSS reason" and CRLF-terminated field lines; bare
// CR or LF, obs-fold, NUL, a bad field name, conflicting Content-Length values or a
// Content-Length beside a Transfer-Encoding are errors, so nothing ambiguous is relayed to the
// client (the response-side twin of the request smuggling rules).
class ResponseHeadParser
{
public:
    enum class Status { NeedMore, Done, Error };
    // maxBytes: the largest head accepted (status line, fields and the empty line).
    explicit ResponseHeadParser(qsizetype maxBytes = 64 * 1024)
        : m_maxBytes(maxBytes)
    {}
    // Looks for a whole head at the start of input; on Done, *consumed is its length.
    Status parse(QByteArrayView input, ResponseHead *head, qsizetype *consumed);
    const char *errorReason() const { return m_error; }

private:
    Status fail(const char *reason)
    {
        m_error = reason;
        return Status::Error;
    }
    qsizetype m_maxBytes;
    const char *m_error = "";
};

// The hop-by-hop fields a proxy never forwards (RFC 9110 §7.6.1), and those the framing owns.
bool isHopByHopField(QByteArrayView name);

} // namespace Berth::Upstream
