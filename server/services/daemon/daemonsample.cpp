#include "daemonsample.h"

#include "runtime/statsregistry.h"

#include <config/config.h>

#include <QDateTime>
#include <QLoggingCategory>

Q_LOGGING_CATEGORY(lcDaemonSample, "berth.app.daemon_sample")

namespace Berth::Daemons {

bool DaemonSample::prepare(const DaemonContext &context, QStringList *)
{
    m_context = context;
    m_intervalMs = qMax<qint64>(
        1, context.config->getDuration(context.section, QStringLiteral("interval")).count());
    m_iterationsStat = context.stats->declare(QStringLiteral("iterations"), Core::StatType::Worker);
    m_lastRunStat = context.stats->declare(QStringLiteral("last_run"), Core::StatType::Worker);
    return true;
}

bool DaemonSample::start(QStringList *)
{
    m_timer.disconnect(this);
    connect(&m_timer, &QTimer::timeout, this, &DaemonSample::iterate);
    m_timer.start(int(qMin<qint64>(m_intervalMs, INT_MAX)));
    iterate(); // brim logs the first line at once
    return true;
}

void DaemonSample::iterate()
{
    ++m_iterations;
    m_lastRun = QDateTime::currentSecsSinceEpoch();
    m_context.stats->set(m_iterationsStat, m_iterations);
    m_context.stats->set(m_lastRunStat, m_lastRun);
    qCInfo(lcDaemonSample).noquote()
        << QStringLiteral("%1: sample daemon status line %2").arg(m_context.name).arg(m_iterations);
}

void DaemonSample::stop()
{
    m_timer.stop();
    Q_EMIT stopped();
}

QString DaemonSample::statusLine() const
{
    return QStringLiteral("%1 iterations, last run %2")
        .arg(m_iterations)
        .arg(m_lastRun ? QDateTime::fromSecsSinceEpoch(m_lastRun).toString(Qt::ISODate)
                       : QStringLiteral("never"));
}

QStringList DaemonSample::statNames() const
{
    return {QStringLiteral("iterations"), QStringLiteral("last_run")};
}

void registerDaemonSample(DaemonRegistry &registry)
{
    registry.add(
        DaemonKind{QString::fromLatin1(DaemonSample::Name),
                   [](const Config::Config &config, const QString &section) {
                       using namespace std::chrono_literals;
                       if (config.getDuration(section, QStringLiteral("interval")) <= 0ms)
                           config.addDiagnostic(
                               {Config::Diagnostic::Severity::Error,
                                config.location(section, QStringLiteral("interval")),
                                QStringLiteral("[%1] interval: must be above 0").arg(section)});
                   },
                   [] { return std::make_unique<DaemonSample>(); }});
}

} // namespace Berth::Daemons
