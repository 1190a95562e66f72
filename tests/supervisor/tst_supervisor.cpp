// The supervisor's parts that need no child process: the service registry and the built-in
// kinds' child specs, the snapshot transport, shared-memory slot identities in `berthd status`,
// and the control channel's protocol and permissions.
#include "runtime/sharedstate.h"
#include "runtime/workerhealth.h"
#include "service/service.h"
#include "service/serviceregistry.h"
#include "services/builtinservices.h"
#include "supervisor/controlchannel.h"
#include "supervisor/restartpolicy.h"
#include "supervisor/snapshottransport.h"
#include "supervisor/statusreport.h"

#include <config/config.h>

#include <QTemporaryDir>
#include <QtTest>

#include <atomic>
#include <sys/stat.h>
#include <thread>
#include <unistd.h>

using namespace Berth;
using Supervisor::ChildSpec;

namespace {

Config::Config configFrom(const QString &text)
{
    return Config::Config::fromText(text, QStringLiteral("/srv/berth.conf"),
                                    Config::Config::Includes::Ignore);
}

class NullService final : public Supervisor::Service
{
public:
    bool prepare(QStringList *) override { return true; }
    bool start(QStringList *) override
    {
        markReady();
        return true;
    }
    void drain() override { markDrained(); }
    void stopNow() override { markDrained(); }
    QStringList statNames() const override { return {}; }
};

} // namespace

class tst_Supervisor : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void registryKnowsKindsOnlyThroughEntries();
    void restartBacksOffAndGivesUpOnACrashLoop();
    void restartPolicyOnFailureLeavesACleanExit();
    void httpSpecFollowsTheServerSection();
    void tickerSpecsNeedTheTestEnvironment();
    void snapshotTravelsThroughASealedMemfd();
    void statusNamesServiceAndBusyRequest();
    void controlChannelAnswersOwnerOnly();
};

void tst_Supervisor::initTestCase()
{
    // What berthd's main does as the composition root.
    Berth::Services::registerBuiltinServices(Berth::Supervisor::ServiceRegistry::builtin());
}

void tst_Supervisor::registryKnowsKindsOnlyThroughEntries()
{
    Supervisor::ServiceRegistry registry;
    int validated = 0;
    registry.add({QStringLiteral("null"),
                  [](const Config::Config &config) {
                      QList<ChildSpec> specs;
                      for (const Config::Section *s : config.sectionsWithPrefix(u"null:"_qs)) {
                          ChildSpec spec;
                          spec.kind = QStringLiteral("null");
                          spec.name = s->name.mid(5);
                          specs.append(spec);
                      }
                      return specs;
                  },
                  [&validated](const Config::Config &) { ++validated; },
                  [](const Supervisor::ServiceSetup &) -> std::unique_ptr<Supervisor::Service> {
                      return std::make_unique<NullService>();
                  }});
    const Config::Config config = configFrom(u"[null:a]\n[null:b]\n"_qs);
    const QList<ChildSpec> specs = registry.childSpecs(config);
    QCOMPARE(specs.size(), 2);
    QCOMPARE(specs[1].key(), QStringLiteral("null:b"));
    registry.validate(config);
    QCOMPARE(validated, 1);
    QVERIFY(registry.find(u"null"_qs));
    QVERIFY(!registry.find(u"http"_qs));
    auto service = registry.find(u"null"_qs)->create({});
    QSignalSpy ready(service.get(), &Supervisor::Service::ready);
    QVERIFY(service->start(nullptr));
    QCOMPARE(ready.size(), 1);
    QVERIFY(service->isReady());
}

void tst_Supervisor::restartBacksOffAndGivesUpOnACrashLoop()
{
    using Action = Supervisor::RestartDecision::Action;
    ChildSpec spec;
    spec.backoffStartMs = 100;
    spec.backoffCapMs = 350;
    spec.quickExitMs = 5000;
    spec.crashLoopLimit = 4;
    int quick = 0;
    // Quick crashes: 100, 200, then the cap; the fourth in a row gives up.
    auto d = Supervisor::decideRestart(spec, &quick, 10, false);
    QCOMPARE(d.action, Action::Restart);
    QCOMPARE(d.delayMs, 100);
    QCOMPARE(Supervisor::decideRestart(spec, &quick, 10, false).delayMs, 200);
    QCOMPARE(Supervisor::decideRestart(spec, &quick, 10, false).delayMs, 350);
    QCOMPARE(Supervisor::decideRestart(spec, &quick, 10, false).action, Action::GiveUp);
    QCOMPARE(quick, 4);
    // A child that ran a while restarts at once and resets the count.
    d = Supervisor::decideRestart(spec, &quick, 60'000, false);
    QCOMPARE(d.action, Action::Restart);
    QCOMPARE(d.delayMs, 0);
    QCOMPARE(quick, 0);
    // A clean exit (max_requests) of an "always" service: replaced at once.
    quick = 2;
    d = Supervisor::decideRestart(spec, &quick, 10, true);
    QCOMPARE(d.action, Action::Restart);
    QCOMPARE(d.delayMs, 0);
    QCOMPARE(quick, 0);
    // No limit: never gives up, the delay stays at the cap.
    spec.crashLoopLimit = 0;
    for (int i = 0; i < 100; ++i)
        d = Supervisor::decideRestart(spec, &quick, 10, false);
    QCOMPARE(d.action, Action::Restart);
    QCOMPARE(d.delayMs, 350);
}

void tst_Supervisor::restartPolicyOnFailureLeavesACleanExit()
{
    ChildSpec spec;
    spec.restart = ChildSpec::Restart::OnFailure;
    int quick = 0;
    QCOMPARE(Supervisor::decideRestart(spec, &quick, 10, true).action,
             Supervisor::RestartDecision::Action::Leave);
    QCOMPARE(Supervisor::decideRestart(spec, &quick, 10, false).action,
             Supervisor::RestartDecision::Action::Restart);
}

void tst_Supervisor::httpSpecFollowsTheServerSection()
{
    const auto *http = Supervisor::ServiceRegistry::builtin().find(u"http"_qs);
    QVERIFY(http);
    const QList<ChildSpec> specs = http->childSpecs(configFrom(
        u"[server]\nport = 8080\nworkers = 3\ngraceful_timeout = 4s\n[tls]\nenabled = no\n"_qs));
    QCOMPARE(specs.size(), 1);
    QCOMPARE(specs[0].key(), QStringLiteral("http:http"));
    QCOMPARE(specs[0].count, 3);
    QCOMPARE(specs[0].listeners, QList<int>{0});
    QCOMPARE(specs[0].reload, ChildSpec::Reload::Replace);
    QCOMPARE(specs[0].restart, ChildSpec::Restart::Always);
    QCOMPARE(specs[0].crashLoopLimit, 0);
    QCOMPARE(specs[0].stopGraceMs, 5000);
}

void tst_Supervisor::tickerSpecsNeedTheTestEnvironment()
{
    const auto *ticker = Supervisor::ServiceRegistry::builtin().find(u"berth.ticker"_qs);
    QVERIFY(ticker);
    const Config::Config config =
        configFrom(u"[ticker:t]\ninterval = 1s\nrestart = on-failure\ncrash_loop_limit = 2\n"_qs);
    qputenv("BERTH_TEST_APPS", "0");
    QVERIFY(ticker->childSpecs(config).isEmpty());
    ticker->validate(config);
    QCOMPARE(config.diagnostics().size(), 1);
    QCOMPARE(config.diagnostics()[0].location.toString(), QStringLiteral("/srv/berth.conf:1"));
    qputenv("BERTH_TEST_APPS", "1");
    const QList<ChildSpec> specs = ticker->childSpecs(config);
    QCOMPARE(specs.size(), 1);
    QCOMPARE(specs[0].key(), QStringLiteral("berth.ticker:t"));
    QVERIFY(specs[0].listeners.isEmpty()); // a ticker gets no socket
    QCOMPARE(specs[0].restart, ChildSpec::Restart::OnFailure);
    QCOMPARE(specs[0].crashLoopLimit, 2);
    QCOMPARE(specs[0].reload, ChildSpec::Reload::Keep);
    QVERIFY(!specs[0].digest.isEmpty());
    qunsetenv("BERTH_TEST_APPS");
}

void tst_Supervisor::snapshotTravelsThroughASealedMemfd()
{
    const Config::Snapshot snapshot =
        Config::Snapshot::capture(configFrom(u"[server]\nworkers = 2\n"_qs), 3);
    QString error;
    const int fd = Supervisor::snapshotMemfd(snapshot, &error);
    QVERIFY2(fd >= 0, qPrintable(error));
    QCOMPARE(::write(fd, "x", 1), ssize_t(-1)); // sealed
    const int inherited = ::dup(fd);            // what exec would keep
    ::close(fd);
    qputenv(Supervisor::SnapshotFdVariable, QByteArray::number(inherited));
    const std::optional<Config::Snapshot> read = Supervisor::readSnapshotFromEnvironment(&error);
    QVERIFY2(read, qPrintable(error));
    QCOMPARE(read->hash(), snapshot.hash());
    QCOMPARE(read->generation(), quint64(3));
    QVERIFY(qgetenv(Supervisor::SnapshotFdVariable).isEmpty());
    QVERIFY(!Supervisor::readSnapshotFromEnvironment(&error)); // used up
}

void tst_Supervisor::statusNamesServiceAndBusyRequest()
{
    QString error;
    auto shared = Core::SharedState::create(3, 1, &error);
    QVERIFY(shared);
    shared->setService(0, u"http"_qs, u"http"_qs, 2, 9); // last exit: killed by signal 9
    shared->prepareSlot(0);
    shared->slot(0)->pid.store(::getpid());
    shared->slot(0)->state.store(int(Core::WorkerState::Running));
    shared->setService(1, u"berth.ticker"_qs, u"a-rather-long-ticker-name"_qs, 5, 6 << 8);
    shared->prepareSlot(1);
    shared->markExited(1);
    shared->recordExit(1, 6 << 8, true); // exit status 6, given up on
    QCOMPARE(shared->slot(1)->kind(), QStringLiteral("berth.ticker"));
    QCOMPARE(shared->slot(1)->name(), QStringLiteral("a-rather-long-ticker-name"));

    std::atomic<bool> published{false};
    std::atomic<bool> done{false};
    std::thread worker([&] {
        Core::ThreadHealth::attach(shared->slot(0), 0);
        Core::ThreadHealth::beginRequest("GET", "/block?which=stuck", "txn1", "127.0.0.1:5");
        published = true;
        while (!done)
            std::this_thread::yield();
        Core::ThreadHealth::detach();
    });
    while (!published)
        std::this_thread::yield();
    const QStringList lines = Core::describeSlots(*shared);
    done = true;
    worker.join();
    QCOMPARE(lines.size(), 3);
    QVERIFY2(lines[0].startsWith(
                 QStringLiteral("  worker slot 0: pid %1, http:http, running").arg(::getpid())),
             qPrintable(lines[0]));
    QVERIFY2(lines[0].endsWith(QStringLiteral("restarts 2, last exit killed by signal 9 (Killed)")),
             qPrintable(lines[0]));
    QVERIFY2(lines[1].startsWith(u"    thread 0: GET /block?which=stuck running "_qs),
             qPrintable(lines[1]));
    QVERIFY2(lines[2].startsWith(
                 u"  worker slot 1: pid 0, berth.ticker:a-rather-long-ticker-name, failed"_qs),
             qPrintable(lines[2]));
    QVERIFY2(lines[2].endsWith(u"restarts 5, last exit exited with status 6"_qs),
             qPrintable(lines[2]));
}

void tst_Supervisor::controlChannelAnswersOwnerOnly()
{
    QTemporaryDir dir;
    const QString path = Supervisor::controlSocketPath(dir.filePath(u"berthd.pid"_qs));
    QCOMPARE(path, dir.filePath(u"berthd.sock"_qs));
    QStringList seen;
    Supervisor::ControlChannel channel([&seen](const QString &command, const QStringList &arguments,
                                               Supervisor::ControlReply reply) {
        seen.append(command + u'|' + arguments.join(u','));
        reply.finish({u"line one"_qs, u"line two"_qs}, command == u"status"_qs);
    });
    QString error;
    QVERIFY2(channel.listen(path, &error), qPrintable(error));
    struct stat st
    {};
    QCOMPARE(::stat(QFile::encodeName(path).constData(), &st), 0);
    QVERIFY(S_ISSOCK(st.st_mode));
    QCOMPARE(st.st_mode & 07777, mode_t(0600));

    auto ask = [&](const QString &request, QStringList *lines, bool *ok) {
        std::atomic<bool> finished{false};
        bool answered = false;
        std::thread client([&] {
            QString clientError;
            answered = Supervisor::controlRequest(path, request, 5000, lines, ok, &clientError);
            finished = true;
        });
        QElapsedTimer waited;
        waited.start();
        while (!finished && waited.elapsed() < 5000)
            QCoreApplication::processEvents(QEventLoop::AllEvents, 20);
        client.join();
        return answered;
    };
    QStringList lines;
    bool ok = false;
    QVERIFY(ask(u"status"_qs, &lines, &ok));
    QVERIFY(ok);
    QCOMPARE(lines, (QStringList{u"line one"_qs, u"line two"_qs}));
    QVERIFY(ask(u"restart berth.ticker:t"_qs, &lines, &ok));
    QVERIFY(!ok);
    QCOMPARE(seen, (QStringList{u"status|"_qs, u"restart|berth.ticker:t"_qs}));
    channel.close();
    QVERIFY(!QFileInfo::exists(path));
}

QTEST_GUILESS_MAIN(tst_Supervisor)
#include "tst_supervisor.moc"
