// Unit tests for dumpConfig() and maskedValue() (common/config/dump.*): what `berthd check -T`
// prints.
#include "config/config.h"
#include "config/dump.h"
#include "confighelpers.h"

#include <QTemporaryDir>
#include <QTest>

using namespace Berth::Config;
using namespace Qt::StringLiterals;
using namespace ConfigTest;

namespace {

// "section|key=value" for every effective entry and "section|line" for raw lines.
QStringList effectiveValues(const Config &config)
{
    QStringList out;
    for (const QString &name : config.sectionNames()) {
        const Section *section = config.section(name);
        for (const RawLine &line : section->lines)
            out.append(name + u'|' + line.text);
        for (const Entry &entry : section->entries) {
            if (section->find(entry.key) == &entry)
                out.append(name + u'|' + entry.key + u'=' + entry.value);
        }
    }
    return out;
}

// The line of the dump that starts with prefix (after trimming), or an empty string.
QString lineStarting(const QString &dump, const QString &prefix)
{
    for (const QString &line : dump.split(u'\n')) {
        if (line.startsWith(prefix))
            return line;
    }
    return QString();
}

} // namespace

class tst_Dump : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void originsAfterIncludesAndEnvironment();
    void laterValueWinsAndShowsItsOrigin();
    void secretsAreMasked_data();
    void secretsAreMasked();
    void dumpParsesBackToTheSameValues();
};

void tst_Dump::originsAfterIncludesAndEnvironment()
{
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    EnvironmentOverride port("BERTH_DUMP_PORT", "8181");
    const QString main =
        writeFile(dir.filePath(u"main.conf"_s), u"[berth]\nadditional_confs = inc.conf\n"
                                                u"[server]\nport = ${BERTH_DUMP_PORT}\n"_s);
    const QString inc =
        writeFile(dir.filePath(u"inc.conf"_s), u"; included\n[limits]\nmax_headers = 50\n"
                                               u"[routes:line]\n/ = /srv/www\n"_s);
    const Config config = Config::load({main});
    QVERIFY(config.diagnostics().isEmpty());
    const QString dump = dumpConfig(config);

    QVERIFY(dump.startsWith(u"# The merged configuration of "_s + main + u", "_s + inc));
    const QString portLine = lineStarting(dump, u"port = 8181"_s);
    QVERIFY2(portLine.endsWith(u"; "_s + main + u":4"_s), qPrintable(portLine));
    QVERIFY(lineStarting(dump, u"max_headers = 50"_s).endsWith(u"; "_s + inc + u":3"_s));
    QVERIFY(lineStarting(dump, u"[limits]"_s).endsWith(u"; "_s + inc + u":2"_s));
    QVERIFY(lineStarting(dump, u"/ = /srv/www"_s).endsWith(u"; "_s + inc + u":5"_s));
    // The include is commented out: its sections are in the dump already.
    QVERIFY(lineStarting(dump, u"additional_confs"_s).isEmpty());
    QVERIFY(
        lineStarting(dump, u"# additional_confs = inc.conf"_s).endsWith(u"; "_s + main + u":2"_s));
}

void tst_Dump::laterValueWinsAndShowsItsOrigin()
{
    const Config config =
        Config::fromText(u"[server]\nport = 1\nname = a\nport = 2\n"_s, u"a.conf"_s);
    const QString dump = dumpConfig(config);
    QVERIFY(lineStarting(dump, u"port = 1"_s).isEmpty());
    QVERIFY(lineStarting(dump, u"port = 2"_s).endsWith(u"; a.conf:4"_s));
    QVERIFY(lineStarting(dump, u"name = a"_s).endsWith(u"; a.conf:3"_s));
}

void tst_Dump::secretsAreMasked_data()
{
    QTest::addColumn<QString>("text");
    QTest::addColumn<QString>("shown");  // the line's start in the dump
    QTest::addColumn<QString>("hidden"); // must appear nowhere in the dump
    QTest::newRow("tls passphrase")
        << u"[tls]\npassphrase = hunter2\n"_s << u"passphrase = ********"_s << u"hunter2"_s;
    QTest::newRow("sni passphrase") << u"[tls:example.org]\npassphrase = hunter2\n"_s
                                    << u"passphrase = ********"_s << u"hunter2"_s;
    QTest::newRow("session secret") << u"[sessions]\nsecret = 0123456789abcdef0123\n"_s
                                    << u"secret = ********"_s << u"0123456789abcdef"_s;
    QTest::newRow("gateway key") << u"[api-gateway]\nsecret_key = k3y-v4lue\n"_s
                                 << u"secret_key = ********"_s << u"k3y-v4lue"_s;
    QTest::newRow("mailer password")
        << u"[mailer]\npassword = p4ss\n"_s << u"password = ********"_s << u"p4ss"_s;
    QTest::newRow("store url password")
        << u"[sessions]\nstore = postgresql://berth:s3cr3t@db:5432/berth?sslmode=require\n"_s
        << u"store = postgresql://berth:********@db:5432/berth?sslmode=require"_s << u"s3cr3t"_s;
    QTest::newRow("empty secret stays empty")
        << u"[sessions]\nsecret =\n"_s << u"secret = "_s << u"********"_s;
}

void tst_Dump::secretsAreMasked()
{
    QFETCH(QString, text);
    QFETCH(QString, shown);
    QFETCH(QString, hidden);
    const QString dump = dumpConfig(Config::fromText(text, u"s.conf"_s));
    QVERIFY2(!lineStarting(dump, shown).isEmpty(), qPrintable(dump));
    QVERIFY2(!dump.contains(hidden), qPrintable(dump));
}

void tst_Dump::dumpParsesBackToTheSameValues()
{
    EnvironmentOverride dollar("BERTH_DUMP_DOLLAR", "a$b");
    const QString text = u"[server]\nname = ${BERTH_DUMP_DOLLAR}\nport = 80 ; comment\n"
                         u"[tls]\nhsts = max-age=1; includeSubDomains\n"
                         u"[routes:line]\n/ = /srv/www ; root\n/e = echo\n"
                         u"[app:echo]\ncall = berth.echo\n"
                         u"[berth]\nadditional_confs = other.conf\n"_s;
    const Config original = Config::fromText(text, u"o.conf"_s, Config::Includes::Ignore);
    QVERIFY(original.diagnostics().isEmpty());
    const QString dump = dumpConfig(original);
    // Read back without any other file: the include is commented out, `$` is escaped.
    const Config reread = Config::fromText(dump, u"dump.conf"_s);
    QVERIFY2(reread.diagnostics().isEmpty(),
             qPrintable(messages(reread.diagnostics()).join(u'\n')));
    QStringList expected = effectiveValues(original);
    expected.removeAll(u"berth|additional_confs=other.conf"_s);
    QCOMPARE(effectiveValues(reread), expected);
    QCOMPARE(reread.getString(u"server"_s, u"name"_s), u"a$b"_s);
}

QTEST_GUILESS_MAIN(tst_Dump)
#include "tst_dump.moc"
