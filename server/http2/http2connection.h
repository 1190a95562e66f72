#pragma once

#include "clientstreamids.h"
#include "engine/connection.h"
#include "engine/connectionmanager.h"
#include "engine/enginesettings.h"
#include "http/request.h"

#include <QByteArray>
#include <QObject>

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

struct nghttp2_session;

namespace Berth::Http2 {

class Http2Stream;

// An HTTP/2 client connection (RFC 9113): an nghttp2 server session fed from the Connection's
// input and writing into its output, and the streams (Http2Stream, one exchange each) it
// carries. Connection does the socket I/O and ExchangeDriver, one per stream, what every
// exchange needs; this class is the HTTP/2 flow between them: SETTINGS from [http2], per-stream
// [limits] and timeouts, GOAWAY on connection errors and on drain (two steps), and the flood
// guards (rapid reset, PING/SETTINGS/PRIORITY/empty DATA floods, CONTINUATION floods, header
// bombs), each counted and written to cef.log. A QObject of its own (Engine::Connection is
// not one): the context of its streams' timers and of its queued calls.
class Http2Connection final : public QObject, public Engine::Connection
{
    Q_OBJECT
public:
    // upgrade: the HTTP/1.1 request that asked for h2c (it becomes stream 1), or null.
    Http2Connection(Engine::ConnectionManager &manager, int fd, quint64 id,
                    std::unique_ptr<Engine::Transport> transport, QByteArray unreadInput,
                    std::unique_ptr<Engine::CodecUpgrade> upgrade);
    ~Http2Connection() override;

    // What the protocol selector calls to build one (see registerHttp2()).
    static Engine::CodecFactory factory();

    // Connection
    void checkTimeouts(qint64 now) override;
    qint64 nextCheck(qint64 now) const override;
    bool isIdle() const override;
    void drain() override;

    // --- for the streams ---
    nghttp2_session *session() const { return m_session; }
    Engine::ConnectionManager &manager() const { return m_manager; }
    const Engine::EngineSettings &settings() const { return m_manager.settings(); }
    qint64 clock() const { return now(); }
    QByteArrayView client() { return clientText(); }
    QByteArrayView server() { return serverText(); }
    void fillAddresses(Http::Request &request) const;
    bool isSecure() const;
    // Something changed (an app wrote, finished, resumed): process now, or once the current
    // pass is over.
    void schedule();
    bool isDraining() const { return m_draining; }
    // Submits RST_STREAM for a stream and counts it.
    void resetStream(std::int32_t id, std::uint32_t errorCode);
    // A request that broke a rule or a flood guard: counted and written to cef.log.
    void recordBadInput(const Http::Request &request, int status, const char *reason);

    enum class Flood { Reset, Ping, Settings, Priority, EmptyData, Count };

protected:
    void process() override;
    qsizetype inputCap() const override;
    void onStarted() override;
    void onWritableRoom() override;
    void onClosing(State previous) override;

private:
    struct Callbacks;
    friend struct Callbacks;

    void receive();
    void dispatch();
    void send();
    // A connection error: GOAWAY with the code, then close once it went out.
    void terminate(std::uint32_t errorCode, const char *reason);
    void countFrame(Flood kind);
    void finishDrain();
    void retire(std::int32_t id);
    Http2Stream *stream(std::int32_t id) const;
    void acceptUpgrade(const Engine::CodecUpgrade &upgrade);

    nghttp2_session *m_session = nullptr;
    ClientStreamIds m_clientStreamIds;
    std::map<std::int32_t, std::unique_ptr<Http2Stream>> m_streams;
    std::vector<std::unique_ptr<Http2Stream>> m_retired; // deleted from the event loop
    std::unique_ptr<Engine::CodecUpgrade> m_upgrade;
    bool m_processing = false;
    bool m_again = false;
    bool m_terminating = false;
    bool m_draining = false;
    bool m_finalGoaway = false;
    bool m_everHadStream = false;
    qint64 m_drainStarted = 0;
    qint64 m_floodWindowStart = 0;
    int m_floodCounts[int(Flood::Count)] = {};
};

// Hands HTTP/2 connections (ALPN "h2", the cleartext preface, Upgrade: h2c) to
// Http2Connection, or back to HTTP/1 only when [http2] enabled is off. Before the event-loop
// threads start.
void registerHttp2Codec(bool enabled);

} // namespace Berth::Http2
