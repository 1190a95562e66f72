// [http2] keys as the engine gets them (EngineSettings::fromConfig): the defaults of the schema,
// explicit values, and max_header_list_bytes following [limits] max_header_bytes when unset.
#include "engine/enginesettings.h"

#include <config/config.h>

#include <QtTest>

using namespace Berth;

class TestHttp2Settings : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void defaults();
    void explicitValues();
    void headerListFollowsLimits();

private:
    static Engine::EngineSettings settings(const char *text)
    {
        const Config::Config config =
            Config::Config::fromText(QString::fromLatin1(text), QStringLiteral("t.conf"));
        return Engine::EngineSettings::fromConfig(config);
    }
};

void TestHttp2Settings::defaults()
{
    const Engine::Http2Settings h2 = settings("").http2;
    QVERIFY(h2.enabled);
    QVERIFY(h2.h2c);
    QCOMPARE(h2.maxConcurrentStreams, 100);
    QCOMPARE(h2.initialWindow, 64 * 1024);
    QCOMPARE(h2.connectionWindow, 1024 * 1024);
    QCOMPARE(h2.maxFrameBytes, 16 * 1024);
    QCOMPARE(h2.maxHeaderListBytes, 32 * 1024); // [limits] max_header_bytes' default
}

void TestHttp2Settings::explicitValues()
{
    const Engine::EngineSettings s = settings("[http2]\nenabled = no\nh2c = no\n"
                                              "max_concurrent_streams = 7\ninitial_window = 1M\n"
                                              "connection_window = 4M\nmax_frame_bytes = 32K\n"
                                              "max_header_list_bytes = 4K\n"
                                              "[server]\ngraceful_timeout = 3s\n");
    QVERIFY(!s.http2.enabled);
    QVERIFY(!s.http2.h2c);
    QCOMPARE(s.http2.maxConcurrentStreams, 7);
    QCOMPARE(s.http2.initialWindow, 1024 * 1024);
    QCOMPARE(s.http2.connectionWindow, 4 * 1024 * 1024);
    QCOMPARE(s.http2.maxFrameBytes, 32 * 1024);
    QCOMPARE(s.http2.maxHeaderListBytes, 4 * 1024);
    QCOMPARE(s.gracefulTimeoutMs, 3000);
}

void TestHttp2Settings::headerListFollowsLimits()
{
    QCOMPARE(settings("[limits]\nmax_header_bytes = 12K\n").http2.maxHeaderListBytes, 12 * 1024);
}

QTEST_GUILESS_MAIN(TestHttp2Settings)
#include "tst_http2settings.moc"
