// What the server reads of a configuration: every key it reads is one the schema knows (so its
// default is the documented one), and validating a configuration (checkConfiguration, what
// `berthd check` and the master's pre-flight run) creates no file.
#include "runtime/listeners.h"
#include "runtime/processutil.h"
#include "services/http/server.h"

#include <QDir>
#include <QDirIterator>
#include <QFile>
#include <QTemporaryDir>
#include <QtTest>

using namespace Berth;
using namespace Qt::StringLiterals;

namespace {

QStringList s_unknownReads;

void recordUnknownReads(QtMsgType type, const QMessageLogContext &, const QString &message)
{
    if (type == QtWarningMsg && message.contains(u"the schema does not know"_s))
        s_unknownReads.append(message);
}

QStringList listing(const QString &root)
{
    QStringList out;
    QDirIterator it(root, QDir::AllEntries | QDir::NoDotAndDotDot | QDir::Hidden,
                    QDirIterator::Subdirectories);
    while (it.hasNext())
        out.append(it.next());
    out.sort();
    return out;
}

} // namespace

class tst_ConfigReads : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void everyKeyReadIsInTheSchemaAndCheckCreatesNothing();
};

void tst_ConfigReads::everyKeyReadIsInTheSchemaAndCheckCreatesNothing()
{
    qputenv("BERTH_TEST_APPS", "1");
    QTemporaryDir dir;
    QVERIFY(dir.isValid());
    const QString work = dir.filePath(u"work"_s);
    QVERIFY(QDir().mkpath(work + u"/site"_s));
    QFile users(work + u"/users"_s);
    QVERIFY(users.open(QIODevice::WriteOnly));
    users.close();
    // Every implemented section and built-in app, each key left to its default.
    const QString text =
        u"[server]\nlog_dir = %1/logs\npid_file = %1/run/b.pid\n"
        u"[limits]\n[tls]\n[sessions]\nstore = sqlite:%1/db/s.db\n"
        u"secret = 0123456789abcdef0123\n"
        u"[routes:line]\n/s = static\n/e = echo\n/st = stats\n/hb = heartbeat\n"
        u"/d = debug\n/l = logs\n/a = auth echo\n/demo = session demo\n"
        u"/f = fault\n/dir = %1/site\n"
        u"[app:static]\ncall = berth.static\nroot = %1/site\n"
        u"[app:echo]\ncall = berth.echo\n[app:stats]\ncall = berth.stats\n"
        u"[app:heartbeat]\ncall = berth.heartbeat\n[app:debug]\ncall = berth.debug\n"
        u"[app:logs]\ncall = berth.log_collector\nfile = %1/records\n"
        u"[app:auth]\ncall = berth.basic_auth\nauth_path = %1/users\n"
        u"allow_insecure = yes\n"
        u"[app:session]\ncall = berth.session\n"
        u"[app:demo]\ncall = berth.session_demo\n"
        u"[app:fault]\ncall = berth.fault\n"_s.arg(work);
    const QString path = dir.filePath(u"berth.conf"_s);
    QFile file(path);
    QVERIFY(file.open(QIODevice::WriteOnly));
    file.write(text.toUtf8());
    file.close();

    const QStringList before = listing(dir.path());
    s_unknownReads.clear();
    const QtMessageHandler previous = qInstallMessageHandler(recordUnknownReads);
    const Config::Diagnostics diagnostics = Core::checkConfiguration({path});
    const Config::Config config = Config::Config::load({path});
    Core::listenSpecs(config);
    Core::ownedPaths(config, QString());
    qInstallMessageHandler(previous);

    QStringList errors;
    for (const Config::Diagnostic &d : diagnostics) {
        if (d.isError())
            errors.append(d.toString());
    }
    QVERIFY2(errors.isEmpty(), qPrintable(errors.join(u'\n')));
    QVERIFY2(s_unknownReads.isEmpty(), qPrintable(s_unknownReads.join(u'\n')));
    QCOMPARE(listing(dir.path()), before);
}

QTEST_GUILESS_MAIN(tst_ConfigReads)
#include "tst_configreads.moc"
