// An event-loop thread on a real listening socket: it says it stopped accepting only once it has
// left the listener (a reload answers on that word, and the next connection must meet the new
// generation), a drain asked before its loop runs holds from the start, and it drains to its end.
#include "engine/eventloopthread.h"
#include "http/exchange.h"
#include "loopbacksocket.h"
#include "pipeline/appregistry.h"
#include "pipeline/router.h"

#include <config/config.h>

#include <QtTest>

#include <cerrno>
#include <memory>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

using namespace Berth;

namespace {

class HelloApp final : public Pipeline::App
{
public:
    Pipeline::Outcome handle(Http::Exchange &exchange) override
    {
        exchange.respond(200, "text/plain", "hello");
        return Pipeline::Outcome::Answered;
    }
};

// The whole answer to one `Connection: close` request (blocking, 5 s at most).
QByteArray askAndReadToEnd(int client)
{
    const QByteArray request = "GET /hello HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
    if (::send(client, request.constData(), size_t(request.size()), MSG_NOSIGNAL) !=
        ssize_t(request.size()))
        return {};
    QByteArray in;
    for (;;) {
        pollfd p{client, POLLIN, 0};
        if (::poll(&p, 1, 5000) <= 0)
            return in;
        char buffer[4096];
        const ssize_t n = ::recv(client, buffer, sizeof(buffer), 0);
        if (n <= 0)
            return in;
        in.append(buffer, n);
    }
}

// Takes the next connection off the listener here, waiting up to 5 s for it to arrive.
int acceptHere(int listenFd)
{
    pollfd p{listenFd, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0)
        return -1;
    return ::accept4(listenFd, nullptr, nullptr, SOCK_CLOEXEC);
}

} // namespace

class TestEventLoopThread : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void init();
    void cleanup();
    void saysItStoppedAcceptingOnlyOnceItLeftTheListener();
    void aDrainBeforeTheLoopRunsHoldsFromTheStart();

private:
    std::unique_ptr<Core::EventLoopThread> makeThread();
    // Watches the thread's two signals in this (the test's) thread.
    void watch(Core::EventLoopThread *thread);

    std::unique_ptr<Config::Config> m_config;
    std::unique_ptr<Pipeline::Router> m_router;
    int m_listenFd = -1;
    quint16 m_port = 0;
    bool m_stoppedAccepting = false;
    bool m_drained = false;
};

void TestEventLoopThread::init()
{
    Pipeline::AppRegistry registry;
    registry.add(QStringLiteral("test.hello"), [](const Pipeline::AppSetup &) {
        return std::unique_ptr<Pipeline::App>(std::make_unique<HelloApp>());
    });
    m_config = std::make_unique<Config::Config>(Config::Config::fromText(
        QStringLiteral("[routes:line]\n/hello = hello\n[app:hello]\ncall = test.hello\n"),
        QStringLiteral("t.conf")));
    m_router = Pipeline::Router::build(*m_config, registry, nullptr);
    QVERIFY(m_router);
    m_listenFd = Tests::listenOn("127.0.0.1", &m_port);
    QVERIFY(m_listenFd >= 0);
    m_stoppedAccepting = false;
    m_drained = false;
}

void TestEventLoopThread::cleanup()
{
    if (m_listenFd >= 0)
        ::close(m_listenFd);
    m_listenFd = -1;
    m_router.reset();
}

std::unique_ptr<Core::EventLoopThread> TestEventLoopThread::makeThread()
{
    Engine::Listener listener;
    listener.fd = m_listenFd;
    return std::make_unique<Core::EventLoopThread>(Engine::EngineSettings(), m_router.get(),
                                                   nullptr, QList<Engine::Listener>{listener}, 0);
}

void TestEventLoopThread::watch(Core::EventLoopThread *thread)
{
    connect(
        thread, &Core::EventLoopThread::stoppedAccepting, this,
        [this] { m_stoppedAccepting = true; }, Qt::QueuedConnection);
    connect(
        thread, &Core::EventLoopThread::drained, this, [this] { m_drained = true; },
        Qt::QueuedConnection);
}

void TestEventLoopThread::saysItStoppedAcceptingOnlyOnceItLeftTheListener()
{
    auto thread = makeThread();
    watch(thread.get());
    thread->start();
    // It serves.
    const int first = Tests::connectToLoopback(m_port);
    QVERIFY(first >= 0);
    QVERIFY(askAndReadToEnd(first).startsWith("HTTP/1.1 200 OK\r\n"));
    ::close(first);
    QVERIFY(!thread->hasStoppedAccepting());

    thread->beginDrain();
    QTRY_VERIFY_WITH_TIMEOUT(m_stoppedAccepting, 5000);
    QVERIFY(thread->hasStoppedAccepting());
    // From its word on, a new connection waits in the backlog for whoever still accepts: here,
    // the test. Had the thread still been on the listener, it would have taken it first.
    const int second = Tests::connectToLoopback(m_port);
    QVERIFY(second >= 0);
    const int taken = acceptHere(m_listenFd);
    QVERIFY2(taken >= 0, "the draining thread took the connection");
    ::close(taken);
    ::close(second);
    QTRY_VERIFY_WITH_TIMEOUT(m_drained, 5000);
    thread->quit();
    QVERIFY(thread->wait(5000));
}

void TestEventLoopThread::aDrainBeforeTheLoopRunsHoldsFromTheStart()
{
    auto thread = makeThread();
    watch(thread.get());
    thread->beginDrain();
    QVERIFY(thread->hasStoppedAccepting()); // nothing to wait for: no loop ever accepted
    thread->start();
    const int client = Tests::connectToLoopback(m_port);
    QVERIFY(client >= 0);
    const int taken = acceptHere(m_listenFd);
    QVERIFY2(taken >= 0, "a thread drained before its start took a connection");
    ::close(taken);
    ::close(client);
    QTRY_VERIFY_WITH_TIMEOUT(m_drained, 5000);
    QVERIFY(m_stoppedAccepting);
    thread->quit();
    QVERIFY(thread->wait(5000));
}

QTEST_GUILESS_MAIN(TestEventLoopThread)
#include "tst_eventloopthread.moc"
