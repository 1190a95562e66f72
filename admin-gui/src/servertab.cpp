#include "servertab.h"

#include "adminclient/adminconnection.h"
#include "configpage.h"
#include "dashboardpage.h"
#include "logspage.h"
#include "processespage.h"
#include "resources.h"
#include "servicespage.h"
#include "timelinepage.h"

#include <QDateTime>
#include <QHBoxLayout>
#include <QIcon>
#include <QJsonArray>
#include <QLabel>
#include <QMessageBox>
#include <QPushButton>
#include <QShortcut>
#include <QTabWidget>
#include <QTimer>
#include <QVBoxLayout>

namespace Berth::Console {

using namespace Qt::StringLiterals;

ServerTab::ServerTab(const QString &name, const ConnectionFactory &factory, QWidget *parent)
    : QWidget(parent)
    , m_name(name)
    , m_main(factory(this))
    , m_timer(new QTimer(this))
    , m_clock([] { return QDateTime::currentMSecsSinceEpoch(); })
{
    initResources();
    auto *layout = new QVBoxLayout(this);
    auto *status = new QHBoxLayout;
    m_state = new QLabel(tr("Connecting to %1…").arg(name), this);
    m_staleLabel = new QLabel(this);
    auto *reload = new QPushButton(tr("Re&load server"), this);
    reload->setToolTip(tr("Reload the configuration from disk (Ctrl+Shift+R)"));
    new QShortcut(QKeySequence(u"Ctrl+Shift+R"_s), reload, [reload] { reload->click(); });
    status->addWidget(m_state, 1);
    status->addWidget(reload);
    status->addWidget(m_staleLabel);
    layout->addLayout(status);

    m_pages = new QTabWidget(this);
    m_dashboard = new DashboardPage(m_main, m_pages);
    m_processes = new ProcessesPage(m_main, m_pages);
    m_logs = new LogsPage(factory(this), factory(this), m_pages);
    m_config = new ConfigPage(factory(this), m_pages);
    m_timeline = new TimelinePage(m_main, factory(this), m_pages);
    m_services = new ServicesPage(factory(this), m_pages);
    const QList<std::pair<QWidget *, QString>> pages{
        {m_dashboard, u"dashboard"_s}, {m_processes, u"processes"_s}, {m_logs, u"logs"_s},
        {m_config, u"config"_s},       {m_timeline, u"timeline"_s},   {m_services, u"services"_s}};
    const QStringList titles{tr("&Dashboard"),     tr("&Processes"), tr("&Logs"),
                             tr("&Configuration"), tr("&Timeline"),  tr("&Services")};
    for (int i = 0; i < pages.size(); ++i) {
        m_pages->addTab(pages[i].first, QIcon(u":/icons/%1.svg"_s.arg(pages[i].second)), titles[i]);
        m_pages->setTabToolTip(i, u"Ctrl+%1"_s.arg(i + 1));
        auto *shortcut = new QShortcut(QKeySequence(u"Ctrl+%1"_s.arg(i + 1)), this);
        connect(shortcut, &QShortcut::activated, this, [this, i] { m_pages->setCurrentIndex(i); });
    }
    layout->addWidget(m_pages, 1);

    connect(m_main, &Client::AdminConnection::statsEvent, this, [this] {
        m_lastDataMs = m_clock();
        checkStale();
    });
    connect(m_main, &Client::AdminConnection::infoReceived, this, [this](const QJsonObject &info) {
        m_info = info;
        m_state->setText(
            tr("%1 — berthd %2, pid %3, generation %4%5")
                .arg(info.value(u"name"_s).toString(), info.value(u"version"_s).toString())
                .arg(info.value(u"pid"_s).toInteger())
                .arg(info.value(u"generation"_s).toInteger())
                .arg(m_streamText.isEmpty() ? QString() : u" — "_s + m_streamText));
    });
    connect(m_main, &Client::AdminConnection::streamState, this,
            [this](const QString &stream, bool connected, int retryMs) {
                if (stream != u"stats"_s)
                    return;
                m_streamText = connected ? QString()
                                         : tr("disconnected, retrying in %1 s")
                                               .arg(QString::number(retryMs / 1000.0, 'f', 1));
                if (!connected)
                    m_state->setText(tr("%1 — %2").arg(m_name, m_streamText));
            });
    connect(m_main, &Client::AdminConnection::failed, this,
            [this](const QString &operation, const Client::AdminError &error) {
                if (operation == u"info"_s || operation == u"stats"_s || operation == u"reload"_s)
                    m_state->setText(
                        tr("%1 — %2 (%3)").arg(m_name, error.message).arg(error.status));
            });
    connect(reload, &QPushButton::clicked, this, [this] {
        if (QMessageBox::question(this, tr("Reload"),
                                  tr("Reload %1's configuration from disk?").arg(m_name)) ==
            QMessageBox::Yes)
            m_main->reload();
    });
    connect(m_main, &Client::AdminConnection::reloaded, this, [this](const QJsonObject &r) {
        m_state->setText(tr("%1 — reloaded: generation %2 %3")
                             .arg(m_name)
                             .arg(r.value(u"generation"_s).toInteger())
                             .arg(r.value(u"result"_s).toString()));
        m_main->fetchInfo();
    });
    connect(m_timer, &QTimer::timeout, this, [this] {
        checkStale();
        if (++m_ticks % 5 == 0)
            m_main->fetchInfo();
    });
    m_timer->start(1000);
    m_main->fetchInfo();
    m_main->startStatsStream(StatsIntervalMs);
    checkStale();
}

void ServerTab::checkStale()
{
    const qint64 age = m_clock() - m_lastDataMs;
    const bool stale = m_lastDataMs == 0 || age > 3 * StatsIntervalMs;
    if (stale) {
        m_staleLabel->setText(
            m_lastDataMs == 0
                ? tr("<b style='color:#c0392b'>STALE</b> — no data yet")
                : tr("<b style='color:#c0392b'>STALE</b> — last data %1 s ago").arg(age / 1000));
    } else {
        m_staleLabel->setText(tr("<b style='color:#27ae60'>LIVE</b>"));
    }
    if (stale != m_stale) {
        m_stale = stale;
        Q_EMIT staleChanged(stale);
    }
}

} // namespace Berth::Console
