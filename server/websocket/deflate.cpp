#include "deflate.h"

#include "http/requesthead.h"

#include <QList>

#include <zlib.h>

namespace Berth::WebSocket {

namespace {

constexpr QByteArrayView SyncTail("\x00\x00\xff\xff", 4);
constexpr qsizetype InflateStep = 16 * 1024;

// QByteArrayView has no split() in Qt 6.4.
QList<QByteArrayView> splitView(QByteArrayView v, char sep)
{
    QList<QByteArrayView> parts;
    qsizetype start = 0;
    for (;;) {
        const qsizetype at = v.indexOf(sep, start);
        if (at < 0) {
            parts.append(v.sliced(start));
            return parts;
        }
        parts.append(v.sliced(start, at - start));
        start = at + 1;
    }
}

QByteArrayView unquote(QByteArrayView v)
{
    v = v.trimmed();
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"')
        v = v.sliced(1, v.size() - 2);
    return v;
}

// "8".."15", or -1.
int windowBits(QByteArrayView v)
{
    v = unquote(v);
    if (v.isEmpty() || v.size() > 2)
        return -1;
    int n = 0;
    for (char c : v) {
        if (c < '0' || c > '9')
            return -1;
        n = n * 10 + (c - '0');
    }
    if (v.size() == 2 && v[0] == '0')
        return -1;
    return n >= 8 && n <= 15 ? n : -1;
}

std::optional<DeflateParams> parseOffer(QByteArrayView offer)
{
    const QList<QByteArrayView> parts = splitView(offer, ';');
    if (parts.isEmpty() || !Http::equalsIgnoreCase(parts.front().trimmed(), "permessage-deflate"))
        return std::nullopt;
    DeflateParams p;
    bool seenServerNct = false, seenClientNct = false, seenServerBits = false;
    for (qsizetype i = 1; i < parts.size(); ++i) {
        const QByteArrayView param = parts[i].trimmed();
        const qsizetype eq = param.indexOf('=');
        const QByteArrayView name = (eq < 0 ? param : param.first(eq)).trimmed();
        const bool hasValue = eq >= 0;
        const QByteArrayView value = hasValue ? param.sliced(eq + 1) : QByteArrayView();
        if (Http::equalsIgnoreCase(name, "server_no_context_takeover")) {
            if (seenServerNct || hasValue)
                return std::nullopt;
            seenServerNct = p.serverNoContextTakeover = true;
        } else if (Http::equalsIgnoreCase(name, "client_no_context_takeover")) {
            if (seenClientNct || hasValue)
                return std::nullopt;
            seenClientNct = p.clientNoContextTakeover = true;
        } else if (Http::equalsIgnoreCase(name, "server_max_window_bits")) {
            const int bits = windowBits(value);
            // zlib's raw deflate turns a window of 8 into 9, which a client limited to 8
            // could not inflate: decline rather than break it.
            if (seenServerBits || bits < 9)
                return std::nullopt;
            seenServerBits = true;
            p.serverMaxWindowBits = bits;
        } else if (Http::equalsIgnoreCase(name, "client_max_window_bits")) {
            if (p.clientMaxWindowBitsOffered)
                return std::nullopt;
            p.clientMaxWindowBitsOffered = true;
            if (hasValue) {
                const int bits = windowBits(value);
                if (bits < 0)
                    return std::nullopt;
                p.clientMaxWindowBits = bits;
            }
        } else {
            return std::nullopt;
        }
    }
    return p;
}

} // namespace

QByteArray DeflateParams::responseHeader() const
{
    QByteArray h("permessage-deflate");
    if (serverNoContextTakeover)
        h += "; server_no_context_takeover";
    if (clientNoContextTakeover)
        h += "; client_no_context_takeover";
    if (serverMaxWindowBits < 15)
        h += "; server_max_window_bits=" + QByteArray::number(serverMaxWindowBits);
    // The client's window: echoing a value it offered only limits what it sends to what it
    // announced; we inflate with the largest window anyway.
    if (clientMaxWindowBitsOffered && clientMaxWindowBits < 15)
        h += "; client_max_window_bits=" + QByteArray::number(clientMaxWindowBits);
    return h;
}

std::optional<DeflateParams> negotiateDeflate(QByteArrayView offers)
{
    for (QByteArrayView offer : splitView(offers, ',')) {
        if (auto params = parseOffer(offer))
            return params;
    }
    return std::nullopt;
}

// --- Deflater ---

struct Deflater::State
{
    z_stream z{};
    bool ok = false;
};

Deflater::Deflater(const DeflateParams &params)
    : m_state(std::make_unique<State>())
    , m_resetAfterMessage(params.serverNoContextTakeover)
{
    // memLevel 8 is zlib's default; a smaller window when the client asked for one.
    m_state->ok = deflateInit2(&m_state->z, Z_DEFAULT_COMPRESSION, Z_DEFLATED,
                               -params.serverMaxWindowBits, 8, Z_DEFAULT_STRATEGY) == Z_OK;
}

Deflater::~Deflater()
{
    if (m_state->ok)
        deflateEnd(&m_state->z);
}

bool Deflater::compress(QByteArrayView message, QByteArray &out)
{
    if (!m_state->ok)
        return false;
    z_stream &z = m_state->z;
    const qsizetype start = out.size();
    z.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(message.data()));
    z.avail_in = uInt(message.size());
    for (;;) {
        const qsizetype room = qMax<qsizetype>(1024, message.size() / 2 + 64);
        const qsizetype at = out.size();
        out.resize(at + room);
        z.next_out = reinterpret_cast<Bytef *>(out.data() + at);
        z.avail_out = uInt(room);
        const int rc = deflate(&z, Z_SYNC_FLUSH);
        out.resize(out.size() - qsizetype(z.avail_out));
        if (rc != Z_OK && rc != Z_BUF_ERROR) {
            out.resize(start);
            return false;
        }
        // Done when the flush fit: all input taken and room left over.
        if (z.avail_in == 0 && z.avail_out != 0)
            break;
    }
    if (out.size() - start >= 4 && QByteArrayView(out).sliced(out.size() - 4) == SyncTail)
        out.chop(4);
    if (m_resetAfterMessage)
        deflateReset(&z);
    return true;
}

// --- Inflater ---

struct Inflater::State
{
    z_stream z{};
    bool ok = false;
};

Inflater::Inflater(const DeflateParams &params, qint64 maxMessageBytes)
    : m_state(std::make_unique<State>())
    , m_maxMessageBytes(maxMessageBytes)
    , m_resetAfterMessage(params.clientNoContextTakeover)
{
    m_state->ok = inflateInit2(&m_state->z, -15) == Z_OK;
}

Inflater::~Inflater()
{
    if (m_state->ok)
        inflateEnd(&m_state->z);
}

Inflater::Result Inflater::inflateBytes(QByteArrayView input, QByteArray &message)
{
    z_stream &z = m_state->z;
    z.next_in = reinterpret_cast<Bytef *>(const_cast<char *>(input.data()));
    z.avail_in = uInt(input.size());
    for (;;) {
        // Output is produced one bounded step at a time and checked against the limit before
        // the next step: a bomb never gets past maxMessageBytes + InflateStep.
        const qsizetype at = message.size();
        const qsizetype step = qMin<qsizetype>(InflateStep, m_maxMessageBytes - at + 1);
        message.resize(at + step);
        z.next_out = reinterpret_cast<Bytef *>(message.data() + at);
        z.avail_out = uInt(step);
        const int rc = inflate(&z, Z_SYNC_FLUSH);
        message.resize(message.size() - qsizetype(z.avail_out));
        if (message.size() > m_maxMessageBytes)
            return Result::TooBig;
        if (rc == Z_STREAM_END) {
            // A final block (BFINAL) ends the raw stream; a next message starts a new one.
            if (z.avail_in > 0)
                return Result::Error;
            inflateReset(&z);
            break;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            return Result::Error;
        // Done when all input is taken and the output did not fill up (nothing pending).
        if (z.avail_in == 0 && z.avail_out != 0)
            break;
        if (rc == Z_BUF_ERROR && z.avail_out != 0)
            return Result::Error; // input left, room left, and no progress
    }
    return Result::Ok;
}

Inflater::Result Inflater::feed(QByteArrayView compressed, bool last, QByteArray &message)
{
    if (!m_state->ok)
        return Result::Error;
    Result r = inflateBytes(compressed, message);
    if (r == Result::Ok && last) {
        r = inflateBytes(SyncTail, message);
        if (r == Result::Ok && m_resetAfterMessage)
            inflateReset(&m_state->z);
    }
    return r;
}

} // namespace Berth::WebSocket
