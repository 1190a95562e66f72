#include "dashboardpage.h"

#include "adminclient/adminconnection.h"

#include <QChart>
#include <QChartView>
#include <QComboBox>
#include <QCursor>
#include <QDateTime>
#include <QDateTimeAxis>
#include <QGridLayout>
#include <QHBoxLayout>
#include <QLabel>
#include <QLineSeries>
#include <QLocale>
#include <QShortcut>
#include <QToolTip>
#include <QVBoxLayout>
#include <QValueAxis>

namespace Berth::Console {

using namespace Qt::StringLiterals;

DashboardPage::DashboardPage(Client::AdminConnection *connection, QWidget *parent)
    : QWidget(parent)
    , m_connection(connection)
    , m_clock([] { return QDateTime::currentMSecsSinceEpoch(); })
{
    auto *layout = new QVBoxLayout(this);
    auto *top = new QHBoxLayout;
    top->addWidget(new QLabel(tr("&Window:"), this));
    m_window = new QComboBox(this);
    m_window->addItem(tr("5 minutes"), 5);
    m_window->addItem(tr("15 minutes"), 15);
    m_window->addItem(tr("60 minutes"), 60);
    qobject_cast<QLabel *>(top->itemAt(0)->widget())->setBuddy(m_window);
    connect(m_window, &QComboBox::currentIndexChanged, this,
            [this] { setWindowMinutes(m_window->currentData().toInt()); });
    top->addWidget(m_window);
    m_summary = new QLabel(this);
    top->addWidget(m_summary, 1);
    layout->addLayout(top);

    auto *grid = new QGridLayout;
    grid->addWidget(
        addChart(tr("Requests and errors per second"), {u"requests/s"_s, u"4xx/s"_s, u"5xx/s"_s}),
        0, 0);
    grid->addWidget(addChart(tr("Latency (ms)"), {u"p50 ms"_s, u"p99 ms"_s}), 0, 1);
    grid->addWidget(addChart(tr("Active connections"), {u"connections"_s}), 1, 0);
    grid->addWidget(addChart(tr("Bytes per second (in + out)"), {u"bytes/s"_s}), 1, 1);
    QChartView *workers = addChart(tr("Requests per second by worker"), {});
    m_workerChart = workers->chart();
    grid->addWidget(workers, 2, 0, 1, 2);
    layout->addLayout(grid, 1);

    for (int i = 0; i < 3; ++i) {
        auto *shortcut = new QShortcut(QKeySequence(u"Alt+%1"_s.arg(i + 1)), this);
        connect(shortcut, &QShortcut::activated, this, [this, i] { m_window->setCurrentIndex(i); });
    }
    connect(m_connection, &Client::AdminConnection::statsEvent, this, &DashboardPage::onSnapshot);
}

QChartView *DashboardPage::addChart(const QString &title, const QStringList &seriesNames)
{
    auto *chart = new QChart;
    chart->setTitle(title);
    chart->setTheme(palette().color(QPalette::Window).lightness() < 128 ? QChart::ChartThemeDark
                                                                        : QChart::ChartThemeLight);
    chart->setMargins(QMargins(2, 2, 2, 2));
    chart->legend()->setAlignment(Qt::AlignBottom);
    auto *x = new QDateTimeAxis;
    x->setFormat(u"HH:mm"_s);
    x->setTickCount(6);
    auto *y = new QValueAxis;
    y->setLabelFormat(u"%.0f"_s);
    y->setRange(0, 1);
    chart->addAxis(x, Qt::AlignBottom);
    chart->addAxis(y, Qt::AlignLeft);
    for (const QString &name : seriesNames)
        addSeries(chart, name);
    m_charts.append(chart);
    auto *view = new QChartView(chart, this);
    view->setRenderHint(QPainter::Antialiasing);
    view->setMinimumHeight(160);
    return view;
}

QLineSeries *DashboardPage::addSeries(QChart *chart, const QString &name)
{
    auto *series = new QLineSeries(chart);
    series->setName(name);
    chart->addSeries(series);
    for (QAbstractAxis *axis : chart->axes())
        series->attachAxis(axis);
    connect(series, &QLineSeries::hovered, this, [name](const QPointF &point, bool state) {
        if (!state) {
            QToolTip::hideText();
            return;
        }
        const QString when =
            QDateTime::fromMSecsSinceEpoch(qint64(point.x())).toString(u"HH:mm:ss"_s);
        QToolTip::showText(QCursor::pos(),
                           u"%1 %2: %3"_s.arg(when, name, QLocale().toString(point.y(), 'f', 1)));
    });
    m_series.insert(name, series);
    return series;
}

QLineSeries *DashboardPage::series(const QString &name) const
{
    return m_series.value(name);
}

void DashboardPage::setWindowMinutes(int minutes)
{
    m_windowMinutes = minutes;
    const int index = m_window->findData(minutes);
    if (index >= 0 && index != m_window->currentIndex())
        m_window->setCurrentIndex(index);
    refresh();
}

void DashboardPage::onSnapshot(const QJsonObject &snapshot)
{
    m_history.add(snapshot, m_clock());
    refresh();
}

void DashboardPage::refresh()
{
    const qint64 now = m_clock();
    const qint64 from = now - qint64(m_windowMinutes) * 60'000;
    QHash<QString, QList<QPointF>> points;
    for (const StatsSample &s : m_history.samples()) {
        if (s.timeMs < from)
            continue;
        const double x = double(s.timeMs);
        points[u"requests/s"_s].append({x, s.requestsPerS});
        points[u"4xx/s"_s].append({x, s.status4xxPerS});
        points[u"5xx/s"_s].append({x, s.status5xxPerS});
        if (s.p50Ms >= 0) {
            points[u"p50 ms"_s].append({x, s.p50Ms});
            points[u"p99 ms"_s].append({x, s.p99Ms});
        }
        points[u"connections"_s].append({x, s.activeConnections});
        points[u"bytes/s"_s].append({x, s.bytesPerS});
        for (auto it = s.workerRequestsPerS.cbegin(); it != s.workerRequestsPerS.cend(); ++it)
            points[u"worker %1"_s.arg(it.key())].append({x, it.value()});
    }
    for (auto it = points.cbegin(); it != points.cend(); ++it) {
        if (!m_series.contains(it.key()) && it.key().startsWith(u"worker "_s))
            addSeries(m_workerChart, it.key());
    }
    for (auto it = m_series.cbegin(); it != m_series.cend(); ++it)
        it.value()->replace(points.value(it.key()));
    for (QChart *chart : std::as_const(m_charts)) {
        double top = 1;
        for (QAbstractSeries *s : chart->series()) {
            for (const QPointF &p : static_cast<QLineSeries *>(s)->points())
                top = qMax(top, p.y());
        }
        const auto x = chart->axes(Qt::Horizontal);
        const auto y = chart->axes(Qt::Vertical);
        if (!x.isEmpty())
            x.first()->setRange(QDateTime::fromMSecsSinceEpoch(from),
                                QDateTime::fromMSecsSinceEpoch(now));
        if (!y.isEmpty())
            y.first()->setRange(0, top * 1.1);
    }
    if (!m_history.samples().isEmpty()) {
        const StatsSample &s = m_history.samples().last();
        m_summary->setText(tr("%1 req/s · 4xx %2/s · 5xx %3/s · p99 %4 ms · %5 connections")
                               .arg(QLocale().toString(s.requestsPerS, 'f', 1),
                                    QLocale().toString(s.status4xxPerS, 'f', 1),
                                    QLocale().toString(s.status5xxPerS, 'f', 1),
                                    s.p99Ms < 0 ? u"–"_s : QLocale().toString(s.p99Ms, 'f', 0),
                                    QLocale().toString(s.activeConnections, 'f', 0)));
    }
}

} // namespace Berth::Console
