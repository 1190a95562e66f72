// The text forms of [daemon:NAME]: command-line splitting, environment lists, signal names.
#include "services/daemon/commandline.h"

#include <QTest>

#include <csignal>

using namespace Berth::Daemons;

namespace {

QString s(const char *text)
{
    return QString::fromUtf8(text);
}

QStringList words(std::initializer_list<const char *> list)
{
    QStringList out;
    for (const char *w : list)
        out.append(QString::fromUtf8(w));
    return out;
}

} // namespace

class TestDaemonParse : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void splitsLikeAShell_data()
    {
        QTest::addColumn<QString>("line");
        QTest::addColumn<QStringList>("words");
        QTest::newRow("plain") << s("/bin/prog --flag x") << words({"/bin/prog", "--flag", "x"});
        QTest::newRow("blanks") << s("  a \t b  ") << words({"a", "b"});
        QTest::newRow("double quotes")
            << s("/p --flag \"quoted arg\"") << words({"/p", "--flag", "quoted arg"});
        QTest::newRow("single quotes keep backslashes")
            << s("p 'a \\n \"b\"'") << words({"p", "a \\n \"b\""});
        QTest::newRow("escapes in double quotes")
            << s("p \"a \\\"b\\\" \\\\ \\x\"") << words({"p", "a \"b\" \\ \\x"});
        QTest::newRow("backslash outside") << s("p a\\ b") << words({"p", "a b"});
        QTest::newRow("adjacent parts") << s("p --x=\"1 2\"'3'") << words({"p", "--x=1 23"});
        QTest::newRow("empty word") << s("p \"\" ''") << words({"p", "", ""});
        QTest::newRow("instance") << s("p --id=%(n) \"n%(n)\"") << words({"p", "--id=3", "n3"});
    }
    void splitsLikeAShell()
    {
        QFETCH(QString, line);
        QFETCH(QStringList, words);
        QString error;
        const auto result = splitCommandLine(line, 3, &error);
        QVERIFY2(result.has_value(), qPrintable(error));
        QCOMPARE(*result, words);
    }

    void refusesBrokenLines_data()
    {
        QTest::addColumn<QString>("line");
        QTest::addColumn<QString>("error");
        QTest::newRow("open double") << s("p \"abc") << s("unterminated \" quote");
        QTest::newRow("open single") << s("p 'abc") << s("unterminated ' quote");
        QTest::newRow("trailing backslash") << s("p \\") << s("a backslash ends the command line");
        QTest::newRow("empty") << s("   ") << s("the command line is empty");
    }
    void refusesBrokenLines()
    {
        QFETCH(QString, line);
        QFETCH(QString, error);
        QString why;
        QVERIFY(!splitCommandLine(line, 0, &why).has_value());
        QCOMPARE(why, error);
    }

    void parsesEnvironment()
    {
        QString error;
        const auto pairs =
            parseEnvironment(s("A=1, B=\"x y\", C=, D = \"a,b \\\"q\\\"\" ,E=plain text"), &error);
        QVERIFY2(pairs.has_value(), qPrintable(error));
        const QList<QPair<QString, QString>> expected = {{s("A"), s("1")},
                                                         {s("B"), s("x y")},
                                                         {s("C"), QString()},
                                                         {s("D"), s("a,b \"q\"")},
                                                         {s("E"), s("plain text")}};
        QCOMPARE(*pairs, expected);
        QVERIFY(parseEnvironment(QString(), &error)->isEmpty());
    }

    void refusesBadEnvironment_data()
    {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("error");
        QTest::newRow("no =") << s("A=1, B") << s("'B' is not NAME=VALUE");
        QTest::newRow("no = before comma") << s("A, B=2") << s("'A' is not NAME=VALUE");
        QTest::newRow("bad name") << s("1A=2") << s("'1A' is not a variable name");
        QTest::newRow("open quote") << s("A=\"x") << s("unterminated \" quote in the value of A");
        QTest::newRow("after quote")
            << s("A=\"x\" y") << s("unexpected text after the quoted value of A");
    }
    void refusesBadEnvironment()
    {
        QFETCH(QString, text);
        QFETCH(QString, error);
        QString why;
        QVERIFY(!parseEnvironment(text, &why).has_value());
        QCOMPARE(why, error);
    }

    void namesSignals()
    {
        QCOMPARE(signalNumber(s("TERM")), SIGTERM);
        QCOMPARE(signalNumber(s("sigint")), SIGINT);
        QCOMPARE(signalNumber(s(" KILL ")), SIGKILL);
        QCOMPARE(signalNumber(s("USR2")), SIGUSR2);
        QCOMPARE(signalNumber(s("TERMINATE")), -1);
        QCOMPARE(signalNumber(s("9")), -1);
        QCOMPARE(signalNumber(QString()), -1);
    }
};

QTEST_GUILESS_MAIN(TestDaemonParse)
#include "tst_daemonparse.moc"
