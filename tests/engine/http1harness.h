// The HTTP/1 connection's test harness: a fake transport (both directions of a pretend socket
// in a Wire), test apps by mode, and a connection manager with an injected clock, so that the
// engine runs without sockets or sleeps. Shared by tst_http1connection and tst_http1closing.
#pragma once

#include "engine/connectionmanager.h"
#include "engine/http1connection.h"
#include "engine/threadbuffers.h"
#include "engine/transport.h"
#include "faketransport.h"
#include "http/exchange.h"
#include "pipeline/router.h"
#include "testrouter.h"

#include <config/config.h>

#include <QtTest>

#include <memory>
#include <stdexcept>

namespace Berth::Tests {

// What the test apps saw.
struct Observed
{
    int aborts = 0;
    QByteArray body;
    int writableCalls = 0;
    Http::ExchangeHandle handle;
    int liveAttributes = 0; // request attributes the apps set that are not released yet
    int tunnelEnds = 0;     // the peer's end of a tunnel, seen by the tunnel's owner
};
inline Observed *g_observed = nullptr;

// A request attribute that counts itself, standing for what a feature owns for one exchange
// (berth.session's session): the engine must release it when the exchange ends.
struct CountedAttribute
{
    explicit CountedAttribute(int *counter)
        : live(counter)
    {
        ++*live;
    }
    CountedAttribute(CountedAttribute &&other) noexcept
        : live(std::exchange(other.live, nullptr))
    {}
    ~CountedAttribute()
    {
        if (live)
            --*live;
    }
    int *live;
};

// Apps by mode: answer (200 with the path), read (reads the body, answers at its end),
// stream (writes 1 MiB through back-pressure), throw_later (throws from a timer),
// hold (keeps the exchange: answers only when the test says so).
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
        o.handle = exchange.handle();
        exchange.request().attributes.set(CountedAttribute(&o.liveAttributes));
        if (m_mode == QLatin1String("answer")) {
            exchange.respond(200, "text/plain", exchange.request().path);
        } else if (m_mode == QLatin1String("read")) {
            Http::ExchangeHandle h = exchange.handle();
            exchange.readBody([&o](QByteArrayView chunk) { o.body.append(chunk); },
                              [h] { h->respond(200, "text/plain", "read"); });
        } else if (m_mode == QLatin1String("stream")) {
            exchange.startResponse(1 << 20);
            auto sent = std::make_shared<qint64>(0);
            Http::ExchangeHandle h = exchange.handle();
            auto pump = [h, sent] {
                const QByteArray piece(64 * 1024, 'x');
                while (*sent < (1 << 20)) {
                    *sent += piece.size();
                    if (!h->write(piece))
                        return;
                }
                h->finish();
            };
            exchange.setWritableHandler([&o, pump] {
                ++o.writableCalls;
                pump();
            });
            pump();
        } else if (m_mode == QLatin1String("tunnel")) {
            // Echoes the tunnel's bytes; "bye" ends our direction, "big" writes 1 MiB.
            if (!exchange.startTunnel()) {
                exchange.respond(400, "text/plain", "no tunnel");
                return Pipeline::Outcome::Answered;
            }
            Http::ExchangeHandle h = exchange.handle();
            exchange.readBody(
                [&o, h](QByteArrayView chunk) {
                    o.body.append(chunk);
                    if (chunk.contains("bye"))
                        h->finish();
                    else if (chunk.contains("big"))
                        h->write(QByteArray(1 << 20, 'x'));
                    else
                        h->write(chunk);
                },
                [&o, h] {
                    ++o.tunnelEnds;
                    if (h)
                        h->finish();
                });
        } else if (m_mode == QLatin1String("throw_now")) {
            throw std::runtime_error("failure in handle()");
        } else if (m_mode == QLatin1String("throw_later")) {
            exchange.runAfter(0, [] { throw std::runtime_error("late failure"); });
        }
        return Pipeline::Outcome::Answered;
    }

private:
    QString m_mode;
};

const char *Routes = "[routes:line]\n/answer = answer\n/read = read\n/stream = stream\n"
                     "/throw = throw_later\n/hold = hold\n/throw-now = throw_now\n"
                     "/tunnel = tunnel\n"
                     "[app:tunnel]\ncall = test.app\nmode = tunnel\n"
                     "[app:answer]\ncall = test.app\nmode = answer\n"
                     "[app:read]\ncall = test.app\nmode = read\n"
                     "[app:stream]\ncall = test.app\nmode = stream\n"
                     "[app:throw_later]\ncall = test.app\nmode = throw_later\n"
                     "[app:hold]\ncall = test.app\nmode = hold\n"
                     "[app:throw_now]\ncall = test.app\nmode = throw_now\n";

// The fixture both test classes derive from: setUp() before each test, tearDown() after.
class Http1Harness
{
protected:
    void setUp()
    {
        m_observed = Observed();
        g_observed = &m_observed;
        m_router = buildTestRouter<TestApp>(Routes, &m_config);
        Engine::EngineSettings settings;
        settings.headerTimeoutMs = 10'000;
        settings.idleTimeoutMs = 75'000;
        settings.lingerTimeoutMs = 2'000;
        settings.maxBodyBytes = 1024;
        m_manager = std::make_unique<Engine::ConnectionManager>(settings, m_router.get(), nullptr,
                                                                QList<Engine::Listener>());
        m_manager->setClock([this] { return m_now; });
        m_wire = std::make_shared<Wire>();
        m_connection = openConnection();
    }

    void tearDown()
    {
        m_manager.reset();
        QCoreApplication::sendPostedEvents(nullptr, QEvent::DeferredDelete);
        m_router.reset();
        g_observed = nullptr;
    }

    Engine::Http1Connection *openConnection()
    {
        auto *c =
            new Engine::Http1Connection(*m_manager, -1, 1, std::make_unique<FakeTransport>(m_wire));
        m_manager->adopt(c);
        return c;
    }

    void feed(const QByteArray &bytes)
    {
        m_wire->toServer.append(bytes);
        m_connection->onPollEvents(true, false);
    }

    void clientCloses()
    {
        m_wire->clientClosed = true;
        m_connection->onPollEvents(true, false);
    }

    void advance(qint64 ms)
    {
        // As the manager's tick does: the thread's timer wheel, every 100 ms and at the end, runs
        // the checks that are due (a connection is checked only when its timer says so).
        const qint64 end = m_now + ms;
        for (m_now += m_manager->tickMs(); m_now < end; m_now += m_manager->tickMs())
            m_manager->timers().advance(m_now);
        m_now = end;
        m_manager->timers().advance(m_now);
    }

    std::unique_ptr<Config::Config> m_config;
    std::unique_ptr<Pipeline::Router> m_router;
    std::unique_ptr<Engine::ConnectionManager> m_manager;
    std::shared_ptr<Wire> m_wire;
    Engine::Http1Connection *m_connection = nullptr;
    qint64 m_now = 1'000'000;
    Observed m_observed;
};

} // namespace Berth::Tests
