#include "fleetpage.h"

#include "adminclient/adminconnection.h"

#include <QBrush>
#include <QColor>
#include <QDateTime>
#include <QHeaderView>
#include <QJsonArray>
#include <QLabel>
#include <QLocale>
#include <QTableView>
#include <QTimer>
#include <QVBoxLayout>

namespace Berth::Console {

using namespace Qt::StringLiterals;

FleetModel::FleetModel(const Factory &factory, QObject *parent)
    : QAbstractTableModel(parent)
    , m_factory(factory)
    , m_clock([] { return QDateTime::currentMSecsSinceEpoch(); })
{}

void FleetModel::setServers(const QList<ServerEntry> &servers)
{
    beginResetModel();
    for (Row &r : m_rows)
        r.connection->deleteLater();
    m_rows.clear();
    for (const ServerEntry &s : servers) {
        Row row;
        row.server = s;
        row.connection = m_factory(s, this);
        Client::AdminConnection *c = row.connection;
        m_rows.append(row);
        auto index = [this, c] {
            for (int i = 0; i < m_rows.size(); ++i) {
                if (m_rows[i].connection == c)
                    return i;
            }
            return -1;
        };
        connect(c, &Client::AdminConnection::infoReceived, this,
                [this, index](const QJsonObject &info) {
                    const int i = index();
                    m_rows[i].up = m_rows[i].answered = true;
                    m_rows[i].generation = info.value(u"generation"_s).toInteger();
                    changed(i);
                });
        connect(c, &Client::AdminConnection::statsReceived, this,
                [this, index](const QJsonObject &s) {
                    const int i = index();
                    Row &r = m_rows[i];
                    const qint64 now = m_clock();
                    if (!r.lastStats.isEmpty() && now > r.lastStatsMs) {
                        auto delta = [](qint64 a, qint64 b) { return a >= b ? a - b : a; };
                        const qint64 requests = delta(s.value(u"requests"_s).toInteger(),
                                                      r.lastStats.value(u"requests"_s).toInteger());
                        const qint64 errors = delta(
                            s.value(u"status"_s).toObject().value(u"5xx"_s).toInteger(),
                            r.lastStats.value(u"status"_s).toObject().value(u"5xx"_s).toInteger());
                        r.requestsPerS = double(requests) * 1000.0 / double(now - r.lastStatsMs);
                        r.errorRatio = requests > 0 ? double(errors) / double(requests) : 0;
                    }
                    r.lastStats = s;
                    r.lastStatsMs = now;
                    r.p99Ms = s.value(u"latency_p99_ms"_s).toDouble(-1);
                    changed(i);
                });
        connect(c, &Client::AdminConnection::childrenReceived, this,
                [this, index](const QJsonArray &children) {
                    const int i = index();
                    qint64 total = 0;
                    for (const QJsonValue &v : children)
                        total += v.toObject().value(u"restarts"_s).toInteger();
                    const qint64 now = m_clock();
                    auto &list = m_rows[i].restarts;
                    list.append({now, total});
                    while (list.size() > 1 && list.first().first < now - 3'600'000)
                        list.removeFirst();
                    changed(i);
                });
        connect(c, &Client::AdminConnection::failed, this,
                [this, index](const QString &operation, const Client::AdminError &) {
                    if (operation != u"info"_s)
                        return;
                    const int i = index();
                    m_rows[i].up = false;
                    m_rows[i].answered = true;
                    changed(i);
                });
    }
    endResetModel();
    poll();
}

void FleetModel::poll()
{
    for (const Row &r : std::as_const(m_rows)) {
        r.connection->fetchInfo();
        r.connection->fetchStats();
        r.connection->fetchChildren();
    }
}

void FleetModel::changed(int row)
{
    Q_EMIT dataChanged(index(row, 0), index(row, ColumnCount - 1));
}

int FleetModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_rows.size());
}

int FleetModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : ColumnCount;
}

QVariant FleetModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= m_rows.size())
        return {};
    const Row &r = m_rows.at(index.row());
    if (role == Qt::ForegroundRole && index.column() == Status && r.answered)
        return QBrush(r.up ? QColor(0x27, 0xae, 0x60) : QColor(0xc0, 0x39, 0x2b));
    if (role == Qt::ToolTipRole)
        return r.server.url;
    if (role != Qt::DisplayRole)
        return {};
    const QLocale locale;
    switch (index.column()) {
    case Name:
        return r.server.name;
    case Status:
        return !r.answered ? tr("…") : r.up ? tr("up") : tr("down");
    case Generation:
        return r.up ? QVariant(r.generation) : QVariant();
    case RequestsPerS:
        return r.up ? locale.toString(r.requestsPerS, 'f', 1) : QString();
    case ErrorRatio:
        return r.up ? locale.toString(r.errorRatio * 100, 'f', 2) + u" %"_s : QString();
    case P99:
        return r.up && r.p99Ms >= 0 ? locale.toString(r.p99Ms, 'f', 0) + u" ms"_s : QString();
    case Restarts:
        return r.restarts.isEmpty()
                   ? QVariant()
                   : QVariant(r.restarts.last().second - r.restarts.first().second);
    }
    return {};
}

QVariant FleetModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    const QStringList names{tr("Server"),    tr("Status"), tr("Generation"),    tr("Requests/s"),
                            tr("5xx ratio"), tr("p99"),    tr("Restarts (1 h)")};
    return names.value(section);
}

FleetPage::FleetPage(const FleetModel::Factory &factory, QWidget *parent)
    : QWidget(parent)
    , m_model(new FleetModel(factory, this))
    , m_timer(new QTimer(this))
{
    auto *layout = new QVBoxLayout(this);
    layout->addWidget(new QLabel(tr("Every server of the list, polled every 5 s. Double-click "
                                    "one to open it."),
                                 this));
    m_view = new QTableView(this);
    m_view->setModel(m_model);
    m_view->setSelectionBehavior(QAbstractItemView::SelectRows);
    m_view->horizontalHeader()->setStretchLastSection(true);
    m_view->verticalHeader()->hide();
    layout->addWidget(m_view, 1);
    connect(m_view, &QTableView::activated, this, [this](const QModelIndex &index) {
        Q_EMIT openRequested(m_model->index(index.row(), FleetModel::Name).data().toString());
    });
    connect(m_timer, &QTimer::timeout, m_model, &FleetModel::poll);
    m_timer->start(5000);
}

} // namespace Berth::Console
