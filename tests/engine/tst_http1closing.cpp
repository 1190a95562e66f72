// How an HTTP/1 connection ends, through the fake transport of http1harness.h: the lingering
// close and when it is skipped, the FIN riding with the last bytes (MSG_MORE), input no socket
// event announces (TLS read-ahead: posted reads), and a client leaving mid-body.
#include "http1harness.h"

#include <sys/socket.h>
#include <unistd.h>

using namespace Berth;
using namespace Berth::Tests;

class TestHttp1Closing : public QObject, public Http1Harness
{
    Q_OBJECT

private Q_SLOTS:
    void init() { setUp(); }
    void cleanup() { tearDown(); }
    void lingeringCloseSwallowsThenCloses();
    void closeRequestedByClientClosesAtOnce();
    void aClosingConnectionsLastBytesGoOutWithItsFin();
    void aClosingStreamUnderBackPressureStillEndsWithItsFin();
    void inputNoSocketEventAnnouncesIsReadWithoutOne();
    void clientLeavingMidBodyIsNoticedAtOnce();
};

void TestHttp1Closing::lingeringCloseSwallowsThenCloses()
{
    feed("GET /answer HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    QVERIFY(m_wire->serverShutdown);
    QCOMPARE(m_manager->connectionCount(), 1);
    feed("more bytes the client still sends");
    QVERIFY(m_wire->toServer.isEmpty()); // swallowed, not left to cause a reset
    QCOMPARE(m_manager->connectionCount(), 1);
    advance(2'000);
    QCOMPARE(m_manager->connectionCount(), 0);
}

void TestHttp1Closing::closeRequestedByClientClosesAtOnce()
{
    // A real socket (plain TCP's stand-in): the client asked for the close and sent nothing
    // else, so there is nothing to linger for; with bytes after its request, it lingers.
    for (const bool more : {false, true}) {
        int fds[2];
        QCOMPARE(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
        auto *c = new Engine::Http1Connection(*m_manager, fds[0], 7);
        m_manager->adopt(c);
        const int before = m_manager->connectionCount();
        QByteArray request = "GET /answer HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n";
        if (more)
            request += "GET /answer HTTP/1.1\r\n"; // a pipelining client: it may send more
        QCOMPARE(::write(fds[1], request.constData(), size_t(request.size())),
                 ssize_t(request.size()));
        c->onPollEvents(true, false);
        QCOMPARE(m_manager->connectionCount(), more ? before : before - 1);
        char reply[4096];
        const ssize_t n = ::read(fds[1], reply, sizeof(reply));
        QVERIFY(n > 0);
        QVERIFY(QByteArrayView(reply, n).startsWith("HTTP/1.1 200 OK"));
        QVERIFY(QByteArrayView(reply, n).contains("Connection: close"));
        QCOMPARE(::read(fds[1], reply, sizeof(reply)), ssize_t(0)); // then the FIN
        if (more) {
            advance(2'000); // the lingering close ends
            QCOMPARE(m_manager->connectionCount(), before - 1);
        }
        ::close(fds[1]);
    }
}

void TestHttp1Closing::aClosingConnectionsLastBytesGoOutWithItsFin()
{
    // Keep-alive: a response goes out at once, nothing held back for more.
    feed("GET /answer/1 HTTP/1.1\r\nHost: a\r\n\r\n");
    QVERIFY(!m_wire->more.isEmpty());
    QVERIFY(!m_wire->more.contains(true));
    // The connection's last response is written with MSG_MORE: the FIN that follows at once
    // then leaves in its last segment (one packet and one ACK less per connection).
    m_wire->more.clear();
    feed("GET /answer/2 HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    QVERIFY(!m_wire->more.isEmpty());
    QVERIFY(!m_wire->more.contains(false));
    QVERIFY(m_wire->serverShutdown); // the FIN, right after
}

void TestHttp1Closing::aClosingStreamUnderBackPressureStillEndsWithItsFin()
{
    // A response that ends the connection and meets a full socket: every piece but none held
    // past the end, the FIN as soon as the last byte is out.
    m_wire->writeRoom = 100 * 1024;
    feed("GET /stream HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n");
    QVERIFY(!m_wire->serverShutdown);
    for (int i = 0; i < 100 && !m_wire->serverShutdown; ++i) {
        m_wire->writeRoom = 128 * 1024;
        m_connection->onPollEvents(false, true);
    }
    QVERIFY(m_wire->serverShutdown);
    const qsizetype headEnd = m_wire->fromServer.indexOf("\r\n\r\n") + 4;
    QCOMPARE(m_wire->fromServer.size() - headEnd, qsizetype(1 << 20));
    QVERIFY(m_wire->more.last()); // the last piece went out with the FIN
}

void TestHttp1Closing::inputNoSocketEventAnnouncesIsReadWithoutOne()
{
    // 200 KB of pipelined requests in one event: a read event takes at most four rounds (64 KB)
    // and stops at the input cap. Over a socket, epoll announces the rest; what TLS read ahead
    // is announced by nothing, so the connection posts itself the reads that epoll would have
    // (Connection::postRead()).
    m_wire->unannounced = true;
    const QByteArray request = "GET /answer HTTP/1.1\r\nHost: a\r\n\r\n";
    const int count = 200'000 / int(request.size());
    feed(request.repeated(count));
    QVERIFY(m_wire->fromServer.count("HTTP/1.1 200 OK") < count); // not all in its own reads
    QTRY_COMPARE_WITH_TIMEOUT(m_wire->fromServer.count("HTTP/1.1 200 OK"), count, 5000);
    QVERIFY(m_wire->toServer.isEmpty());
}

void TestHttp1Closing::clientLeavingMidBodyIsNoticedAtOnce()
{
    feed("POST /read HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n" + QByteArray(40, 'b'));
    QCOMPARE(m_observed.body.size(), 40);
    clientCloses();
    // No body_timeout needed: the connection is gone and the app was told.
    QCOMPARE(m_manager->connectionCount(), 0);
    QCOMPARE(m_observed.aborts, 1);
    QVERIFY(!m_observed.handle);
    QCOMPARE(m_observed.liveAttributes, 0);
}

QTEST_GUILESS_MAIN(TestHttp1Closing)
#include "tst_http1closing.moc"
