#pragma once

#include "requesthead.h"

namespace Berth::Http {

struct HeadLimits
{
    qsizetype maxUriBytes = 8 * 1024;     // request-target length -> 414
    qsizetype maxHeaderBytes = 32 * 1024; // whole head incl. request line -> 431
    qsizetype maxFieldBytes = 8 * 1024;   // one header line -> 431
    int maxHeaders = 100;                 // number of fields -> 431
};

// What the HTTP/1 parser derives from a head for the HTTP/1 codec alone (RFC 9112 §6, §9.3):
// apps never see it, their exchange is protocol-neutral.
struct Http1Framing
{
    int versionMajor = 1;
    int versionMinor = 1;
    bool chunked = false;        // Transfer-Encoding: chunked (the only coding accepted)
    bool keepAlive = true;       // HTTP/1.1 unless "close"; HTTP/1.0 only with "keep-alive"
    bool expectContinue = false; // Expect: 100-continue
    bool upgrade = false;        // Connection: upgrade with an Upgrade field

    bool isHttp11() const { return versionMajor == 1 && versionMinor == 1; }
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
        EmptyClose, // more than 8 empty lines came before any request line: drop the peer
                    // silently. Fewer only give NeedMore (the engine closes on EOF itself).
    };

    explicit RequestHeadParser(const HeadLimits &limits = {});

    // buffer: every byte received for this request so far, from its first byte. Leading empty
    // lines (CRLF) before the request line are skipped (RFC 9112 §2.2) and count in consumed().
    // Any split of the bytes over calls gives the same result. Done, Error and EmptyClose are
    // final until reset(); calling again after Done refills head from the buffer given.
    Status parse(QByteArrayView buffer, RequestHead &head);

    // After Done: the HTTP/1 framing of the head (until the next parse() or reset()).
    const Http1Framing &framing() const { return m_framing; }
    // After Done: the bytes of the head, leading empty lines included. 0 otherwise.
    qsizetype consumed() const { return m_consumed; }
    int errorStatus() const { return m_errorStatus; }         // 400, 414, 417, 431, 501 or 505
    const char *errorReason() const { return m_errorReason; } // short text for the log
    // Ready for a new head. Inline and only the fields the next parse() reads before writing:
    // it runs once per request.
    void reset()
    {
        m_scanned = 0;
        m_consumed = 0;
        m_errorStatus = 0;
        m_errorReason = "";
        m_state = State::Leading;
        m_emptyLines = 0;
        m_fieldCount = 0;
        m_framing = Http1Framing();
    }

private:
    // Longest method accepted (both parsers). The longest registered one (UPDATEREDIRECTREF)
    // has 17 bytes; a longer "method" is not HTTP, and refusing it early keeps a 10 KiB one
    // from becoming a 414.
    static constexpr qsizetype MaxMethodBytes = 32;

    enum class State : quint8 {
        Leading, // skipping empty lines before the request line
        Method,
        Target,
        Version,
        FieldStart, // at the first byte of a field line or of the final empty line
        FieldName,
        FieldValue,
        Done,
        Error,
        EmptyClose,
    };

    // The fields the framing depends on (RFC 9112 §6, §9.3), noted while the fields are split
    // so that nothing is looked up afterwards.
    struct FramingFacts
    {
        QByteArrayView host;
        QByteArrayView contentLength;
        QByteArrayView transferEncoding;
        int hostCount = 0;
        int contentLengthCount = 0;
        int transferEncodingCount = 0;
        bool badExpectation = false;
        bool expect100 = false;
        bool hasUpgrade = false;
        bool connectionClose = false;
        bool connectionKeepAlive = false;
        bool connectionUpgrade = false;

        // name: a validated field name; value: trimmed.
        void note(QByteArrayView name, QByteArrayView value);
    };

    Status fail(int status, const char *reason);
    bool parseWhole(QByteArrayView buffer, RequestHead &out, Status *status);
    bool finishRequestLine(const char *buffer);
    void fillRequestLine(const char *buffer, RequestHead &out);
    Status parseComplete(QByteArrayView head, RequestHead &out);
    bool deriveFraming(RequestHead &head, const FramingFacts &facts);

    HeadLimits m_limits;
    qsizetype m_scanned = 0; // bytes already searched for the end of the head
    qsizetype m_consumed = 0;
    int m_errorStatus = 0;
    const char *m_errorReason = "";

    // Scanner state. Everything is an offset into the buffer, never a pointer: the engine may
    // reallocate its buffer between two calls.
    State m_state = State::Leading;
    int m_emptyLines = 0;
    int m_fieldCount = 0;
    qsizetype m_headStart = 0;     // first byte of the request line
    qsizetype m_totalLimitEnd = 0; // first offset past maxHeaderBytes
    qsizetype m_lineStart = 0;     // first byte of the current field line
    qsizetype m_methodEnd = 0;
    qsizetype m_targetStart = 0;
    qsizetype m_targetEnd = 0;
    qsizetype m_versionStart = 0;
    qsizetype m_fieldsStart = 0; // first byte after the request line's CRLF
    // The parts of the target, set when the request line is complete.
    qsizetype m_pathStart = 0;
    qsizetype m_pathSize = 0;
    qsizetype m_queryStart = 0;
    qsizetype m_querySize = 0;
    qsizetype m_authorityStart = 0;
    qsizetype m_authoritySize = 0;
    int m_versionMinor = 1;
    Http1Framing m_framing;
};

} // namespace Berth::Http
