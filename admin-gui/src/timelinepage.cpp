#include "timelinepage.h"

#include "adminclient/adminconnection.h"

#include <QCategoryAxis>
#include <QChart>
#include <QChartView>
#include <QComboBox>
#include <QCursor>
#include <QDateTime>
#include <QDateTimeAxis>
#include <QHBoxLayout>
#include <QHeaderView>
#include <QLabel>
#include <QLineSeries>
#include <QScatterSeries>
#include <QSplitter>
#include <QTableWidget>
#include <QTimer>
#include <QToolTip>
#include <QVBoxLayout>
#include <QValueAxis>

namespace Berth::Console {

using namespace Qt::StringLiterals;

namespace {

const QStringList TimelineLogs{u"server"_s, u"admin-audit"_s, u"cron"_s, u"smtpda"_s};

QChart *newChart(const QPalette &palette)
{
    auto *chart = new QChart;
    chart->setTheme(palette.color(QPalette::Window).lightness() < 128 ? QChart::ChartThemeDark
                                                                      : QChart::ChartThemeLight);
    chart->setMargins(QMargins(2, 2, 2, 2));
    chart->legend()->setAlignment(Qt::AlignRight);
    auto *x = new QDateTimeAxis;
    x->setFormat(u"HH:mm"_s);
    x->setTickCount(7);
    chart->addAxis(x, Qt::AlignBottom);
    return chart;
}

} // namespace

TimelinePage::TimelinePage(Client::AdminConnection *stats, Client::AdminConnection *logs,
                           QWidget *parent)
    : QWidget(parent)
    , m_logs(logs)
    , m_clock([] { return QDateTime::currentMSecsSinceEpoch(); })
    , m_timer(new QTimer(this))
{
    auto *layout = new QVBoxLayout(this);
    auto *bar = new QHBoxLayout;
    bar->addWidget(new QLabel(tr("Window:"), this));
    m_window = new QComboBox(this);
    m_window->addItem(tr("15 minutes"), 15);
    m_window->addItem(tr("60 minutes"), 60);
    m_window->addItem(tr("5 minutes"), 5);
    bar->addWidget(m_window);
    bar->addStretch(1);
    layout->addLayout(bar);

    m_rates = newChart(palette());
    m_rates->setTitle(tr("Requests and errors per second"));
    auto *y = new QValueAxis;
    y->setLabelFormat(u"%.0f"_s);
    m_rates->addAxis(y, Qt::AlignLeft);
    m_requests = new QLineSeries(m_rates);
    m_requests->setName(tr("requests/s"));
    m_errors = new QLineSeries(m_rates);
    m_errors->setName(tr("errors/s (4xx+5xx)"));
    for (QLineSeries *s : {m_requests, m_errors}) {
        m_rates->addSeries(s);
        for (QAbstractAxis *a : m_rates->axes())
            s->attachAxis(a);
    }

    m_eventsChart = newChart(palette());
    m_eventsChart->setTitle(tr("Events"));
    auto *lanes = new QCategoryAxis;
    lanes->setLabelsPosition(QCategoryAxis::AxisLabelsPositionOnValue);
    lanes->setTruncateLabels(false);
    lanes->setRange(-0.5, int(TimelineEvent::KindCount) - 0.5);
    for (int k = 0; k < TimelineEvent::KindCount; ++k)
        lanes->append(TimelineModel::kindName(TimelineEvent::Kind(k)), k);
    m_eventsChart->addAxis(lanes, Qt::AlignLeft);
    m_eventsChart->legend()->hide();
    for (int k = 0; k < TimelineEvent::KindCount; ++k) {
        auto *s = new QScatterSeries(m_eventsChart);
        s->setName(TimelineModel::kindName(TimelineEvent::Kind(k)));
        s->setMarkerSize(11);
        m_eventsChart->addSeries(s);
        for (QAbstractAxis *a : m_eventsChart->axes())
            s->attachAxis(a);
        connect(s, &QScatterSeries::hovered, this, [this, k](const QPointF &p, bool state) {
            if (!state)
                return QToolTip::hideText();
            for (const TimelineEvent &e : m_model.events()) {
                if (e.kind == k && qAbs(double(e.timeMs) - p.x()) < 1)
                    return QToolTip::showText(QCursor::pos(), e.text);
            }
        });
        m_kinds.append(s);
    }

    auto *split = new QSplitter(Qt::Vertical, this);
    for (QChart *c : {m_rates, m_eventsChart}) {
        auto *view = new QChartView(c, split);
        view->setRenderHint(QPainter::Antialiasing);
        view->setMinimumHeight(c == m_eventsChart ? 260 : 170);
    }
    m_table = new QTableWidget(0, 3, split);
    m_table->setHorizontalHeaderLabels({tr("Time"), tr("Event"), tr("Line")});
    m_table->horizontalHeader()->setStretchLastSection(true);
    m_table->verticalHeader()->hide();
    m_table->setEditTriggers(QAbstractItemView::NoEditTriggers);
    m_table->setSelectionBehavior(QAbstractItemView::SelectRows);
    layout->addWidget(split, 1);

    connect(m_window, &QComboBox::currentIndexChanged, this, &TimelinePage::refresh);
    connect(stats, &Client::AdminConnection::statsEvent, this, [this](const QJsonObject &s) {
        m_history.add(s, m_clock());
        refresh();
    });
    connect(m_logs, &Client::AdminConnection::logTail, this,
            [this](const QString &name, const QStringList &lines) {
                if (m_model.addLines(name, lines))
                    refresh();
            });
    connect(m_timer, &QTimer::timeout, this, &TimelinePage::poll);
    m_timer->start(5000);
    poll();
}

void TimelinePage::poll()
{
    for (const QString &log : TimelineLogs)
        m_logs->tailLog(log, 400, QString());
}

void TimelinePage::refresh()
{
    const qint64 now = m_clock();
    const qint64 from = now - qint64(m_window->currentData().toInt()) * 60'000;
    QList<QPointF> requests;
    QList<QPointF> errors;
    double top = 1;
    for (const StatsSample &s : m_history.samples()) {
        if (s.timeMs < from)
            continue;
        requests.append({double(s.timeMs), s.requestsPerS});
        errors.append({double(s.timeMs), s.status4xxPerS + s.status5xxPerS});
        top = qMax(top, s.requestsPerS);
    }
    m_requests->replace(requests);
    m_errors->replace(errors);
    QList<QList<QPointF>> lanes(TimelineEvent::KindCount);
    const QList<TimelineEvent> &events = m_model.events();
    for (const TimelineEvent &e : events) {
        if (e.timeMs >= from)
            lanes[e.kind].append({double(e.timeMs), double(e.kind)});
    }
    for (int k = 0; k < TimelineEvent::KindCount; ++k)
        m_kinds[k]->replace(lanes[k]);
    for (QChart *c : {m_rates, m_eventsChart}) {
        c->axes(Qt::Horizontal)
            .first()
            ->setRange(QDateTime::fromMSecsSinceEpoch(from), QDateTime::fromMSecsSinceEpoch(now));
    }
    m_rates->axes(Qt::Vertical).first()->setRange(0, top * 1.1);

    m_table->setRowCount(int(events.size()));
    for (int r = 0; r < events.size(); ++r) {
        const TimelineEvent &e = events.at(events.size() - 1 - r); // newest first
        auto *kind = new QTableWidgetItem(TimelineModel::kindName(e.kind));
        if (e.failure)
            kind->setForeground(QColor(0xc0, 0x39, 0x2b));
        m_table->setItem(
            r, 0,
            new QTableWidgetItem(QDateTime::fromMSecsSinceEpoch(e.timeMs).toString(u"HH:mm:ss"_s)));
        m_table->setItem(r, 1, kind);
        m_table->setItem(r, 2, new QTableWidgetItem(e.text));
    }
}

} // namespace Berth::Console
