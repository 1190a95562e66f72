// Config::Snapshot: what the master passes its children must rebuild the same configuration,
// origins included, without the files.
#include <config/config.h>
#include <config/snapshot.h>

#include <QTemporaryDir>
#include <QtTest>

using namespace Berth::Config;

class tst_Snapshot : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void roundTripKeepsValuesAndOrigins();
    void rebuildsWithoutTheFiles();
    void sectionsDigestIgnoresWhereASectionSits();
    void rejectsGarbage();
};

void tst_Snapshot::roundTripKeepsValuesAndOrigins()
{
    const Config config =
        Config::fromText(QStringLiteral("[server]\nport = 8080\nlog_dir = logs\n\n[routes:line]\n"
                                        "/ = echo\n[app:echo]\ncall = berth.echo\n"),
                         QStringLiteral("/etc/berth/berth.conf"), Config::Includes::Ignore);
    const Snapshot snapshot = Snapshot::capture(config, 7);
    QCOMPARE(snapshot.generation(), quint64(7));
    QCOMPARE(snapshot.hash().size(), 64);
    QString error;
    const std::optional<Snapshot> parsed = Snapshot::fromText(snapshot.text(), &error);
    QVERIFY2(parsed, qPrintable(error));
    QCOMPARE(parsed->generation(), quint64(7));
    QCOMPARE(parsed->hash(), snapshot.hash());
    const Config rebuilt = parsed->config();
    QCOMPARE(rebuilt.sectionNames(), config.sectionNames());
    QCOMPARE(rebuilt.files(), config.files());
    QCOMPARE(rebuilt.getInt(QStringLiteral("server"), QStringLiteral("port")), 8080);
    // Relative paths still resolve against the original file's directory.
    QCOMPARE(rebuilt.getPath(QStringLiteral("server"), QStringLiteral("log_dir")),
             QStringLiteral("/etc/berth/logs"));
    const Location port = rebuilt.location(QStringLiteral("server"), QStringLiteral("port"));
    QCOMPARE(port.toString(), QStringLiteral("/etc/berth/berth.conf:2"));
    const Section *routes = rebuilt.section(QStringLiteral("routes:line"));
    QVERIFY(routes);
    QCOMPARE(routes->lines.size(), 1);
    QCOMPARE(routes->lines[0].text, QStringLiteral("/ = echo"));
    QCOMPARE(routes->lines[0].location.line, 6);
    // A bad value found by a child names the original file:line.
    rebuilt.getInt(QStringLiteral("app:echo"), QStringLiteral("call"));
    QCOMPARE(rebuilt.diagnostics().size(), 1);
    QVERIFY(rebuilt.diagnostics()[0].toString().startsWith(
        QStringLiteral("/etc/berth/berth.conf:8: ")));
}

void tst_Snapshot::rebuildsWithoutTheFiles()
{
    QTemporaryDir dir;
    const QString path = dir.filePath(QStringLiteral("berth.conf"));
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write("[server]\nworkers = 3\n");
    file.close();
    const Snapshot snapshot = Snapshot::capture(Config::load({path}), 1);
    QVERIFY(QFile::remove(path));
    QString error;
    const Config rebuilt = Snapshot::fromText(snapshot.text(), &error)->config();
    QCOMPARE(rebuilt.getInt(QStringLiteral("server"), QStringLiteral("workers")), 3);
    QVERIFY(rebuilt.diagnostics().isEmpty());
}

void tst_Snapshot::sectionsDigestIgnoresWhereASectionSits()
{
    const Config a = Config::fromText(QStringLiteral("[ticker:t]\ninterval = 1s\n"),
                                      QStringLiteral("a.conf"), Config::Includes::Ignore);
    const Config b = Config::fromText(QStringLiteral("; moved\n\n[ticker:t]\ninterval = 1s\n"),
                                      QStringLiteral("b.conf"), Config::Includes::Ignore);
    const Config c = Config::fromText(QStringLiteral("[ticker:t]\ninterval = 2s\n"),
                                      QStringLiteral("a.conf"), Config::Includes::Ignore);
    const QStringList names{QStringLiteral("ticker:t")};
    QCOMPARE(Snapshot::sectionsDigest(a, names), Snapshot::sectionsDigest(b, names));
    QVERIFY(Snapshot::sectionsDigest(a, names) != Snapshot::sectionsDigest(c, names));
    // A section that is gone differs from one that is there.
    QVERIFY(Snapshot::sectionsDigest(a, {QStringLiteral("ticker:u")}) !=
            Snapshot::sectionsDigest(a, names));
}

void tst_Snapshot::rejectsGarbage()
{
    QString error;
    QVERIFY(!Snapshot::fromText("not json", &error));
    QVERIFY(error.startsWith(QStringLiteral("configuration snapshot:")));
    QVERIFY(!Snapshot::fromText(R"({"sections":[{"name":""}]})", &error));
}

QTEST_GUILESS_MAIN(tst_Snapshot)
#include "tst_snapshot.moc"
