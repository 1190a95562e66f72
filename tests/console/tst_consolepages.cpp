// The console's pages (admin-gui/) driven by a fake AdminConnection: each page asks the right
// calls and shows what the signals bring; the models' logic (rates across resets, request.log
// fields, timeline events, diffs) on its own; tokens never in QSettings.
#include "childrenmodel.h"
#include "codeeditor.h"
#include "configpage.h"
#include "dashboardpage.h"
#include "fakeconnection.h"
#include "fleetpage.h"
#include "linediff.h"
#include "logmodel.h"
#include "logspage.h"
#include "mainwindow.h"
#include "processespage.h"
#include "servertab.h"
#include "servicespage.h"
#include "statshistory.h"
#include "timelinemodel.h"
#include "tokenstore.h"

#include <QDialog>
#include <QFile>
#include <QJsonArray>
#include <QJsonObject>
#include <QLineSeries>
#include <QListWidget>
#include <QPlainTextEdit>
#include <QSettings>
#include <QSignalSpy>
#include <QTableView>
#include <QTableWidget>
#include <QTemporaryDir>
#include <QTest>
#include <QTextBlock>
#include <QTreeWidget>

using namespace Berth::Console;
using namespace Berth::Client;
using namespace Qt::StringLiterals;

namespace {

QJsonObject snapshot(qint64 timeMs, qint64 requests, qint64 s4, qint64 s5,
                     const QList<std::pair<qint64, qint64>> &workers = {})
{
    QJsonArray children;
    for (const auto &[pid, n] : workers)
        children.append(QJsonObject{{u"pid"_s, pid}, {u"requests"_s, n}, {u"kind"_s, u"http"_s}});
    return QJsonObject{
        {u"time_ms"_s, timeMs},
        {u"interval_ms"_s, 1000},
        {u"requests"_s, requests},
        {u"status"_s, QJsonObject{{u"4xx"_s, s4}, {u"5xx"_s, s5}}},
        {u"bytes_in"_s, requests * 100},
        {u"bytes_out"_s, requests * 200},
        {u"active_connections"_s, 3},
        {u"children"_s, children},
        {u"rates"_s, QJsonObject{{u"interval_p50_ms"_s, 5}, {u"interval_p99_ms"_s, 25}}}};
}

const QString RequestLine =
    u"2026.11.30 06:01:25 127.0.0.1:48564 demo:18481 GET /nope HTTP/1.1 %1 83 178 %2 C4-R1 - - \"curl/7.88.1 (x)\" 3ms 0ms"_s;

QJsonObject child(const QString &kind, const QString &name, qint64 pid)
{
    return QJsonObject{{u"kind"_s, kind},
                       {u"name"_s, name},
                       {u"pid"_s, pid},
                       {u"state"_s, u"running"_s},
                       {u"generation"_s, 1},
                       {u"uptime_s"_s, 75},
                       {u"restarts"_s, 0},
                       {u"requests"_s, 9},
                       {u"threads"_s, QJsonArray{QJsonObject{
                                          {u"index"_s, 0},
                                          {u"request"_s, QJsonObject{{u"method"_s, u"GET"_s},
                                                                     {u"url"_s, u"/slow"_s},
                                                                     {u"running_ms"_s, 1500}}}}}}};
}

} // namespace

class tst_ConsolePages : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void statsRatesSurviveCounterResets();
    void dashboardSeriesFollowTheStreamAndWindow();
    void processesShowChildrenAndRestart();
    void logsTableFiltersPauseAndTxn();
    void configDiagnosticsDiffAndApply();
    void editorCompletesFromTheSchema();
    void timelineRecognisesEvents();
    void timelineClassifies_data();
    void timelineClassifies();
    void requestFields_data();
    void requestFields();
    void servicesGroupsCronMail();
    void serverTabGoesStaleWithoutData();
    void unifiedDiffShowsChanges();
    void tokensStayOutOfQSettings();
    void fleetRowsPerServer();
    void serverDialogAcceptsUnixSockets_data();
    void serverDialogAcceptsUnixSockets();
};

void tst_ConsolePages::serverDialogAcceptsUnixSockets_data()
{
    QTest::addColumn<QString>("url");
    QTest::addColumn<bool>("accepted");
    QTest::newRow("http") << u"http://127.0.0.1:8099"_s << true;
    QTest::newRow("https") << u"https://admin.example.org"_s << true;
    QTest::newRow("unix scheme") << u"unix:/run/berth/admin.sock"_s << true;
    QTest::newRow("bare path") << u"/run/berth/admin.sock"_s << true;
    QTest::newRow("no host") << u"http://"_s << false;
    QTest::newRow("relative") << u"admin.sock"_s << false;
    QTest::newRow("ftp") << u"ftp://host/x"_s << false;
}

void tst_ConsolePages::serverDialogAcceptsUnixSockets()
{
    QFETCH(QString, url);
    QFETCH(bool, accepted);
    QCOMPARE(MainWindow::isServerAddress(url), accepted);
}

void tst_ConsolePages::statsRatesSurviveCounterResets()
{
    StatsHistory h;
    h.add(snapshot(1000, 100, 10, 1, {{11, 60}, {12, 40}}), 0);
    h.add(snapshot(3000, 140, 14, 3, {{11, 80}, {12, 60}}), 2000);
    QCOMPARE(h.samples().size(), 2);
    QCOMPARE(h.samples()[1].requestsPerS, 20.0);
    QCOMPARE(h.samples()[1].status4xxPerS, 2.0);
    QCOMPARE(h.samples()[1].status5xxPerS, 1.0);
    QCOMPARE(h.samples()[1].bytesPerS, 40 * 300 / 2.0);
    QCOMPARE(h.samples()[1].workerRequestsPerS.value(11), 10.0);
    // Worker 12 replaced by 13, totals went backwards (a reload) and the admin clock restarted.
    h.add(snapshot(500, 30, 0, 0, {{11, 90}, {13, 10}, {0, 0}}), 3000);
    const StatsSample &s = h.samples()[2];
    QCOMPARE(s.requestsPerS, 30.0); // a reset counts from zero over interval_ms
    QVERIFY(s.status4xxPerS >= 0 && s.status5xxPerS >= 0);
    QCOMPARE(s.workerRequestsPerS.value(13), 10.0);
    QCOMPARE(h.workers(), (QList<qint64>{11, 12, 13}));
    // Older than an hour drops out.
    h.add(snapshot(1500, 31, 0, 0), 3000 + StatsHistory::KeepMs + 1);
    QCOMPARE(h.samples().size(), 1);
}

void tst_ConsolePages::dashboardSeriesFollowTheStreamAndWindow()
{
    FakeConnection fake;
    DashboardPage page(&fake);
    qint64 now = 10'000'000;
    page.setClock([&] { return now; });
    for (int i = 0; i < 5; ++i) {
        Q_EMIT fake.statsEvent(snapshot(1000 * (i + 1), 10 * i, i, 0, {{7, 10 * i}}));
        now += 60'000;
    }
    QCOMPARE(page.series(u"requests/s"_s)->count(), 5);
    QCOMPARE(page.series(u"requests/s"_s)->at(4).y(), 10.0);
    QCOMPARE(page.series(u"p99 ms"_s)->count(), 5);
    QVERIFY(page.series(u"worker 7"_s));
    QCOMPARE(page.series(u"worker 7"_s)->count(), 4); // a rate needs two snapshots
    now += 4 * 60'000; // the first samples are now older than 5 minutes
    page.setWindowMinutes(5);
    QVERIFY(page.series(u"requests/s"_s)->count() < 5);
    page.setWindowMinutes(60);
    QCOMPARE(page.series(u"requests/s"_s)->count(), 5);
}

void tst_ConsolePages::processesShowChildrenAndRestart()
{
    FakeConnection fake;
    ProcessesPage page(&fake);
    QVERIFY(fake.count(u"fetchChildren"_s) >= 1);
    Q_EMIT fake.childrenReceived(
        QJsonArray{child(u"http"_s, u"http"_s, 101), child(u"daemon"_s, u"queue"_s, 102)});
    QCOMPARE(page.model()->rowCount(), 2);
    QCOMPARE(page.model()->index(0, ChildrenModel::Uptime).data().toString(), u"1m 15s"_s);
    QCOMPARE(page.model()->index(0, ChildrenModel::Current).data().toString(),
             u"#0 GET /slow (1500 ms)"_s);
    page.view()->selectRow(page.model()->rowOfPid(101));
    page.restartSelected(false);
    QVERIFY(fake.calls.contains(u"restartChild 101"_s));
    page.daemonAction(u"stop"_s, false); // not a daemon: nothing asked
    QCOMPARE(fake.count(u"daemonAction"_s), 0);
    page.view()->selectRow(page.model()->rowOfPid(102));
    page.daemonAction(u"restart"_s, false);
    QVERIFY(fake.calls.contains(u"daemonAction queue restart"_s));

    // The report of a replaced worker: its hung block with request and stack, from server.log.
    QDialog *report = page.showReport(101);
    QVERIFY(fake.calls.contains(u"tailLog server 5000 "_s));
    Q_EMIT fake.logTail(
        u"server"_s,
        {u"2026.11.30 06:01:02 [info] berth.master: http:http child 0 started (pid 101, generation 1)"_s,
         u"2026.11.30 06:02:00 [error] berth.master: http:http child 0 (pid 101) hung; its stack:"_s,
         u"2026.11.30 06:02:00 [error] berth.master:   request GET /slow txn t-1 client 1.2.3.4:5"_s,
         u"2026.11.30 06:02:00 [error] berth.master:   #0 Slow::handle() at slow.cpp:7"_s,
         u"2026.11.30 06:02:00 [info] berth.master: http:http child 1 started (pid 205, generation 1)"_s,
         u"2026.11.30 06:02:01 [warning] berth.master: http:http child 0 (pid 101) killed by signal 9"_s});
    const QString shown = report->findChild<QPlainTextEdit *>(u"report"_s)->toPlainText();
    QCOMPARE(shown.count(u'\n'), 4);
    QVERIFY(shown.contains(u"request GET /slow"_s));
    QVERIFY(shown.contains(u"#0 Slow::handle()"_s));
    QVERIFY(!shown.contains(u"pid 205"_s));
}

void tst_ConsolePages::logsTableFiltersPauseAndTxn()
{
    FakeConnection fake;
    FakeConnection search;
    LogsPage page(&fake, &search);
    QVERIFY(fake.calls.contains(u"listLogs"_s));
    Q_EMIT fake.logsListed(QJsonArray{QJsonObject{{u"name"_s, u"server"_s}, {u"exists"_s, true}},
                                      QJsonObject{{u"name"_s, u"request"_s}, {u"exists"_s, true}},
                                      QJsonObject{{u"name"_s, u"cron"_s}, {u"exists"_s, false}}});
    QCOMPARE(page.currentLog(), u"request"_s);
    QVERIFY(fake.calls.contains(u"followLog request"_s));
    Q_EMIT fake.logTail(u"request"_s,
                        {RequestLine.arg(200).arg(u"aa-1"_s), RequestLine.arg(503).arg(u"bb-2"_s)});
    QCOMPARE(page.model()->rowCount(), 2);
    QCOMPARE(page.model()->field(1, LogModel::RStatus), u"503"_s);
    QCOMPARE(page.model()->field(1, LogModel::RTxn), u"bb-2"_s);
    QCOMPARE(page.model()->field(1, LogModel::RDuration), u"3ms"_s);
    QVERIFY(page.model()->index(1, 0).data(Qt::BackgroundRole).isValid()); // 5xx highlighted
    QVERIFY(!page.model()->index(0, 0).data(Qt::BackgroundRole).isValid());

    Q_EMIT fake.logLine(u"request"_s, RequestLine.arg(404).arg(u"cc-3"_s), 10);
    QCOMPARE(page.filter()->rowCount(), 3);
    page.setStatusClass(5);
    QCOMPARE(page.filter()->rowCount(), 1);
    page.setStatusClass(0);
    page.setFilter(u"cc-3"_s, false);
    QCOMPARE(page.filter()->rowCount(), 1);
    page.setFilter(u"(aa|bb)-\\d"_s, true);
    QCOMPARE(page.filter()->rowCount(), 2);
    page.setFilter(u"(unclosed"_s, true);
    QVERIFY(!page.filter()->isValid());
    page.setFilter(QString(), false);

    page.setPaused(true);
    Q_EMIT fake.logLine(u"request"_s, RequestLine.arg(200).arg(u"dd-4"_s), 20);
    QCOMPARE(page.model()->rowCount(), 3);
    page.setPaused(false);
    QCOMPARE(page.model()->rowCount(), 4);

    QDialog *dialog = page.showTransaction(u"bb-2"_s);
    QVERIFY(search.calls.contains(u"tailLog request 10000 bb-2"_s));
    QVERIFY(search.calls.contains(u"tailLog server 10000 bb-2"_s));
    QVERIFY(!search.calls.contains(u"tailLog cron 10000 bb-2"_s)); // absent log
    Q_EMIT search.logTail(u"server"_s, {u"2026.11.30 06:01:25 [error] app failed (txn bb-2)"_s});
    auto *text = dialog->findChild<QPlainTextEdit *>(u"txnLines"_s);
    QVERIFY(text->toPlainText().contains(u"server: 2026.11.30 06:01:25 [error] app failed"_s));

    // Other logs: time, level, message; the level filter.
    page.showLog(u"server"_s);
    Q_EMIT fake.logTail(u"server"_s, {u"2026.11.30 06:01:18 [info] berth.master: started"_s,
                                      u"2026.11.30 06:01:19 [error] berth.app: boom"_s});
    QCOMPARE(page.model()->field(1, LogModel::TLevel), u"error"_s);
    page.filter()->setLevel(u"error"_s);
    QCOMPARE(page.filter()->rowCount(), 1);
}

void tst_ConsolePages::configDiagnosticsDiffAndApply()
{
    FakeConnection fake;
    ConfigPage page(&fake);
    page.setValidateDelay(10);
    QVERIFY(fake.calls.contains(u"fetchConfig"_s));
    Q_EMIT fake.configReceived(
        {{u"/etc/berth/berth.conf"_s, u"[server]\nport = 80\nworkers = 2\n"_s},
         {u"/etc/berth/extra.conf"_s, u"[app:x]\ncall = berth.echo\n"_s}},
        u"h1"_s, 3);
    QCOMPARE(page.paths().size(), 2);
    CodeEditor *editor = page.editor(u"/etc/berth/berth.conf"_s);
    QVERIFY(editor);
    fake.calls.clear();
    editor->setPlainText(u"[server]\nport = 80\nworkers = many\n"_s);
    QTRY_VERIFY(fake.calls.contains(u"validateConfig"_s));
    QCOMPARE(fake.sentFiles.last().first().text, u"[server]\nport = 80\nworkers = many\n"_s);
    Q_EMIT fake.validated(false,
                          QJsonArray{QJsonObject{{u"file"_s, u"/etc/berth/berth.conf"_s},
                                                 {u"line"_s, 3},
                                                 {u"severity"_s, u"error"_s},
                                                 {u"message"_s, u"workers: not an integer"_s}}});
    QCOMPARE(editor->diagnostics().size(), 1);
    QCOMPARE(editor->diagnostics().first().line, 3);
    QCOMPARE(editor->extraSelections().size(), 1);
    QCOMPARE(editor->extraSelections().first().cursor.block().blockNumber(), 2);
    QCOMPARE(page.problems()->count(), 1);
    QVERIFY(page.problems()->item(0)->text().startsWith(u"berth.conf:3: error"_s));
    Q_EMIT page.problems()->itemActivated(page.problems()->item(0));
    QCOMPARE(editor->textCursor().blockNumber(), 2);

    QVERIFY(page.diff().contains(u"-workers = 2\n+workers = many"_s));
    page.apply(false);
    QVERIFY(fake.calls.contains(u"applyConfig h1"_s));
    AdminError error;
    error.status = 422;
    error.message = u"the proposed configuration is invalid"_s;
    error.details = QJsonArray{QJsonObject{{u"file"_s, u"berth.conf"_s},
                                           {u"line"_s, 3},
                                           {u"severity"_s, u"error"_s},
                                           {u"message"_s, u"bad"_s}}};
    Q_EMIT fake.failed(u"apply"_s, error);
    QVERIFY(page.resultText().contains(u"old configuration is still live"_s));
    QCOMPARE(page.problems()->count(), 1);

    Q_EMIT fake.applied(QJsonObject{{u"generation"_s, 4}, {u"result"_s, u"ready"_s}});
    QVERIFY(page.resultText().contains(u"generation 4 is ready"_s));
    page.applyCanary(30, false);
    QVERIFY(fake.calls.contains(u"applyConfigCanary h1 30"_s));
}

void tst_ConsolePages::editorCompletesFromTheSchema()
{
    CodeEditor editor;
    editor.setPlainText(u"[server]\npo"_s);
    QTextCursor cursor = editor.textCursor();
    cursor.movePosition(QTextCursor::End);
    editor.setTextCursor(cursor);
    QVERIFY(editor.completionsAtCursor().contains(u"port"_s));
    QVERIFY(editor.completionsAtCursor().contains(u"workers"_s));
    editor.setPlainText(u"[server]\n\n[app:e]\ncall = berth.echo\n["_s);
    cursor.movePosition(QTextCursor::End);
    editor.setTextCursor(cursor);
    QVERIFY(editor.completionsAtCursor().contains(u"admin"_s));
    QCOMPARE(editor.sectionAt(4), u"app:e"_s);
}

void tst_ConsolePages::timelineRecognisesEvents()
{
    TimelineModel model;
    QVERIFY(model.addLines(
        u"server"_s,
        {u"2026.11.30 06:01:02 [info] berth.master: reload complete: generation 3 serving"_s,
         u"2026.11.30 06:01:01 [warning] berth.master: http:http child 0 (pid 4711) killed by signal 9"_s,
         u"2026.11.30 06:01:03 [info] berth.server: listening"_s}));
    QVERIFY(model.addLines(
        u"cron"_s,
        {u"2026-11-30T06:02:00+00:00 exit /etc/b.conf:14 pid 42 status 3 duration 1s"_s}));
    QVERIFY(!model.addLines(
        u"server"_s,
        {u"2026.11.30 06:01:02 [info] berth.master: reload complete: generation 3 serving"_s}));
    QCOMPARE(model.events().size(), 3);
    QCOMPARE(model.events()[0].kind, TimelineEvent::Crash); // sorted by time
    QCOMPARE(model.events()[1].kind, TimelineEvent::Reload);
    QCOMPARE(model.events()[2].kind, TimelineEvent::Cron);
    QVERIFY(model.events()[2].failure);
    const auto audit = TimelineModel::classify(
        u"admin-audit"_s,
        u"2026-11-30T06:03:00Z admin-audit who=\"t\" call=\"PUT /api/v1/config\" status=422"_s);
    QVERIFY(audit);
    QCOMPARE(audit->kind, TimelineEvent::ConfigApply);
    QVERIFY(audit->failure);
    QVERIFY(!TimelineModel::classify(u"server"_s, u"2026.11.30 06:03:00 [info] berth.admin: "
                                                  u"admin-audit call=\"POST /api/v1/reload\""_s));
}

void tst_ConsolePages::timelineClassifies_data()
{
    QTest::addColumn<QString>("log");
    QTest::addColumn<QString>("line");
    QTest::addColumn<QString>("kind"); // "" = not an event
    QTest::addColumn<bool>("failure");
    const QString t = u"2026.11.30 06:01:02 "_s;
    QTest::newRow("reload ok") << u"server"_s
                               << t + u"[info] berth.master: reload complete: generation 3"_s
                               << u"reload"_s << false;
    QTest::newRow("reload failed")
        << u"server"_s
        << t + u"[error] berth.master: reload failed: bad; generation 2 keeps running"_s
        << u"reload"_s << true;
    QTest::newRow("hung")
        << u"server"_s << t + u"[error] berth.master: http:http child 0 (pid 4) hung; its stack:"_s
        << u"hung worker"_s << true;
    QTest::newRow("crash") << u"server"_s
                           << t + u"[warning] berth.master: child 0 (pid 4) killed by signal 11"_s
                           << u"crash"_s << true;
    QTest::newRow("replaced") << u"server"_s
                              << t + u"[info] berth.master: child 0 (pid 4) exited; replacing it"_s
                              << u"restart"_s << false;
    QTest::newRow("member down")
        << u"server"_s << t + u"[warning] berth.gateway: @api member 10.0.0.5:80 down (refused)"_s
        << u"member"_s << true;
    QTest::newRow("plain") << u"server"_s << t + u"[info] berth.server: listening"_s << QString()
                           << false;
    QTest::newRow("no time") << u"server"_s << u"reload complete"_s << QString() << false;
    QTest::newRow("cron ok")
        << u"cron"_s << u"2026-11-30T06:00:01+01:00 exit /b.conf:3 pid 9 status 0 duration 1s"_s
        << u"cron"_s << false;
    QTest::newRow("cron killed") << u"cron"_s
                                 << u"2026-11-30T06:00:01+01:00 kill /b.conf:3 pid 9: max_runtime"_s
                                 << u"cron"_s << true;
    QTest::newRow("cron output") << u"cron"_s
                                 << u"2026-11-30T06:00:01+01:00 output /b.conf:3 pid 9: hello"_s
                                 << QString() << false;
    QTest::newRow("rollback") << u"admin-audit"_s
                              << u"2026-11-30T06:00:01Z admin-audit call=\"POST "
                                 u"/api/v1/config/rollback/3\" status=200"_s
                              << u"config apply"_s << false;
    QTest::newRow("mail retry") << u"admin-audit"_s
                                << u"2026-11-30T06:00:01Z admin-audit call=\"POST "
                                   u"/api/v1/mail/retry\" status=200"_s
                                << u"mail"_s << false;
}

void tst_ConsolePages::timelineClassifies()
{
    QFETCH(QString, log);
    QFETCH(QString, line);
    QFETCH(QString, kind);
    QFETCH(bool, failure);
    const auto event = TimelineModel::classify(log, line);
    QCOMPARE(event.has_value(), !kind.isEmpty());
    if (event) {
        QCOMPARE(TimelineModel::kindName(event->kind), kind);
        QCOMPARE(event->failure, failure);
    }
}

void tst_ConsolePages::requestFields_data()
{
    QTest::addColumn<QString>("line");
    QTest::addColumn<QStringList>("fields");
    QTest::newRow("skitai") << RequestLine.arg(201).arg(u"tx-9"_s)
                            << QStringList{u"2026.11.30 06:01:25"_s,
                                           u"127.0.0.1:48564"_s,
                                           u"GET"_s,
                                           u"/nope"_s,
                                           u"201"_s,
                                           u"178"_s,
                                           u"3ms"_s,
                                           u"-"_s,
                                           u"tx-9"_s};
    QTest::newRow("user and escaped url")
        << u"2026.11.30 06:01:25 [::1]:5 d:80 POST /caf\\xC3\\xA9 HTTP/2 500 9 10 t-1 C1-R2 alice - \"a b\" 12ms 1ms"_s
        << QStringList{u"2026.11.30 06:01:25"_s,
                       u"[::1]:5"_s,
                       u"POST"_s,
                       u"/caf\\xC3\\xA9"_s,
                       u"500"_s,
                       u"10"_s,
                       u"12ms"_s,
                       u"alice"_s,
                       u"t-1"_s};
    QTest::newRow("cut short") << u"2026.11.30 06:01:25 garbage"_s
                               << QStringList{u"2026.11.30 06:01:25"_s,
                                              QString(),
                                              QString(),
                                              u"garbage"_s,
                                              QString(),
                                              QString(),
                                              QString(),
                                              QString(),
                                              QString()};
}

void tst_ConsolePages::requestFields()
{
    QFETCH(QString, line);
    QFETCH(QStringList, fields);
    QCOMPARE(LogModel::requestFields(line), fields);
}

void tst_ConsolePages::servicesGroupsCronMail()
{
    FakeConnection fake;
    ServicesPage page(&fake);
    QVERIFY(fake.calls.contains(u"fetchGroups"_s));
    QVERIFY(fake.calls.contains(u"fetchCron"_s));
    QVERIFY(!fake.calls.contains(u"tailLog cron 300 "_s));
    Q_EMIT fake.groupsReceived(QJsonArray{
        QJsonObject{{u"name"_s, u"api"_s},
                    {u"balance"_s, u"round_robin"_s},
                    {u"members"_s, QJsonArray{QJsonObject{{u"address"_s, u"127.0.0.1:5001"_s},
                                                          {u"state"_s, u"up"_s},
                                                          {u"health"_s, u"up"_s},
                                                          {u"requests"_s, 12}}}}}});
    QCOMPARE(page.groups()->topLevelItemCount(), 1);
    QTreeWidgetItem *member = page.groups()->topLevelItem(0)->child(0);
    QCOMPARE(member->text(5), u"12"_s);
    page.groups()->setCurrentItem(member);
    page.drainSelected(false);
    QVERIFY(fake.calls.contains(u"drainMember api 127.0.0.1:5001 0"_s));
    Q_EMIT fake.cronReceived(
        QJsonArray{QJsonObject{{u"id"_s, u"/etc/b.conf:14"_s},
                               {u"schedule"_s, u"30 2 * * *"_s},
                               {u"command"_s, u"backup"_s},
                               {u"reboot"_s, false},
                               {u"next"_s, u"2026-12-01T02:30:00+01:00"_s},
                               {u"next_runs"_s, QJsonArray{u"2026-12-01T02:30:00+01:00"_s,
                                                           u"2026-12-02T02:30:00+01:00"_s}},
                               {u"last_run"_s, u"2026-11-30T02:30:00+01:00"_s},
                               {u"last_exit"_s, u"failed, status 3"_s}},
                   QJsonObject{{u"id"_s, u"/etc/b.conf:15"_s},
                               {u"schedule"_s, u"@reboot"_s},
                               {u"reboot"_s, true},
                               {u"next"_s, QJsonValue()},
                               {u"last_run"_s, QJsonValue()},
                               {u"last_exit"_s, QJsonValue()}}},
        u"Europe/Paris"_s);
    QCOMPARE(page.cronJobs()->rowCount(), 2);
    QCOMPARE(page.cronJobs()->item(0, 2)->text(), u"2026-12-01T02:30:00+01:00"_s);
    QVERIFY(page.cronJobs()->item(0, 2)->toolTip().contains(u"2026-12-02T02:30:00+01:00"_s));
    QCOMPARE(page.cronJobs()->item(0, 4)->text(), u"failed, status 3"_s);
    QCOMPARE(page.cronJobs()->item(1, 2)->text(), u"when berthd starts"_s);
    QCOMPARE(page.cronJobs()->item(1, 3)->text(), QString());
    // A server without GET cron: the jobs as cron.log tells them.
    Q_EMIT fake.failed(u"cronjobs"_s, AdminError{404, u"not_found"_s, u"no endpoint"_s, {}});
    QVERIFY(fake.calls.contains(u"tailLog cron 300 "_s));
    Q_EMIT fake.logTail(
        u"cron"_s,
        {u"2026-11-30T06:00:00+00:00 start /etc/b.conf:14 pid 4242: backup"_s,
         u"2026-11-30T06:00:01+00:00 exit /etc/b.conf:14 pid 4242 status 0 duration 1.2s"_s});
    QCOMPARE(page.cronJobs()->rowCount(), 1);
    QCOMPARE(page.cronJobs()->item(0, 1)->text(), u"exit"_s);
    page.runCronJob(u"/etc/b.conf:14"_s);
    QVERIFY(fake.calls.contains(u"runCronJob /etc/b.conf:14"_s));

    // The mail queue as a table.
    QVERIFY(fake.calls.contains(u"fetchMail"_s));
    Q_EMIT fake.mailReceived(
        QJsonArray{QJsonObject{{u"id"_s, u"m1"_s},
                               {u"from"_s, u"alice@example.org"_s},
                               {u"to"_s, QJsonArray{u"bob@example.org"_s, u"carol@example.org"_s}},
                               {u"subject"_s, u"hello"_s},
                               {u"status"_s, u"deferred"_s},
                               {u"attempts"_s, 2},
                               {u"next_attempt"_s, u"2026-11-30T07:00:00Z"_s},
                               {u"last_error"_s, u"connection refused"_s}},
                   QJsonObject{{u"id"_s, u"m2"_s},
                               {u"to"_s, QJsonArray{u"dan@example.org"_s}},
                               {u"status"_s, u"queued"_s},
                               {u"attempts"_s, 0},
                               {u"next_attempt"_s, QJsonValue()},
                               {u"last_error"_s, QJsonValue()}}},
        2);
    QTableWidget *mail = page.mailQueue();
    QCOMPARE(mail->rowCount(), 2);
    QCOMPARE(mail->item(0, 1)->text(), u"bob@example.org, carol@example.org"_s);
    QCOMPARE(mail->item(0, 2)->text(), u"hello"_s);
    QCOMPARE(mail->item(0, 4)->text(), u"2"_s);
    QCOMPARE(mail->item(0, 5)->text(), u"2026-11-30T07:00:00Z"_s);
    QCOMPARE(mail->item(0, 6)->text(), u"connection refused"_s);
    QCOMPARE(mail->item(1, 5)->text(), u"due now"_s);
    // Without a spool the table empties and the page stops asking.
    Q_EMIT fake.failed(u"mailqueue"_s, AdminError{404, u"not_found"_s, u"no mail spool"_s, {}});
    QCOMPARE(mail->rowCount(), 0);
    fake.calls.clear();
    page.refresh();
    QVERIFY(!fake.calls.contains(u"fetchMail"_s));
    QVERIFY(fake.calls.contains(u"tailLog smtpda 100 "_s));
}

void tst_ConsolePages::serverTabGoesStaleWithoutData()
{
    QList<FakeConnection *> fakes;
    ServerTab tab(u"demo"_s, [&](QObject *parent) {
        fakes.append(new FakeConnection(parent));
        return fakes.last();
    });
    qint64 now = 1'000'000;
    tab.setClock([&] { return now; });
    QVERIFY(fakes.size() >= 4);
    QVERIFY(fakes.first()->calls.contains(u"startStatsStream 1000"_s));
    tab.checkStale();
    QVERIFY(tab.isStale());
    QSignalSpy changed(&tab, &ServerTab::staleChanged);
    Q_EMIT fakes.first()->statsEvent(snapshot(1, 1, 0, 0));
    QVERIFY(!tab.isStale());
    now += 2500;
    tab.checkStale();
    QVERIFY(!tab.isStale());
    now += 1000;
    tab.checkStale();
    QVERIFY(tab.isStale());
    QCOMPARE(changed.size(), 2);
}

void tst_ConsolePages::unifiedDiffShowsChanges()
{
    QCOMPARE(unifiedDiff(u"a"_s, u"x\ny\n"_s, u"x\ny\n"_s), QString());
    const QString d = unifiedDiff(u"a.conf"_s, u"1\n2\n3\n4\n5\n6\n7\n8\n9\n"_s,
                                  u"1\n2\n3\n4\nfive\n6\n7\n8\n9\n"_s);
    QVERIFY(d.startsWith(u"--- live/a.conf\n+++ edited/a.conf\n@@ -2 +2 @@\n"_s));
    QVERIFY(d.contains(u"\n-5\n+five\n"_s));
    QVERIFY(!d.contains(u"\n 1\n"_s)); // three lines of context only
}

void tst_ConsolePages::tokensStayOutOfQSettings()
{
    QTemporaryDir dir;
    QSettings settings(dir.filePath(u"console.ini"_s), QSettings::IniFormat);
    TokenStore tokens(TokenStore::Backend::FileOnly, dir.filePath(u"config"_s));
    {
        MainWindow window(&settings, &tokens);
        window.addServer({u"prod"_s, u"http://127.0.0.1:8099"_s}, u"secret-token-4711"_s);
    }
    settings.sync();
    QFile ini(dir.filePath(u"console.ini"_s));
    QVERIFY(ini.open(QIODevice::ReadOnly));
    const QByteArray text = ini.readAll();
    QVERIFY(text.contains("http://127.0.0.1:8099"));
    QVERIFY(!text.contains("secret-token-4711"));
    QCOMPARE(tokens.token(u"prod"_s), u"secret-token-4711"_s);
    QCOMPARE(tokens.lastBackend(), u"file"_s);
    const QFileDevice::Permissions mode = QFile::permissions(tokens.fallbackFile());
    QVERIFY(mode & QFileDevice::ReadOwner);
    QVERIFY(!(mode & (QFileDevice::ReadGroup | QFileDevice::WriteGroup | QFileDevice::ReadOther |
                      QFileDevice::WriteOther)));
    ServerList reread(&settings);
    QCOMPARE(reread.entries().size(), 1);
}

void tst_ConsolePages::fleetRowsPerServer()
{
    QHash<QString, FakeConnection *> fakes;
    FleetModel model([&](const ServerEntry &e, QObject *parent) {
        fakes.insert(e.name, new FakeConnection(parent));
        return fakes.value(e.name);
    });
    qint64 now = 1'000'000;
    model.setClock([&] { return now; });
    model.setServers({{u"a"_s, u"http://a:8099"_s}, {u"b"_s, u"http://b:8099"_s}});
    QCOMPARE(model.rowCount(), 2);
    QVERIFY(fakes[u"a"_s]->calls.contains(u"fetchStats"_s));
    Q_EMIT fakes[u"a"_s]->infoReceived(QJsonObject{{u"generation"_s, 7}});
    Q_EMIT fakes[u"a"_s]->statsReceived(snapshot(0, 100, 0, 0));
    Q_EMIT fakes[u"a"_s]->childrenReceived(QJsonArray{QJsonObject{{u"restarts"_s, 2}}});
    now += 2000;
    QJsonObject later = snapshot(0, 300, 0, 10);
    later.insert(u"latency_p99_ms"_s, 25);
    Q_EMIT fakes[u"a"_s]->statsReceived(later);
    Q_EMIT fakes[u"a"_s]->childrenReceived(QJsonArray{QJsonObject{{u"restarts"_s, 5}}});
    Q_EMIT fakes[u"b"_s]->failed(u"info"_s, AdminError{0, u"unreachable"_s, {}, {}});
    auto cell = [&](int row, int column) { return model.index(row, column).data().toString(); };
    QCOMPARE(cell(0, FleetModel::Status), u"up"_s);
    QCOMPARE(cell(0, FleetModel::Generation), u"7"_s);
    QCOMPARE(cell(0, FleetModel::RequestsPerS), QLocale().toString(100.0, 'f', 1));
    QVERIFY(cell(0, FleetModel::ErrorRatio).startsWith(QLocale().toString(5.0, 'f', 2)));
    QCOMPARE(cell(0, FleetModel::P99), u"25 ms"_s);
    QCOMPARE(cell(0, FleetModel::Restarts), u"3"_s);
    QCOMPARE(cell(1, FleetModel::Status), u"down"_s);
}

QTEST_MAIN(tst_ConsolePages)
#include "tst_consolepages.moc"
