#include "servicespage.h"

#include "adminclient/adminconnection.h"

#include <QFontDatabase>
#include <QGroupBox>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QJsonArray>
#include <QJsonObject>
#include <QLabel>
#include <QLineEdit>
#include <QMap>
#include <QPlainTextEdit>
#include <QPushButton>
#include <QSplitter>
#include <QTableWidget>
#include <QTimer>
#include <QTreeWidget>
#include <QVBoxLayout>

namespace Berth::Console {

using namespace Qt::StringLiterals;

ServicesPage::ServicesPage(Client::AdminConnection *connection, QWidget *parent)
    : QWidget(parent)
    , m_connection(connection)
    , m_timer(new QTimer(this))
{
    auto *layout = new QVBoxLayout(this);
    auto *split = new QSplitter(Qt::Vertical, this);

    auto *gateway = new QGroupBox(tr("Gateway groups"), split);
    auto *g = new QVBoxLayout(gateway);
    m_groups = new QTreeWidget(gateway);
    m_groups->setHeaderLabels({tr("Group / member"), tr("State"), tr("Health"), tr("Weight"),
                               tr("In flight"), tr("Requests"), tr("Failures"), tr("Latency µs"),
                               tr("Drained")});
    g->addWidget(m_groups);
    auto *gButtons = new QHBoxLayout;
    auto *drain = new QPushButton(tr("&Drain member"), gateway);
    auto *undrain = new QPushButton(tr("&Undo drain"), gateway);
    gButtons->addWidget(drain);
    gButtons->addWidget(undrain);
    gButtons->addStretch(1);
    g->addLayout(gButtons);

    auto *cron = new QGroupBox(tr("Cron jobs"), split);
    auto *c = new QVBoxLayout(cron);
    m_cronTitle = new QLabel(cron);
    c->addWidget(m_cronTitle);
    m_cron = new QTableWidget(0, 6, cron);
    m_cron->setHorizontalHeaderLabels({tr("Job"), tr("Schedule"), tr("Next run"), tr("Last run"),
                                       tr("Last result"), tr("Command")});
    m_cron->horizontalHeader()->setStretchLastSection(true);
    m_cron->verticalHeader()->hide();
    m_cron->setWordWrap(false);
    m_cron->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_cron->setSelectionBehavior(QAbstractItemView::SelectRows);
    c->addWidget(m_cron);
    auto *cButtons = new QHBoxLayout;
    m_job = new QLineEdit(cron);
    m_job->setPlaceholderText(tr("FILE:LINE (berthd cron list)"));
    auto *run = new QPushButton(tr("&Run now"), cron);
    cButtons->addWidget(m_job, 1);
    cButtons->addWidget(run);
    c->addLayout(cButtons);

    auto *mail = new QGroupBox(tr("Mail queue"), split);
    auto *m = new QVBoxLayout(mail);
    m_mailTitle = new QLabel(mail);
    m->addWidget(m_mailTitle);
    m_mailQueue = new QTableWidget(0, 7, mail);
    m_mailQueue->setHorizontalHeaderLabels({tr("Id"), tr("To"), tr("Subject"), tr("Status"),
                                            tr("Attempts"), tr("Next attempt"), tr("Last error")});
    m_mailQueue->horizontalHeader()->setStretchLastSection(true);
    m_mailQueue->verticalHeader()->hide();
    m_mailQueue->setWordWrap(false);
    m_mailQueue->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_mailQueue->setSelectionBehavior(QAbstractItemView::SelectRows);
    m->addWidget(m_mailQueue, 2);
    m_mail = new QPlainTextEdit(mail);
    m_mail->setReadOnly(true);
    m_mail->setLineWrapMode(QPlainTextEdit::NoWrap);
    m_mail->setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    m->addWidget(m_mail, 1);
    auto *retry = new QPushButton(tr("Retry &deferred mail now"), mail);
    m->addWidget(retry, 0, Qt::AlignLeft);
    layout->addWidget(split, 1);
    m_status = new QLabel(this);
    layout->addWidget(m_status);

    connect(drain, &QPushButton::clicked, this, [this] { drainSelected(false); });
    connect(undrain, &QPushButton::clicked, this, [this] { drainSelected(true); });
    connect(run, &QPushButton::clicked, this, [this] { runCronJob(m_job->text().trimmed()); });
    connect(m_cron, &QTableWidget::currentCellChanged, this, [this](int row) {
        if (row >= 0 && m_cron->item(row, 0))
            m_job->setText(m_cron->item(row, 0)->text());
    });
    connect(retry, &QPushButton::clicked, m_connection, &Client::AdminConnection::retryMail);

    connect(m_connection, &Client::AdminConnection::groupsReceived, this,
            [this](const QJsonArray &groups) {
                const QString selected =
                    m_groups->currentItem() ? m_groups->currentItem()->text(0) : QString();
                m_groups->clear();
                for (const QJsonValue &gv : groups) {
                    const QJsonObject group = gv.toObject();
                    auto *top =
                        new QTreeWidgetItem(m_groups, {u"@"_s + group.value(u"name"_s).toString(),
                                                       group.value(u"balance"_s).toString()});
                    for (const QJsonValue &mv : group.value(u"members"_s).toArray()) {
                        const QJsonObject member = mv.toObject();
                        auto *item = new QTreeWidgetItem(
                            top, {member.value(u"address"_s).toString(),
                                  member.value(u"state"_s).toString(),
                                  member.value(u"health"_s).toString(),
                                  QString::number(member.value(u"weight"_s).toInt()),
                                  QString::number(member.value(u"in_flight"_s).toInteger()),
                                  QString::number(member.value(u"requests"_s).toInteger()),
                                  QString::number(member.value(u"failures"_s).toInteger()),
                                  QString::number(member.value(u"latency_us"_s).toInteger()),
                                  member.value(u"drained"_s).toBool() ? tr("yes") : QString()});
                        if (member.value(u"state"_s).toString() == u"down"_s)
                            item->setForeground(1, QColor(0xc0, 0x39, 0x2b));
                        if (item->text(0) == selected)
                            m_groups->setCurrentItem(item);
                    }
                }
                m_groups->expandAll();
                for (int i = 0; i < m_groups->columnCount(); ++i)
                    m_groups->resizeColumnToContents(i);
            });
    connect(m_connection, &Client::AdminConnection::logTail, this,
            [this](const QString &name, const QStringList &lines) {
                if (name == u"cron"_s && m_cronFromLog)
                    setCronLines(lines);
                else if (name == u"smtpda"_s)
                    m_mail->setPlainText(lines.join(u'\n'));
            });
    connect(m_connection, &Client::AdminConnection::cronReceived, this, &ServicesPage::setCronJobs);
    connect(m_connection, &Client::AdminConnection::mailReceived, this,
            &ServicesPage::setMailQueue);
    connect(m_connection, &Client::AdminConnection::memberDrained, this,
            [this](const QString &group, const QString &member, bool undo) {
                m_status->setText(undo ? tr("%1 in @%2 takes requests again.").arg(member, group)
                                       : tr("%1 in @%2 drained.").arg(member, group));
                refresh();
            });
    connect(m_connection, &Client::AdminConnection::cronJobStarted, this,
            [this](const QJsonObject &r) {
                m_status->setText(tr("Started %1 (pid %2): %3")
                                      .arg(r.value(u"job"_s).toString())
                                      .arg(r.value(u"pid"_s).toInteger())
                                      .arg(r.value(u"command"_s).toString()));
            });
    connect(m_connection, &Client::AdminConnection::mailRetried, this,
            [this](const QJsonObject &r) {
                m_status->setText(
                    tr("%n deferred message(s) due now.", nullptr, r.value(u"retried"_s).toInt()));
                refresh();
            });
    connect(m_connection, &Client::AdminConnection::failed, this,
            [this](const QString &operation, const Client::AdminError &error) {
                if (operation == u"cronjobs"_s && error.status == 404 && !m_cronFromLog) {
                    // An older server: fall back to what cron.log tells.
                    m_cronFromLog = true;
                    refresh();
                    return;
                }
                if (operation == u"mailqueue"_s) {
                    // No spool here (or an older server): the mail log alone tells.
                    m_mailQueueKnown = false;
                    m_mailQueue->setRowCount(0);
                    m_mailTitle->setText(error.status == 404 ? tr("No mail spool on this server.")
                                                             : error.message);
                    return;
                }
                if (operation == u"drain"_s || operation == u"cron"_s || operation == u"mail"_s)
                    m_status->setText(tr("%1 failed: %2").arg(operation, error.message));
            });
    connect(m_timer, &QTimer::timeout, this, &ServicesPage::refresh);
    m_timer->start(3000);
    refresh();
}

void ServicesPage::refresh()
{
    m_connection->fetchGroups();
    if (m_cronFromLog)
        m_connection->tailLog(u"cron"_s, 300, QString());
    else
        m_connection->fetchCron();
    if (m_mailQueueKnown)
        m_connection->fetchMail();
    m_connection->tailLog(u"smtpda"_s, 100, QString());
}

void ServicesPage::drainSelected(bool undo)
{
    QTreeWidgetItem *item = m_groups->currentItem();
    if (!item || !item->parent())
        return;
    m_connection->drainMember(item->parent()->text(0).mid(1), item->text(0), undo);
}

void ServicesPage::runCronJob(const QString &job)
{
    if (!job.isEmpty())
        m_connection->runCronJob(job);
}

void ServicesPage::setCronJobs(const QJsonArray &jobs, const QString &timezone)
{
    m_cronTitle->setText(tr("Times in %1.").arg(timezone));
    m_cron->setHorizontalHeaderLabels({tr("Job"), tr("Schedule"), tr("Next run"), tr("Last run"),
                                       tr("Last result"), tr("Command")});
    m_cron->setRowCount(int(jobs.size()));
    for (int row = 0; row < jobs.size(); ++row) {
        const QJsonObject job = jobs[row].toObject();
        const QString next = job.value(u"reboot"_s).toBool()
                                 ? tr("when berthd starts")
                                 : job.value(u"next"_s).toString(tr("never"));
        const QString last = job.value(u"last_exit"_s).toString();
        const QStringList cells{job.value(u"id"_s).toString(),
                                job.value(u"schedule"_s).toString(),
                                next,
                                job.value(u"last_run"_s).toString(),
                                last,
                                job.value(u"command"_s).toString()};
        for (int c = 0; c < cells.size(); ++c)
            m_cron->setItem(row, c, new QTableWidgetItem(cells[c]));
        // Every upcoming run, for the row's tooltip.
        QStringList upcoming;
        for (const QJsonValue &t : job.value(u"next_runs"_s).toArray())
            upcoming.append(t.toString());
        m_cron->item(row, 2)->setToolTip(upcoming.join(u'\n'));
        if (last.startsWith(u"failed"_s))
            m_cron->item(row, 4)->setForeground(QColor(0xc0, 0x39, 0x2b));
    }
    m_cron->resizeColumnsToContents();
}

void ServicesPage::setMailQueue(const QJsonArray &messages, int total)
{
    m_mailTitle->setText(messages.size() < total
                             ? tr("%1 of %2 messages shown.").arg(messages.size()).arg(total)
                             : tr("%n message(s) in the spool.", nullptr, total));
    m_mailQueue->setRowCount(int(messages.size()));
    for (int row = 0; row < messages.size(); ++row) {
        const QJsonObject msg = messages[row].toObject();
        QStringList to;
        for (const QJsonValue &t : msg.value(u"to"_s).toArray())
            to.append(t.toString());
        const QString status = msg.value(u"status"_s).toString();
        const bool undelivered = status == u"undelivered"_s;
        const QString next =
            undelivered ? QString() : msg.value(u"next_attempt"_s).toString(tr("due now"));
        const QStringList cells{msg.value(u"id"_s).toString(),
                                to.join(u", "_s),
                                msg.value(u"subject"_s).toString(),
                                status,
                                QString::number(msg.value(u"attempts"_s).toInt()),
                                next,
                                msg.value(u"last_error"_s).toString()};
        for (int c = 0; c < cells.size(); ++c)
            m_mailQueue->setItem(row, c, new QTableWidgetItem(cells[c]));
        m_mailQueue->item(row, 0)->setToolTip(
            tr("From %1, queued %2")
                .arg(msg.value(u"from"_s).toString(), msg.value(u"queued"_s).toString()));
        if (undelivered)
            m_mailQueue->item(row, 3)->setForeground(QColor(0xc0, 0x39, 0x2b));
    }
    m_mailQueue->resizeColumnsToContents();
}

void ServicesPage::setCronLines(const QStringList &lines)
{
    m_cronTitle->setText(tr("This server has no cron listing: jobs as cron.log tells them."));
    m_cron->setHorizontalHeaderLabels(
        {tr("Job"), tr("Last event"), tr("Time"), tr("Detail"), QString(), QString()});
    // time event FILE:LINE rest — the last event of each job wins.
    QMap<QString, QStringList> jobs;
    for (const QString &line : lines) {
        const QStringList parts = line.split(u' ');
        if (parts.size() < 3)
            continue;
        jobs.insert(parts[2], {parts[2], parts[1], parts[0], line.section(u' ', 3)});
    }
    m_cron->setRowCount(int(jobs.size()));
    int row = 0;
    for (const QStringList &job : std::as_const(jobs)) {
        for (int c = 0; c < m_cron->columnCount(); ++c)
            m_cron->setItem(row, c, new QTableWidgetItem(job.value(c)));
        const bool bad = job[1] == u"kill"_s || job[1] == u"error"_s ||
                         (job[1] == u"exit"_s && !job[3].contains(u"status 0 "_s));
        if (bad)
            m_cron->item(row, 1)->setForeground(QColor(0xc0, 0x39, 0x2b));
        ++row;
    }
    m_cron->resizeColumnsToContents();
}

} // namespace Berth::Console
