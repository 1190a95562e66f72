// CEF security log: header and extension escaping, request fields, the cef.log sink.
#include "http/request.h"
#include "log/cef.h"
#include "log/logging.h"

#include <QDateTime>
#include <QFile>
#include <QRegularExpression>
#include <QTemporaryDir>
#include <QtTest>

#include <cstdio>
#include <unistd.h>

using namespace Berth;

using Extra = QList<QPair<QString, QString>>;

class TestCef : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void header_data();
    void header();
    void extensionEscaping_data();
    void extensionEscaping();
    void keysAreSanitized();
    void requestFields();
    void withoutRequest();
    void longValuesAreCut();
    void oneLinePerEvent();

private:
    QByteArray lastLine();
    void stderrWithoutLogDir();

    QTemporaryDir m_dir;
    qint64 m_readOffset = 0;
};

QByteArray TestCef::lastLine()
{
    Log::Logging::flushAll();
    QFile file(m_dir.filePath(QStringLiteral("cef.log")));
    if (!file.open(QIODevice::ReadOnly))
        return {};
    file.seek(m_readOffset);
    const QByteArray added = file.readAll();
    m_readOffset += added.size();
    QList<QByteArray> lines = added.split('\n');
    while (!lines.isEmpty() && lines.last().isEmpty())
        lines.removeLast();
    return lines.isEmpty() ? QByteArray() : lines.last();
}

// With no log_dir the events go to standard error, one "CEF:0|..." line each. Run by
// initTestCase, before the cef.log sink exists.
void TestCef::stderrWithoutLogDir()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("stderr.txt"));
    std::fflush(stderr);
    const int saved = ::dup(STDERR_FILENO);
    FILE *capture = std::fopen(QFile::encodeName(path).constData(), "w");
    QVERIFY(capture);
    ::dup2(fileno(capture), STDERR_FILENO);

    // Before setup (unit tests, early start-up): written directly.
    Log::logCef(QStringLiteral("Early"), 1, nullptr, QString(), QStringLiteral("Early"));
    // After setup without a log_dir: through the stderr sink.
    QString error;
    const bool ok = Log::Logging::setup(QString(), &error);
    Log::logCef(QStringLiteral("Late"), 2, nullptr, QStringLiteral("bob"), QStringLiteral("Late"));
    Log::Logging::flushAll();
    Log::Logging::shutdown();

    std::fflush(stderr);
    ::dup2(saved, STDERR_FILENO);
    ::close(saved);
    std::fclose(capture);
    QVERIFY2(ok, qPrintable(error));

    QFile file(path);
    QVERIFY(file.open(QIODevice::ReadOnly));
    const QList<QByteArray> lines = file.readAll().trimmed().split('\n');
    QCOMPARE(lines.size(), 2);
    QVERIFY2(lines[0].startsWith("CEF:0|Mozilla|Berth|" BERTH_VERSION "|Early|Early|1|rt="),
             lines[0].constData());
    QVERIFY2(lines[1].startsWith("CEF:0|Mozilla|Berth|" BERTH_VERSION "|Late|Late|2|rt="),
             lines[1].constData());
    QVERIFY(lines[1].endsWith(" suser=bob"));
}

void TestCef::initTestCase()
{
    stderrWithoutLogDir();
    if (QTest::currentTestFailed())
        return;
    QVERIFY(m_dir.isValid());
    QString error;
    QVERIFY2(Log::Logging::setup(m_dir.path(), &error), qPrintable(error));
    QVERIFY(Log::Logging::cefLog());
    QVERIFY(QFile::exists(m_dir.filePath(QStringLiteral("cef.log"))));
}

void TestCef::cleanupTestCase()
{
    Log::Logging::shutdown();
}

void TestCef::header_data()
{
    QTest::addColumn<QString>("message");
    QTest::addColumn<QString>("signature");
    QTest::addColumn<int>("severity");
    QTest::addColumn<QByteArray>("expected"); // after "CEF:0|Mozilla|Berth|<version>|"

    QTest::newRow("plain") << "Authentication failure"
                           << "AuthFail" << 5 << QByteArray("AuthFail|Authentication failure|5|");
    QTest::newRow("pipe-escaped") << "a|b"
                                  << "S|x" << 3 << QByteArray("S\\|x|a\\|b|3|");
    QTest::newRow("backslash-escaped") << "c:\\dir"
                                       << "Sig\\" << 3 << QByteArray("Sig\\\\|c:\\\\dir|3|");
    QTest::newRow("newline-becomes-space") << "line1\nCEF:0|forged"
                                           << "X" << 3 << QByteArray("X|line1 CEF:0\\|forged|3|");
    QTest::newRow("equals-not-escaped-in-header") << "a=b"
                                                  << "X" << 3 << QByteArray("X|a=b|3|");
    QTest::newRow("severity-low") << "m"
                                  << "X" << -4 << QByteArray("X|m|0|");
    QTest::newRow("severity-high") << "m"
                                   << "X" << 42 << QByteArray("X|m|10|");
    QTest::newRow("default-signature") << "m"
                                       << "" << 5 << QByteArray("AuthFail|m|5|");
    QTest::newRow("utf8") << "Zugriff verweigert für ü"
                          << "X" << 5
                          << QString::fromUtf8("X|Zugriff verweigert für ü|5|").toUtf8();
}

void TestCef::header()
{
    QFETCH(QString, message);
    QFETCH(QString, signature);
    QFETCH(int, severity);
    QFETCH(QByteArray, expected);
    Log::logCef(message, severity, nullptr, QString(), signature);
    const QByteArray line = lastLine();
    const QByteArray prefix = "CEF:0|Mozilla|Berth|" BERTH_VERSION "|";
    QVERIFY2(line.startsWith(prefix + expected), line.constData());
    QVERIFY2(QRegularExpression(QStringLiteral("\\|rt=\\d{13}$"))
                 .match(QString::fromUtf8(line))
                 .hasMatch(),
             line.constData());
}

void TestCef::extensionEscaping_data()
{
    QTest::addColumn<QString>("value");
    QTest::addColumn<QByteArray>("expected");
    QTest::newRow("plain") << "hello world" << QByteArray("msg=hello world");
    QTest::newRow("equals") << "a=b" << QByteArray("msg=a\\=b");
    QTest::newRow("backslash") << "c:\\x" << QByteArray("msg=c:\\\\x");
    QTest::newRow("lf") << "one\ntwo" << QByteArray("msg=one\\ntwo");
    QTest::newRow("cr") << "one\rtwo" << QByteArray("msg=one\\rtwo");
    QTest::newRow("crlf-forged-key")
        << "x\r\nsuser=admin" << QByteArray("msg=x\\r\\nsuser\\=admin");
    QTest::newRow("pipe-kept") << "a|b" << QByteArray("msg=a|b");
    QTest::newRow("escape-char") << "a\x1b[2Jb" << QByteArray("msg=a [2Jb");
    QTest::newRow("backslash-then-n") << "\\n" << QByteArray("msg=\\\\n");
}

void TestCef::extensionEscaping()
{
    QFETCH(QString, value);
    QFETCH(QByteArray, expected);
    Log::logCef(QStringLiteral("m"), 1, nullptr, QString(), QStringLiteral("X"),
                {{QStringLiteral("msg"), value}});
    const QByteArray line = lastLine();
    QVERIFY2(line.endsWith(" " + expected), line.constData());
}

void TestCef::keysAreSanitized()
{
    Log::logCef(QStringLiteral("m"), 1, nullptr, QString(), QStringLiteral("X"),
                {{QStringLiteral("bad key="), QStringLiteral("v")},
                 {QStringLiteral("==="), QStringLiteral("dropped")},
                 {QStringLiteral("cs2"), QString()}});
    const QByteArray line = lastLine();
    QVERIFY2(line.endsWith(" badkey=v"), line.constData());
    QVERIFY(!line.contains("dropped"));
    QVERIFY(!line.contains("cs2"));
}

void TestCef::requestFields()
{
    Http::Request request;
    request.head.method = "POST";
    request.head.target = "/login?next=/a b";
    request.head.host = "example.com:8443";
    request.head.fields.push_back({"User-Agent", "curl/8.0"});
    request.peerAddress = QHostAddress(QStringLiteral("::ffff:192.0.2.7"));
    request.peerPort = 50123;
    request.txnId = "txn-42";
    const qint64 before = QDateTime::currentMSecsSinceEpoch();
    Log::logCef(QStringLiteral("Authentication failure"), 5, &request, QStringLiteral("alice"),
                QStringLiteral("AuthFail"), {{QStringLiteral("msg"), QStringLiteral("wrong")}});
    const qint64 after = QDateTime::currentMSecsSinceEpoch();
    const QByteArray line = lastLine();
    const QByteArray head = "CEF:0|Mozilla|Berth|" BERTH_VERSION "|AuthFail|"
                            "Authentication failure|5|rt=";
    QVERIFY2(line.startsWith(head), line.constData());
    const qint64 rt = line.mid(head.size(), 13).toLongLong();
    QVERIFY(rt >= before && rt <= after);
    QCOMPARE(line.mid(head.size() + 13),
             QByteArray(" src=192.0.2.7 spt=50123 requestMethod=POST request=/login?next\\=/a b "
                        "dhost=example.com:8443 suser=alice cs1Label=txn cs1=txn-42 "
                        "requestClientApplication=curl/8.0 msg=wrong"));
}

void TestCef::withoutRequest()
{
    Log::logCef(QStringLiteral("m"), 1, nullptr, QString(), QStringLiteral("X"));
    const QByteArray line = lastLine();
    QVERIFY2(QRegularExpression(QStringLiteral("^CEF:0\\|Mozilla\\|Berth\\|[^|]+\\|X\\|m\\|1\\|rt="
                                               "\\d+$"))
                 .match(QString::fromUtf8(line))
                 .hasMatch(),
             line.constData());
}

void TestCef::longValuesAreCut()
{
    Http::Request request;
    const QByteArray target = "/" + QByteArray(5000, 'a');
    request.head.target = target;
    Log::logCef(QStringLiteral("m"), 1, &request, QString(), QStringLiteral("X"));
    const QByteArray line = lastLine();
    const qsizetype start = line.indexOf("request=");
    QVERIFY(start > 0);
    qsizetype end = line.indexOf(' ', start);
    if (end < 0)
        end = line.size();
    QCOMPARE(end - start - qsizetype(sizeof("request=") - 1), qsizetype(1023));
}

void TestCef::oneLinePerEvent()
{
    const qint64 offset = m_readOffset;
    for (int i = 0; i < 3; ++i) {
        Log::logCef(QStringLiteral("multi\nline"), 1, nullptr, QStringLiteral("u\nv"),
                    QStringLiteral("X"), {{QStringLiteral("msg"), QStringLiteral("a\nb\r\n")}});
    }
    Log::Logging::flushAll();
    QFile file(m_dir.filePath(QStringLiteral("cef.log")));
    QVERIFY(file.open(QIODevice::ReadOnly));
    file.seek(offset);
    const QByteArray added = file.readAll();
    m_readOffset = offset + added.size();
    QCOMPARE(added.count('\n'), 3);
    QCOMPARE(added.count("CEF:0|"), 3);
}

QTEST_GUILESS_MAIN(TestCef)
#include "tst_cef.moc"
