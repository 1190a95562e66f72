#include "daemonconfig.h"

#include "commandline.h"
#include "daemon/daemon.h"
#include "service/childspec.h"

#include <config/config.h>

#include <QHash>
#include <QSet>

namespace Berth::Daemons {

namespace {

QString prefix()
{
    return QString::fromLatin1(SectionPrefix);
}

void error(const Config::Config &config, const QString &section, const QString &key,
           const QString &text)
{
    const Config::Location where =
        key.isEmpty() ? config.section(section)->location : config.location(section, key);
    config.addDiagnostic(
        {Config::Diagnostic::Severity::Error, where,
         QStringLiteral("[%1]%2: %3").arg(section, key.isEmpty() ? QString() : u' ' + key, text)});
}

} // namespace

QStringList dependenciesOf(const Config::Config &config, const QString &section)
{
    return config.getList(section, QStringLiteral("depends_on"));
}

ProgramPolicy readPolicy(const Config::Config &config, const QString &section)
{
    ProgramPolicy policy;
    const QString restart = config.getString(section, QStringLiteral("autorestart"));
    policy.autorestart = restart == QLatin1String("never")        ? Autorestart::Never
                         : restart == QLatin1String("on-failure") ? Autorestart::OnFailure
                                                                  : Autorestart::Always;
    policy.startSecondsMs = config.getDuration(section, QStringLiteral("start_seconds")).count();
    policy.startRetries = int(config.getInt(section, QStringLiteral("start_retries")));
    policy.backoffMs = config.getDuration(section, QStringLiteral("backoff")).count();
    policy.backoffCapMs =
        qMax(policy.backoffMs,
             qint64(config.getDuration(section, QStringLiteral("backoff_cap")).count()));
    policy.stopTimeoutMs = config.getDuration(section, QStringLiteral("stop_timeout")).count();
    return policy;
}

ProgramSpec readProgram(const Config::Config &config, const QString &section, int instance)
{
    ProgramSpec spec;
    QString ignored;
    spec.argv =
        splitCommandLine(config.getString(section, QStringLiteral("command")), instance, &ignored)
            .value_or(QStringList());
    spec.directory = config.getPath(section, QStringLiteral("directory"));
    spec.environment =
        parseEnvironment(config.getString(section, QStringLiteral("environment")), &ignored)
            .value_or(QList<QPair<QString, QString>>());
    spec.user = config.getString(section, QStringLiteral("user"));
    spec.group = config.getString(section, QStringLiteral("group"));
    const QString mask = config.getString(section, QStringLiteral("umask"));
    spec.umask = mask.isEmpty() ? -1 : Config::Values::parseMode(mask).value_or(-1);
    spec.stdoutFile = config.getPath(section, QStringLiteral("stdout"));
    spec.stderrFile = config.getPath(section, QStringLiteral("stderr"));
    return spec;
}

QList<Supervisor::ChildSpec> daemonChildSpecs(const Config::Config &config)
{
    QList<Supervisor::ChildSpec> specs;
    // depends_on first: a dependency's child is spawned before its dependents' (the dependents
    // wait for it anyway; this only makes the log read in order).
    QList<const Config::Section *> sections = config.sectionsWithPrefix(prefix());
    QList<const Config::Section *> ordered;
    QSet<QString> placed;
    for (int pass = 0; pass <= sections.size() && ordered.size() < sections.size(); ++pass) {
        for (const Config::Section *section : sections) {
            const QString name = section->name.mid(prefix().size());
            if (placed.contains(name))
                continue;
            bool ready = true;
            for (const QString &dep : dependenciesOf(config, section->name))
                ready = ready && (placed.contains(dep) || !config.hasSection(prefix() + dep));
            if (ready || pass == sections.size()) {
                ordered.append(section);
                placed.insert(name);
            }
        }
    }
    for (const Config::Section *section : std::as_const(ordered)) {
        Supervisor::ChildSpec spec;
        spec.kind = QString::fromLatin1(Kind);
        spec.name = section->name.mid(prefix().size());
        spec.count =
            int(qMax<qint64>(1, config.getInt(section->name, QStringLiteral("instances"))));
        // The berthd child itself rarely dies (it outlives its program, FATAL included): when it
        // does, it is restarted with the supervisor's own back-off.
        spec.restart = Supervisor::ChildSpec::Restart::Always;
        spec.backoffStartMs = 500;
        spec.backoffCapMs = 30'000;
        spec.reload = Supervisor::ChildSpec::Reload::Keep;
        const qint64 stopTimeout =
            config.getDuration(section->name, QStringLiteral("stop_timeout")).count();
        // Its dependents stop first (each within its stop_timeout), then its own program.
        spec.stopGraceMs = 2 * stopTimeout + 5'000;
        spec.digest = Config::Snapshot::sectionsDigest(config, {section->name});
        specs.append(spec);
    }
    return specs;
}

void validateDaemons(const Config::Config &config)
{
    const QList<const Config::Section *> sections = config.sectionsWithPrefix(prefix());
    QHash<QString, QStringList> graph;
    for (const Config::Section *section : sections) {
        const QString s = section->name;
        const QString name = s.mid(prefix().size());
        if (name.isEmpty() || name.contains(u' ') || name.contains(u':'))
            error(config, s, QString(), QStringLiteral("a daemon name has no blank or colon"));
        const bool hasCall = !config.getString(s, QStringLiteral("call")).isEmpty();
        const bool hasCommand = !config.getString(s, QStringLiteral("command")).isEmpty();
        if (hasCall == hasCommand)
            error(config, s, QString(),
                  hasCall ? QStringLiteral("set either call or command, not both")
                          : QStringLiteral("set call (a built-in daemon) or command (a program)"));
        if (hasCall) {
            const QString call = config.getString(s, QStringLiteral("call"));
            const DaemonKind *kind = DaemonRegistry::builtin().find(call);
            if (!kind)
                error(config, s, QStringLiteral("call"),
                      QStringLiteral("unknown daemon '%1' (known: %2)")
                          .arg(call, DaemonRegistry::builtin().names().join(QStringLiteral(", "))));
            else if (kind->validate)
                kind->validate(config, s);
        }
        if (hasCommand) {
            QString why;
            if (!splitCommandLine(config.getString(s, QStringLiteral("command")), 0, &why))
                error(config, s, QStringLiteral("command"), why);
        }
        QString why;
        if (!parseEnvironment(config.getString(s, QStringLiteral("environment")), &why))
            error(config, s, QStringLiteral("environment"), why);
        const QString signal = config.getString(s, QStringLiteral("stop_signal"));
        if (signalNumber(signal) < 0)
            error(
                config, s, QStringLiteral("stop_signal"),
                QStringLiteral("'%1' is not TERM, INT, QUIT, HUP, KILL, USR1 or USR2").arg(signal));
        const QString restart = config.getString(s, QStringLiteral("autorestart"));
        if (restart != QLatin1String("always") && restart != QLatin1String("on-failure") &&
            restart != QLatin1String("never"))
            error(config, s, QStringLiteral("autorestart"),
                  QStringLiteral("'%1' is not always, on-failure or never").arg(restart));
        if (config.getInt(s, QStringLiteral("instances")) < 1)
            error(config, s, QStringLiteral("instances"), QStringLiteral("must be 1 or more"));
        using namespace std::chrono_literals;
        if (config.getDuration(s, QStringLiteral("stop_timeout")) <= 0ms)
            error(config, s, QStringLiteral("stop_timeout"), QStringLiteral("must be above 0"));
        const QStringList deps = dependenciesOf(config, s);
        for (const QString &dep : deps) {
            if (!config.hasSection(prefix() + dep))
                error(config, s, QStringLiteral("depends_on"),
                      QStringLiteral("no [daemon:%1] section").arg(dep));
            else if (dep == name)
                error(config, s, QStringLiteral("depends_on"),
                      QStringLiteral("a daemon cannot depend on itself"));
        }
        graph.insert(name, deps);
    }
    // Cycles: a depth-first walk from each daemon, reported once at the first section of one.
    QSet<QString> reported;
    for (const Config::Section *section : sections) {
        const QString start = section->name.mid(prefix().size());
        QList<QStringList> stack{{start}};
        QSet<QString> seen;
        while (!stack.isEmpty()) {
            const QStringList path = stack.takeLast();
            for (const QString &next : graph.value(path.last())) {
                if (next == start && path.size() > 1 && !reported.contains(start)) {
                    for (const QString &member : path)
                        reported.insert(member);
                    error(config, section->name, QStringLiteral("depends_on"),
                          QStringLiteral("dependency cycle: %1 -> %2")
                              .arg(path.join(QStringLiteral(" -> ")), start));
                } else if (!seen.contains(next) && graph.contains(next)) {
                    seen.insert(next);
                    stack.append(path + QStringList{next});
                }
            }
        }
    }
}

} // namespace Berth::Daemons
