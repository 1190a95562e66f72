#pragma once

#include "requesthead.h"

namespace Berth::Http {

struct HeadLimits
{
    qsizetype maxUriBytes = 8 * 1024;      // request-target length -> 414
    qsizetype maxHeaderBytes = 32 * 1024;  // whole head incl. request line -> 431
    qsizetype maxFieldBytes = 8 * 1024;    // one header line -> 431
    int maxHeaders = 100;                  // number of fields -> 431
};

// Parses an HTTP/1.x request head incrementally and strictly: it rejects, never guesses
// (HOSTILE-INPUTS.md cases 1-15). It does not copy: the RequestHead it fills holds views into
// the buffer passed to parse(), which must stay unchanged while the head is in use.
class RequestHeadParser
{
public:
    enum class Status {
        NeedMore,   // the head is incomplete; call again with the same buffer plus more bytes
        Done,       // the head is complete; consumed() bytes (incl. the blank line) belong to it
        Error,      // the request is bad: answer errorStatus() and close the connection
        EmptyClose, // only CRLFs were seen before the peer should be dropped silently (never
                    // returned while more bytes may come; the engine closes on EOF itself)
    };

    explicit RequestHeadParser(const HeadLimits &limits = {});

    // buffer: every byte received for this request so far, from its first byte. Leading empty
    // lines (CRLF) before the request line are skipped (RFC 9112 §2.2) and count in consumed().
    Status parse(QByteArrayView buffer, RequestHead &head);

    qsizetype consumed() const { return m_consumed; }
    int errorStatus() const { return m_errorStatus; }  // 400, 414, 431, 501 or 505
    const char *errorReason() const { return m_errorReason; } // short text for the log
    void reset();

private:
    Status fail(int status, const char *reason);
    Status parseComplete(QByteArrayView head, RequestHead &out);
    bool deriveFraming(RequestHead &head);

    HeadLimits m_limits;
    qsizetype m_scanned = 0;  // bytes already searched for the end of the head
    qsizetype m_consumed = 0;
    int m_errorStatus = 0;
    const char *m_errorReason = "";
};

} // namespace Berth::Http
