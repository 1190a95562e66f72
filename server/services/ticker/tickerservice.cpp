#include "tickerservice.h"

#include "service/serviceregistry.h"

#include <config/config.h>
#include <config/snapshot.h>

#include <QFile>
#include <QLoggingCategory>

#include <cstdlib>
#include <unistd.h>

Q_LOGGING_CATEGORY(lcTicker, "berth.ticker")

namespace Berth::Services {

namespace {

const QString Kind = QStringLiteral("berth.ticker");
const QString Prefix = QStringLiteral("ticker:");

bool enabled()
{
    return qEnvironmentVariable("BERTH_TEST_APPS") == QLatin1String("1");
}

QList<Supervisor::ChildSpec> tickerChildSpecs(const Config::Config &config)
{
    QList<Supervisor::ChildSpec> specs;
    if (!enabled())
        return specs;
    for (const Config::Section *section : config.sectionsWithPrefix(Prefix)) {
        Supervisor::ChildSpec spec;
        spec.kind = Kind;
        spec.name = section->name.mid(Prefix.size());
        spec.count = 1;
        const bool onFailure = config.getString(section->name, QStringLiteral("restart")) ==
                               QLatin1String("on-failure");
        spec.restart = onFailure ? Supervisor::ChildSpec::Restart::OnFailure
                                 : Supervisor::ChildSpec::Restart::Always;
        spec.backoffStartMs = 100;
        spec.backoffCapMs = 2'000;
        spec.quickExitMs = 5'000;
        spec.crashLoopLimit =
            int(qMax<qint64>(0, config.getInt(section->name, QStringLiteral("crash_loop_limit"))));
        spec.reload = Supervisor::ChildSpec::Reload::Keep;
        spec.stopGraceMs = 5'000;
        spec.digest = Config::Snapshot::sectionsDigest(config, {section->name});
        specs.append(spec);
    }
    return specs;
}

void validateTicker(const Config::Config &config)
{
    for (const Config::Section *section : config.sectionsWithPrefix(Prefix)) {
        if (!enabled()) {
            config.addDiagnostic({Config::Diagnostic::Severity::Error, section->location,
                                  QStringLiteral("[%1]: berth.ticker is a test service, only "
                                                 "available with BERTH_TEST_APPS=1")
                                      .arg(section->name)});
            continue;
        }
        const QString mode = config.getString(section->name, QStringLiteral("mode"));
        if (mode != QLatin1String("tick") && mode != QLatin1String("crash"))
            config.addDiagnostic(
                {Config::Diagnostic::Severity::Error,
                 config.location(section->name, QStringLiteral("mode")),
                 QStringLiteral("[%1] mode: '%2' is not tick or crash").arg(section->name, mode)});
        const QString restart = config.getString(section->name, QStringLiteral("restart"));
        if (restart != QLatin1String("always") && restart != QLatin1String("on-failure"))
            config.addDiagnostic({Config::Diagnostic::Severity::Error,
                                  config.location(section->name, QStringLiteral("restart")),
                                  QStringLiteral("[%1] restart: '%2' is not always or on-failure")
                                      .arg(section->name, restart)});
        using namespace std::chrono_literals;
        if (config.getDuration(section->name, QStringLiteral("interval")) <= 0ms)
            config.addDiagnostic(
                {Config::Diagnostic::Severity::Error,
                 config.location(section->name, QStringLiteral("interval")),
                 QStringLiteral("[%1] interval: must be above 0").arg(section->name)});
    }
}

} // namespace

TickerService::TickerService(const Supervisor::ServiceSetup &setup)
    : m_setup(setup)
    , m_section(Prefix + setup.name)
{}

bool TickerService::prepare(QStringList *errors)
{
    using namespace std::chrono_literals;
    const Config::Config &config = *m_setup.config;
    m_intervalMs = config.getDuration(m_section, QStringLiteral("interval")).count();
    m_crash = config.getString(m_section, QStringLiteral("mode")) == QLatin1String("crash");
    m_file = config.getPath(m_section, QStringLiteral("file"));
    QString error;
    if (!m_setup.shared || !m_stats.attach(*m_setup.shared, m_setup.slot, &error)) {
        errors->append(QStringLiteral("[%1]: %2").arg(m_section, error));
        return false;
    }
    m_ticksStat = m_stats.declare(QStringLiteral("ticks"), Core::StatType::Sum);
    return true;
}

bool TickerService::start(QStringList *)
{
    connect(&m_timer, &QTimer::timeout, this, &TickerService::tick);
    m_timer.start(int(qBound(qint64(1), m_intervalMs, qint64(INT_MAX))));
    writeLine(QByteArrayLiteral("start pid ") + QByteArray::number(::getpid()));
    markReady();
    return true;
}

void TickerService::tick()
{
    if (m_crash) {
        writeLine(QByteArrayLiteral("crash pid ") + QByteArray::number(::getpid()));
        std::abort();
    }
    ++m_ticks;
    m_stats.add(m_ticksStat);
    writeLine(QByteArrayLiteral("tick ") + QByteArray::number(m_ticks) + " pid " +
              QByteArray::number(::getpid()));
}

void TickerService::writeLine(const QByteArray &line)
{
    if (m_file.isEmpty())
        return;
    QFile file(m_file);
    if (!file.open(QIODevice::WriteOnly | QIODevice::Append)) {
        qCWarning(lcTicker).noquote()
            << m_section << "cannot write" << m_file << file.errorString();
        return;
    }
    file.write(m_setup.name.toUtf8() + ' ' + line + '\n');
}

void TickerService::drain()
{
    m_timer.stop();
    writeLine(QByteArrayLiteral("stop pid ") + QByteArray::number(::getpid()));
    markDrained();
}

void TickerService::stopNow()
{
    drain();
}

QStringList TickerService::statNames() const
{
    return {QStringLiteral("ticks")};
}

void registerTickerService(Supervisor::ServiceRegistry &registry)
{
    registry.add(Supervisor::ServiceKind{
        Kind, tickerChildSpecs, validateTicker,
        [](const Supervisor::ServiceSetup &setup) -> std::unique_ptr<Supervisor::Service> {
            return std::make_unique<TickerService>(setup);
        }});
}

} // namespace Berth::Services
