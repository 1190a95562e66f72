// The HTTP/2 connection driven in-process by an nghttp2 client session through a fake transport
// and an injected clock: streams answered side by side, flow control that stalls only the slow
// stream, back-pressure, per-stream limits and timeouts, client resets reaching the app's abort
// handler, the extended CONNECT tunnel (RFC 8441), the h2c upgrade, idle and drain GOAWAYs —
// without sockets or sleeps.
#include "engine/connectionmanager.h"
#include "engine/http1connection.h"
#include "engine/transport.h"
#include "faketransport.h"
#include "http/exchange.h"
#include "http2/http2connection.h"
#include "pipeline/router.h"
#include "testrouter.h"

#include <config/config.h>

#include <QtTest>

#include <nghttp2/nghttp2.h>

#include <map>
#include <memory>

using namespace Berth;
using Berth::Tests::FakeTransport;
using Berth::Tests::Wire;

namespace {

struct Observed
{
    int aborts = 0;
    int tunnelEnds = 0;
    QByteArray body;
    Http::ExchangeHandle held;
};
Observed *g_observed = nullptr;

// answer: 200 with the path. read: the body, answered at its end. paused: reads, then pauses
// the body at once. hold: keeps the exchange. stream: 1 MiB through back-pressure. tunnel:
// accepts the extended CONNECT and echoes what comes.
class TestApp final : public Pipeline::App
{
public:
    explicit TestApp(QString mode)
        : m_mode(std::move(mode))
    {}
    Pipeline::Outcome handle(Http::Exchange &exchange) override
    {
        Observed &o = *g_observed;
        exchange.setAbortHandler([&o] { ++o.aborts; });
        Http::ExchangeHandle h = exchange.handle();
        if (m_mode == QLatin1String("answer")) {
            const QByteArrayView cookie = exchange.request().header("Cookie");
            exchange.respond(200, "text/plain",
                             cookie.isEmpty() ? exchange.request().path : cookie.toByteArray());
        } else if (m_mode == QLatin1String("read")) {
            exchange.readBody([&o](QByteArrayView chunk) { o.body.append(chunk); },
                              [h] { h->respond(200, "text/plain", "read"); });
        } else if (m_mode == QLatin1String("paused")) {
            exchange.readBody([&o](QByteArrayView chunk) { o.body.append(chunk); }, [] {});
            exchange.pauseBody();
            o.held = h;
        } else if (m_mode == QLatin1String("hold")) {
            o.held = h;
        } else if (m_mode == QLatin1String("stream")) {
            exchange.startResponse(1 << 20);
            auto sent = std::make_shared<qint64>(0);
            auto pump = [h, sent] {
                const QByteArray piece(64 * 1024, 'x');
                while (*sent < (1 << 20)) {
                    *sent += piece.size();
                    if (!h->write(piece))
                        return;
                }
                h->finish();
            };
            exchange.setWritableHandler(pump);
            pump();
        } else if (m_mode == QLatin1String("tunnel")) {
            if (!exchange.startTunnel()) {
                exchange.respond(400, "text/plain", "no tunnel");
            } else {
                exchange.readBody([h](QByteArrayView chunk) { h->write(chunk); },
                                  [&o, h] {
                                      ++o.tunnelEnds;
                                      h->finish();
                                  });
            }
        }
        return Pipeline::Outcome::Answered;
    }

private:
    QString m_mode;
};

const char *Routes = "[routes:line]\n/answer = answer\n/read = read\n/paused = paused\n"
                     "/hold = hold\n/stream = stream\n/tunnel = tunnel\n"
                     "[app:answer]\ncall = test.app\nmode = answer\n"
                     "[app:read]\ncall = test.app\nmode = read\n"
                     "[app:paused]\ncall = test.app\nmode = paused\n"
                     "[app:hold]\ncall = test.app\nmode = hold\n"
                     "[app:stream]\ncall = test.app\nmode = stream\n"
                     "[app:tunnel]\ncall = test.app\nmode = tunnel\n";

// An nghttp2 client session: what the test sends, and what it saw per stream.
class Client
{
public:
    struct Stream
    {
        int status = 0;
        QByteArray body;
        bool ended = false;
        bool closed = false;
        quint32 resetCode = 0;
    };

    // windowUpdates: false for a client that never opens its windows again.
    explicit Client(bool windowUpdates = true)
    {
        nghttp2_session_callbacks *cb = nullptr;
        nghttp2_session_callbacks_new(&cb);
        nghttp2_session_callbacks_set_on_header_callback(
            cb,
            [](nghttp2_session *, const nghttp2_frame *frame, const uint8_t *name, size_t nl,
               const uint8_t *value, size_t vl, uint8_t, void *ud) -> int {
                if (QByteArrayView(reinterpret_cast<const char *>(name), qsizetype(nl)) ==
                    ":status")
                    self(ud)->streams[frame->hd.stream_id].status =
                        QByteArray(reinterpret_cast<const char *>(value), qsizetype(vl)).toInt();
                return 0;
            });
        nghttp2_session_callbacks_set_on_data_chunk_recv_callback(
            cb,
            [](nghttp2_session *, uint8_t, int32_t id, const uint8_t *data, size_t len,
               void *ud) -> int {
                self(ud)->streams[id].body.append(reinterpret_cast<const char *>(data),
                                                  qsizetype(len));
                return 0;
            });
        nghttp2_session_callbacks_set_on_frame_recv_callback(
            cb, [](nghttp2_session *, const nghttp2_frame *frame, void *ud) -> int {
                Client *c = self(ud);
                if (frame->hd.type == NGHTTP2_GOAWAY) {
                    ++c->goaways;
                    c->goawayCode = frame->goaway.error_code;
                    c->goawayLastStream = frame->goaway.last_stream_id;
                }
                if (frame->hd.flags & NGHTTP2_FLAG_END_STREAM &&
                    (frame->hd.type == NGHTTP2_DATA || frame->hd.type == NGHTTP2_HEADERS))
                    c->streams[frame->hd.stream_id].ended = true;
                return 0;
            });
        nghttp2_session_callbacks_set_on_stream_close_callback(
            cb, [](nghttp2_session *, int32_t id, uint32_t code, void *ud) -> int {
                self(ud)->streams[id].closed = true;
                self(ud)->streams[id].resetCode = code;
                return 0;
            });
        nghttp2_option *option = nullptr;
        nghttp2_option_new(&option);
        nghttp2_option_set_no_auto_window_update(option, windowUpdates ? 0 : 1);
        nghttp2_session_client_new2(&session, cb, this, option);
        nghttp2_option_del(option);
        nghttp2_session_callbacks_del(cb);
        nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, nullptr, 0);
    }
    ~Client() { nghttp2_session_del(session); }

    static Client *self(void *ud) { return static_cast<Client *>(ud); }

    int32_t request(QByteArrayView method, QByteArrayView path,
                    QList<std::pair<QByteArray, QByteArray>> extra = {}, bool endStream = true)
    {
        QList<std::pair<QByteArray, QByteArray>> fields{{":method", method.toByteArray()},
                                                        {":path", path.toByteArray()},
                                                        {":scheme", "http"},
                                                        {":authority", "a"}};
        fields += extra;
        std::vector<nghttp2_nv> nva;
        for (auto &[n, v] : fields)
            nva.push_back({reinterpret_cast<uint8_t *>(n.data()),
                           reinterpret_cast<uint8_t *>(v.data()), size_t(n.size()),
                           size_t(v.size()), NGHTTP2_NV_FLAG_NONE});
        if (endStream)
            return nghttp2_submit_request(session, nullptr, nva.data(), nva.size(), nullptr,
                                          nullptr);
        // A body follows: a data source that waits (deferred) until sendData() fills it.
        auto pending = std::make_unique<Pending>();
        nghttp2_data_provider provider{};
        provider.source.ptr = pending.get();
        provider.read_callback = [](nghttp2_session *, int32_t, uint8_t *buf, size_t length,
                                    uint32_t *flags, nghttp2_data_source *source,
                                    void *) -> ssize_t {
            auto *p = static_cast<Pending *>(source->ptr);
            if (p->data.isEmpty() && !p->end)
                return NGHTTP2_ERR_DEFERRED;
            const qsizetype n = qMin(qsizetype(length), p->data.size());
            std::memcpy(buf, p->data.constData(), size_t(n));
            p->data.remove(0, n);
            if (p->data.isEmpty() && p->end)
                *flags |= NGHTTP2_DATA_FLAG_EOF;
            return n;
        };
        const int32_t id =
            nghttp2_submit_request(session, nullptr, nva.data(), nva.size(), &provider, nullptr);
        m_pending[id] = std::move(pending);
        return id;
    }

    // Queues body bytes for a stream opened with a body (sent as the server's windows allow).
    void sendData(int32_t id, QByteArray data, bool end)
    {
        Pending &pending = *m_pending.at(id);
        pending.data += data;
        pending.end = end;
        nghttp2_session_resume_data(session, id);
    }

    QByteArray output()
    {
        QByteArray out;
        for (;;) {
            const uint8_t *data = nullptr;
            const ssize_t n = nghttp2_session_mem_send(session, &data);
            if (n <= 0)
                break;
            out.append(reinterpret_cast<const char *>(data), n);
        }
        return out;
    }
    void input(const QByteArray &bytes)
    {
        nghttp2_session_mem_recv(session, reinterpret_cast<const uint8_t *>(bytes.constData()),
                                 size_t(bytes.size()));
    }

    nghttp2_session *session = nullptr;
    std::map<int32_t, Stream> streams;
    int goaways = 0;
    quint32 goawayCode = 0;
    int32_t goawayLastStream = -1;

private:
    struct Pending
    {
        QByteArray data;
        bool end = false;
    };
    std::map<int32_t, std::unique_ptr<Pending>> m_pending;
};

} // namespace

class TestHttp2Connection : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();
    void streamsAreAnsweredSideBySide();
    void bodyIsEchoedThroughTheWindows();
    void pausedStreamStallsOnlyItself();
    void responseBackPressure();
    void limitsPerStream();
    void bodyTimeoutPerStream();
    void clientResetRunsAbortHandler();
    void plainConnectIs405();
    void extendedConnectTunnel();
    void idleTimeoutSendsGoaway();
    void drainSendsTwoGoaways();
    void h2cUpgradeServesStreamOne();
    void tlsHandOverReadsWhatTlsReadAhead();
    void zeroWindowStallIsResetAtSendTimeout();
    void splitCookiesAreJoined();
    void malformedRequestIsAStreamError();
    void pingFloodIsEnhanceYourCalm();
    void rapidResetIsEnhanceYourCalm();

private:
    void connect(std::unique_ptr<Engine::CodecUpgrade> upgrade = nullptr);
    // Moves bytes both ways until neither side has anything more to say.
    void exchange();
    void advance(qint64 ms);

    std::unique_ptr<Config::Config> m_config;
    std::unique_ptr<Pipeline::Router> m_router;
    std::unique_ptr<Engine::ConnectionManager> m_manager;
    std::shared_ptr<Wire> m_wire;
    std::unique_ptr<Client> m_client;
    Http2::Http2Connection *m_connection = nullptr;
    qint64 m_now = 1'000'000;
    Observed m_observed;
};

void TestHttp2Connection::init()
{
    m_observed = Observed();
    g_observed = &m_observed;
    m_router = Tests::buildTestRouter<TestApp>(Routes, &m_config);
    Engine::EngineSettings settings;
    settings.maxBodyBytes = 1 << 20;
    settings.head.maxUriBytes = 1024;
    settings.http2.initialWindow = 64 * 1024;
    settings.http2.maxHeaderListBytes = 8 * 1024;
    m_manager = std::make_unique<Engine::ConnectionManager>(settings, m_router.get(), nullptr,
                                                            QList<Engine::Listener>());
    m_manager->setClock([this] { return m_now; });
    m_wire = std::make_shared<Wire>();
    m_client = std::make_unique<Client>();
}

void TestHttp2Connection::cleanup()
{
    m_manager.reset();
    QCoreApplication::sendPostedEvents(nullptr, QEvent::DeferredDelete);
    m_client.reset();
    m_router.reset();
    g_observed = nullptr;
}

void TestHttp2Connection::connect(std::unique_ptr<Engine::CodecUpgrade> upgrade)
{
    // The client session sends the connection preface itself.
    m_connection = new Http2::Http2Connection(
        *m_manager, -1, 1, std::make_unique<FakeTransport>(m_wire), {}, std::move(upgrade));
    m_manager->adopt(m_connection);
}

void TestHttp2Connection::exchange()
{
    for (int i = 0; i < 1000; ++i) {
        const QByteArray out = m_client->output();
        if (!out.isEmpty()) {
            m_wire->toServer.append(out);
            if (m_manager->connectionCount() > 0)
                m_connection->onPollEvents(true, false);
        }
        const QByteArray in = std::exchange(m_wire->fromServer, QByteArray());
        if (!in.isEmpty())
            m_client->input(in);
        if (out.isEmpty() && in.isEmpty())
            return;
    }
}

void TestHttp2Connection::advance(qint64 ms)
{
    // As the manager's tick does: the thread's timer wheel, every 100 ms and at the end, runs
    // the checks that are due (a connection is checked only when its timer says so).
    const qint64 end = m_now + ms;
    for (m_now += m_manager->tickMs(); m_now < end; m_now += m_manager->tickMs())
        m_manager->timers().advance(m_now);
    m_now = end;
    m_manager->timers().advance(m_now);
    exchange();
}

void TestHttp2Connection::streamsAreAnsweredSideBySide()
{
    connect();
    const int32_t a = m_client->request("GET", "/answer/a");
    const int32_t b = m_client->request("GET", "/answer/b");
    const int32_t c = m_client->request("HEAD", "/answer/c");
    exchange();
    QCOMPARE(m_client->streams[a].status, 200);
    QCOMPARE(m_client->streams[a].body, QByteArray("/answer/a"));
    QCOMPARE(m_client->streams[b].body, QByteArray("/answer/b"));
    QVERIFY(m_client->streams[c].ended);
    QVERIFY(m_client->streams[c].body.isEmpty()); // HEAD: no DATA
    QCOMPARE(m_manager->connectionCount(), 1);
}

void TestHttp2Connection::bodyIsEchoedThroughTheWindows()
{
    connect();
    exchange();
    // 300 KiB is more than one stream window (64 KiB): only taken bytes reopen it.
    const int32_t id = m_client->request("POST", "/read", {}, false);
    m_client->sendData(id, QByteArray(300 * 1024, 'b'), true);
    exchange();
    QCOMPARE(m_observed.body.size(), 300 * 1024);
    QCOMPARE(m_client->streams[id].body, QByteArray("read"));
}

void TestHttp2Connection::pausedStreamStallsOnlyItself()
{
    connect();
    exchange();
    const int32_t slow = m_client->request("POST", "/paused", {}, false);
    m_client->sendData(slow, QByteArray(200 * 1024, 's'), true);
    exchange();
    // Nothing was taken, so the client could send only the stream window; nothing reached the
    // paused app.
    QCOMPARE(m_observed.body.size(), 0);
    QVERIFY(nghttp2_session_get_stream_remote_window_size(m_client->session, slow) == 0);
    const int32_t other = m_client->request("GET", "/answer/other");
    exchange();
    QCOMPARE(m_client->streams[other].status, 200); // the connection is not stalled
    m_observed.held->resumeBody();
    exchange();
    QCOMPARE(m_observed.body.size(), 200 * 1024);
}

void TestHttp2Connection::responseBackPressure()
{
    connect();
    exchange();
    const int32_t id = m_client->request("GET", "/stream");
    exchange();
    QCOMPARE(m_client->streams[id].status, 200);
    QCOMPARE(m_client->streams[id].body.size(), 1 << 20);
    QVERIFY(m_client->streams[id].ended);
    QCOMPARE(m_observed.aborts, 0);
}

void TestHttp2Connection::limitsPerStream()
{
    connect();
    const int32_t uri = m_client->request("GET", "/answer/" + QByteArray(2000, 'u'));
    const int32_t body = m_client->request("POST", "/read", {{"content-length", "2000000"}}, false);
    const int32_t header = m_client->request("GET", "/answer", {{"x-big", QByteArray(9000, 'h')}});
    const int32_t bomb = m_client->request("GET", "/answer",
                                           {{"x-a", QByteArray(4000, 'a')},
                                            {"x-b", QByteArray(4000, 'b')},
                                            {"x-c", QByteArray(4000, 'c')},
                                            {"x-d", QByteArray(4000, 'd')},
                                            {"x-e", QByteArray(4000, 'e')},
                                            {"x-f", QByteArray(4000, 'f')},
                                            {"x-g", QByteArray(4000, 'g')},
                                            {"x-h", QByteArray(4000, 'h')},
                                            {"x-i", QByteArray(4000, 'i')}});
    const int32_t fine = m_client->request("GET", "/answer/fine");
    exchange();
    QCOMPARE(m_client->streams[uri].status, 414);
    QCOMPARE(m_client->streams[body].status, 413);
    QCOMPARE(m_client->streams[header].status, 431);
    QCOMPARE(m_client->streams[bomb].status, 0); // reset while decoding
    QVERIFY(m_client->streams[bomb].closed);
    QCOMPARE(m_client->streams[fine].status, 200);
    QCOMPARE(m_client->goaways, 0);
}

void TestHttp2Connection::bodyTimeoutPerStream()
{
    connect();
    const int32_t id = m_client->request("POST", "/read", {{"content-length", "100"}}, false);
    m_client->sendData(id, QByteArray(10, 'x'), false);
    exchange();
    advance(m_manager->settings().bodyTimeoutMs - 1);
    QCOMPARE(m_client->streams[id].status, 0);
    advance(1);
    QCOMPARE(m_client->streams[id].status, 408);
    QCOMPARE(m_observed.aborts, 1);
    const int32_t next = m_client->request("GET", "/answer/next");
    exchange();
    QCOMPARE(m_client->streams[next].status, 200);
}

void TestHttp2Connection::clientResetRunsAbortHandler()
{
    connect();
    const int32_t id = m_client->request("GET", "/hold");
    exchange();
    QVERIFY(m_observed.held);
    nghttp2_submit_rst_stream(m_client->session, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
    exchange();
    QCOMPARE(m_observed.aborts, 1);
    QVERIFY(!m_observed.held); // the handle turned null with the stream
    QCOMPARE(m_manager->connectionCount(), 1);
}

void TestHttp2Connection::plainConnectIs405()
{
    connect();
    std::vector<std::pair<QByteArray, QByteArray>> f{{":method", "CONNECT"},
                                                     {":authority", "example.org:443"}};
    std::vector<nghttp2_nv> nva;
    for (auto &[n, v] : f)
        nva.push_back({reinterpret_cast<uint8_t *>(n.data()), reinterpret_cast<uint8_t *>(v.data()),
                       size_t(n.size()), size_t(v.size()), NGHTTP2_NV_FLAG_NONE});
    const int32_t id =
        nghttp2_submit_headers(m_client->session, 0, -1, nullptr, nva.data(), nva.size(), nullptr);
    exchange();
    QCOMPARE(m_client->streams[id].status, 405);
}

void TestHttp2Connection::extendedConnectTunnel()
{
    connect();
    exchange(); // the client learns SETTINGS_ENABLE_CONNECT_PROTOCOL
    QCOMPARE(nghttp2_session_get_remote_settings(m_client->session,
                                                 NGHTTP2_SETTINGS_ENABLE_CONNECT_PROTOCOL),
             1u);
    const int32_t id = m_client->request("CONNECT", "/tunnel", {{":protocol", "websocket"}}, false);
    exchange();
    QCOMPARE(m_client->streams[id].status, 200);
    QVERIFY(!m_client->streams[id].ended);
    m_client->sendData(id, "hello tunnel", false);
    exchange();
    QCOMPARE(m_client->streams[id].body, QByteArray("hello tunnel"));
    m_client->sendData(id, QByteArray(), true); // the client's end: the app finishes too
    exchange();
    QCOMPARE(m_observed.tunnelEnds, 1);
    QVERIFY(m_client->streams[id].ended);
    QCOMPARE(m_observed.aborts, 0);
}

void TestHttp2Connection::idleTimeoutSendsGoaway()
{
    connect();
    const int32_t id = m_client->request("GET", "/answer");
    exchange();
    QCOMPARE(m_client->streams[id].status, 200);
    advance(m_manager->settings().idleTimeoutMs - 1);
    QCOMPARE(m_client->goaways, 0);
    advance(1);
    QCOMPARE(m_client->goaways, 1);
    QCOMPARE(m_client->goawayCode, quint32(NGHTTP2_NO_ERROR));
}

void TestHttp2Connection::drainSendsTwoGoaways()
{
    connect();
    const int32_t id = m_client->request("GET", "/hold");
    exchange();
    m_connection->drain();
    exchange(); // the notice, its PING, the PING's ACK, the final GOAWAY
    QCOMPARE(m_client->goaways, 2);
    QCOMPARE(m_client->goawayLastStream, id);
    QCOMPARE(m_manager->connectionCount(), 1); // a stream is in flight
    m_observed.held->respond(200, "text/plain", "late");
    exchange();
    QCOMPARE(m_client->streams[id].body, QByteArray("late"));
    QCOMPARE(m_manager->connectionCount(), 1); // lingering after the last stream
    advance(m_manager->settings().lingerTimeoutMs);
    QCOMPARE(m_manager->connectionCount(), 0);
}

void TestHttp2Connection::h2cUpgradeServesStreamOne()
{
    auto upgrade = std::make_unique<Engine::CodecUpgrade>();
    upgrade->switchingResponse = "HTTP/1.1 101 Switching Protocols\r\n\r\n";
    upgrade->method = "GET";
    upgrade->target = "/answer/upgraded";
    upgrade->host = "a";
    connect(std::move(upgrade));
    QVERIFY(m_wire->fromServer.startsWith("HTTP/1.1 101 "));
    m_wire->fromServer.remove(0, m_wire->fromServer.indexOf("\r\n\r\n") + 4);
    // The client side of an upgrade: stream 1 is half-closed already.
    QCOMPARE(nghttp2_session_upgrade2(m_client->session, nullptr, 0, 0, nullptr), 0);
    exchange();
    QCOMPARE(m_client->streams[1].status, 200);
    QCOMPARE(m_client->streams[1].body, QByteArray("/answer/upgraded"));
}

void TestHttp2Connection::tlsHandOverReadsWhatTlsReadAhead()
{
    // Over TLS a connection starts as HTTP/1 and hands over to HTTP/2 (ALPN "h2") once its
    // first bytes are in. With OpenSSL's read-ahead, the client's bytes beyond the first read
    // event sit in the transport, announced by no socket event: the HTTP/2 connection reads
    // them through posted reads, and the connection it replaced, whose transport it took,
    // touches that transport no more (it once did, and crashed the worker).
    Http2::registerHttp2Codec(true);
    m_wire->alpn = "h2";
    m_wire->unannounced = true;
    auto *first =
        new Engine::Http1Connection(*m_manager, -1, 1, std::make_unique<FakeTransport>(m_wire));
    m_manager->adopt(first);
    const int32_t id = m_client->request("POST", "/read", {}, false);
    m_client->sendData(id, QByteArray(60 * 1024, 'b'), true);
    m_wire->toServer = m_client->output(); // more than one read event takes
    QVERIFY(m_wire->toServer.size() > 4 * 16 * 1024 - 4096);
    first->onPollEvents(true, false);
    QVERIFY(m_observed.body.size() < 60 * 1024); // not all in that event's reads
    QTRY_COMPARE_WITH_TIMEOUT(m_observed.body.size(), 60 * 1024, 5000);
    QVERIFY(m_wire->toServer.isEmpty());
    m_client->input(std::exchange(m_wire->fromServer, QByteArray()));
    QCOMPARE(m_client->streams[id].status, 200);
    QCOMPARE(m_client->streams[id].body, QByteArray("read"));
    Http2::registerHttp2Codec(false);
}

void TestHttp2Connection::zeroWindowStallIsResetAtSendTimeout()
{
    m_client = std::make_unique<Client>(false);
    connect();
    const int32_t id = m_client->request("GET", "/stream");
    exchange();
    QCOMPARE(m_client->streams[id].status, 200);
    QCOMPARE(m_client->streams[id].body.size(), 65535); // the default windows, then a stall
    advance(m_manager->settings().sendTimeoutMs - 1);
    QVERIFY(!m_client->streams[id].closed);
    advance(1);
    QVERIFY(m_client->streams[id].closed);
    QCOMPARE(m_client->streams[id].resetCode, quint32(NGHTTP2_CANCEL));
    QCOMPARE(m_observed.aborts, 1);
    QCOMPARE(m_manager->connectionCount(), 1); // other streams may go on
}

void TestHttp2Connection::splitCookiesAreJoined()
{
    connect();
    const int32_t id = m_client->request("GET", "/answer", {{"cookie", "a=1"}, {"cookie", "b=2"}});
    exchange();
    QCOMPARE(m_client->streams[id].body, QByteArray("a=1; b=2"));
}

void TestHttp2Connection::malformedRequestIsAStreamError()
{
    connect();
    exchange();
    // A connection-specific field (RFC 9113 §8.2.2): nghttp2's client sends it as asked.
    const int32_t bad = m_client->request("GET", "/answer", {{"connection", "keep-alive"}});
    exchange();
    QVERIFY(m_client->streams[bad].closed);
    QCOMPARE(m_client->streams[bad].status, 0);
    QCOMPARE(m_client->streams[bad].resetCode, quint32(NGHTTP2_PROTOCOL_ERROR));
    const int32_t good = m_client->request("GET", "/answer/good");
    exchange();
    QCOMPARE(m_client->streams[good].status, 200);
    QCOMPARE(m_client->goaways, 0);
}

void TestHttp2Connection::pingFloodIsEnhanceYourCalm()
{
    connect();
    exchange();
    for (int i = 0; i < 150; ++i)
        nghttp2_submit_ping(m_client->session, NGHTTP2_FLAG_NONE, nullptr);
    exchange();
    QCOMPARE(m_client->goaways, 1);
    QCOMPARE(m_client->goawayCode, quint32(NGHTTP2_ENHANCE_YOUR_CALM));
    // A steady client is not a flood: the window starts again each second.
    cleanup();
    init();
    connect();
    exchange();
    for (int second = 0; second < 3; ++second) {
        for (int i = 0; i < 50; ++i)
            nghttp2_submit_ping(m_client->session, NGHTTP2_FLAG_NONE, nullptr);
        exchange();
        advance(1000);
    }
    QCOMPARE(m_client->goaways, 0);
}

void TestHttp2Connection::rapidResetIsEnhanceYourCalm()
{
    connect();
    exchange();
    for (int i = 0; i < 300 && m_client->goaways == 0; ++i) {
        const int32_t id = m_client->request("GET", "/hold");
        exchange(); // opened (and served) first, then reset: the CVE-2023-44487 loop
        nghttp2_submit_rst_stream(m_client->session, NGHTTP2_FLAG_NONE, id, NGHTTP2_CANCEL);
        exchange();
    }
    QCOMPARE(m_client->goaways, 1);
    QCOMPARE(m_client->goawayCode, quint32(NGHTTP2_ENHANCE_YOUR_CALM));
}

QTEST_GUILESS_MAIN(TestHttp2Connection)
#include "tst_http2connection.moc"
