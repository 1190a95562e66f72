#include "cli.h"

#include "croncommand.h"
#include "daemoncommand.h"
#include "keycommand.h"
#include "log/logfiles.h"
#include "logcommand.h"
#include "mailcommand.h"
#include "runtime/processutil.h"
#include "service/serviceregistry.h"
#include "services/builtinservices.h"
#include "supervisor/configcheck.h"
#include "supervisor/controlchannel.h"
#include "supervisor/servicehost.h"
#include "supervisor/statusreport.h"
#include "supervisor/supervisor.h"

#include <config/config.h>
#include <config/dump.h>

#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QFile>
#include <QFileInfo>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QStringList>
#include <QThread>

#include <csignal>

#include <cstdio>

namespace Berth::Cli {

namespace {

// Every command, for the usage text and `berthd COMMAND -h`. Commands that parse their own
// arguments (OwnCommands) print their own help.
struct CommandHelp
{
    const char *name;
    const char *synopsis; // after "berthd NAME"
    const char *summary;  // may span lines (each indented by 12 spaces); see summaryOf()
};
const CommandHelp Commands[] = {
    {"run", "[-c FILE]...",
     "run in the foreground (workers > 0: a master and its worker processes)"},
    {"start", "[-c FILE]...", "run as a daemon; needs [server] pid_file"},
    {"stop", "[-c FILE]...",
     "graceful stop of the daemon in pid_file (finishes in-flight requests)"},
    {"kill", "[-c FILE]...", "immediate stop"},
    {"reload", "[-c FILE]...",
     "re-read the configuration and replace the workers without dropping a connection;\n"
     "            exits 0 once the new generation serves, 1 with the errors when it can't"},
    {"restart", "[-c FILE]... KIND:NAME",
     "restart the children of one service (KIND:NAME or NAME)"},
    {"status", "[-c FILE]... [--json]",
     "pid, uptime, services, children and the requests they are running;\n"
     "            --json: one JSON object (docs/operations.md)"},
    {"check", "[-c FILE]... [-T]",
     "validate the configuration (every problem as file:line: message);\n"
     "            -T also prints the merged configuration with origins, secrets masked"},
    {"log", "[-c FILE]... [-s NAME] [-n BYTES] [-f]",
     "print the tail of a log (-s LOGNAMES); -f follows it"},
    {"daemon", "[-c FILE]... start|stop|restart|status NAME",
     "a daemon of the running server: start|stop|restart|status NAME"},
    {"keys", "[-c FILE]... list | rotate --keynum N --secret-file PATH [--when TIME]",
     "session keys: list | rotate --keynum N --secret-file PATH [--when TIME]"},
    {"cron", "[-c FILE]... list [--json] | run FILE:LINE",
     "cron jobs: list [--json] | run FILE:LINE"},
    {"mail", "[-c FILE]... queue [--json] | retry [ID] | purge ID",
     "the mail spool: queue [--json] | retry [ID] | purge ID"},
    {"version", "", "print the version (also -v, --version)"},
};

const char UsageLine[] = "usage: berthd COMMAND [-c FILE]... [OPTIONS]  (berthd -h lists them)";

const char Options[] = "\n"
                       "options:\n"
                       "  -c FILE   configuration file; repeat to merge several, later ones win\n"
                       "            (default: $BERTH_CONF or /etc/berth/berth.conf)\n"
                       "  -t        the same as check; -T the same as check -T (nginx -t, -T)\n"
                       "  -v        the same as version (also --version)\n"
                       "  -h        this text (also --help); COMMAND -h: that command's\n";

const CommandHelp *findCommand(const QString &name)
{
    for (const CommandHelp &command : Commands)
        if (name == QLatin1String(command.name))
            return &command;
    return nullptr;
}

QString usageOf(const CommandHelp &command)
{
    return QStringLiteral("usage: berthd %1 %2")
        .arg(QLatin1String(command.name), QLatin1String(command.synopsis))
        .trimmed();
}

// A command's summary, with LOGNAMES replaced by the names `berthd log -s` takes (one list).
QString summaryOf(const CommandHelp &command)
{
    return QString::fromLatin1(command.summary)
        .replace(QStringLiteral("LOGNAMES"), Log::logNames().join(u'|'));
}

QString fullUsage()
{
    QString text = QStringLiteral("usage: berthd COMMAND [-c FILE]...\n\ncommands:\n");
    for (const CommandHelp &command : Commands)
        text += QStringLiteral("  %1%2\n")
                    .arg(QString::fromLatin1(command.name).leftJustified(10), summaryOf(command));
    return text + QLatin1String(Options);
}

// Commands that parse their own arguments: the generic parser stops at their word and hands the
// whole command line to them (each documents its syntax in its header). Returns the exit code.
struct OwnCommand
{
    QLatin1StringView name;
    int (*run)(const QStringList &arguments);
};
const OwnCommand OwnCommands[] = {
    {QLatin1StringView("keys"), runKeyCommand},  {QLatin1StringView("cron"), runCronCommand},
    {QLatin1StringView("mail"), runMailCommand}, {QLatin1StringView("daemon"), runDaemonCommand},
    {QLatin1StringView("log"), runLogCommand},
};

const OwnCommand *findOwnCommand(const QString &name)
{
    for (const OwnCommand &command : OwnCommands)
        if (name == command.name)
            return &command;
    return nullptr;
}

struct Arguments
{
    QString command;
    QStringList configFiles;
    bool dumpConfig = false; // check -T
    bool json = false;       // status --json
    bool help = false;       // -h, --help
    QString service;         // child: --service KIND --name NAME
    QString name;
    QStringList operands; // restart KIND:NAME
    QString error;
};

Arguments parse(const QStringList &args)
{
    Arguments a;
    // -t, -T and -v name a command: they may not contradict one given as a word.
    auto setCommand = [&a](const QString &command, const QString &arg) {
        if (!a.command.isEmpty() && a.command != command)
            a.error = QStringLiteral("option %1 does not go with %2").arg(arg, a.command);
        else
            a.command = command;
    };
    for (int i = 1; i < args.size(); ++i) {
        const QString &arg = args[i];
        auto value = [&]() -> QString {
            if (i + 1 >= args.size()) {
                a.error = QStringLiteral("option %1 needs a value").arg(arg);
                return {};
            }
            return args[++i];
        };
        if (arg == QLatin1String("-c") || arg == QLatin1String("--config")) {
            a.configFiles.append(value());
        } else if (arg.startsWith(QLatin1String("--config="))) {
            a.configFiles.append(arg.mid(9));
        } else if (arg == QLatin1String("-t")) {
            setCommand(QStringLiteral("check"), arg);
        } else if (arg == QLatin1String("-T")) {
            a.dumpConfig = true;
        } else if (arg == QLatin1String("-v") || arg == QLatin1String("--version")) {
            setCommand(QStringLiteral("version"), arg);
        } else if (arg == QLatin1String("-h") || arg == QLatin1String("--help")) {
            a.help = true;
        } else if (arg == QLatin1String("--json") && a.command == QLatin1String("status")) {
            a.json = true;
        } else if (arg == QLatin1String("--service") && a.command == QLatin1String("child")) {
            a.service = value();
        } else if (arg == QLatin1String("--name") && a.command == QLatin1String("child")) {
            a.name = value();
        } else if (arg.startsWith(u'-') && arg.size() > 1) {
            a.error = QStringLiteral("unknown option '%1'").arg(arg);
        } else if (a.command == QLatin1String("restart")) {
            a.operands.append(arg);
        } else if (a.command.isEmpty()) {
            a.command = arg;
            if (findOwnCommand(a.command))
                break; // the rest is the command's own (keys --keynum ...): it parses it
        } else {
            a.error = QStringLiteral("unexpected argument '%1'").arg(arg);
        }
        if (!a.error.isEmpty())
            break;
    }
    if (a.error.isEmpty() && a.dumpConfig) {
        if (a.command.isEmpty())
            a.command = QStringLiteral("check"); // berthd -T
        else if (a.command != QLatin1String("check"))
            a.error = QStringLiteral("option -T goes with check only");
    }
    if (a.configFiles.isEmpty()) {
        const QString fromEnv = qEnvironmentVariable("BERTH_CONF");
        a.configFiles.append(fromEnv.isEmpty() ? QStringLiteral("/etc/berth/berth.conf") : fromEnv);
    }
    return a;
}

void print(FILE *stream, const QString &text)
{
    const QByteArray bytes = text.toLocal8Bit();
    std::fwrite(bytes.constData(), 1, size_t(bytes.size()), stream);
    std::fputc('\n', stream);
}

int check(const Arguments &a)
{
    // With -T (nginx -T) the configuration goes to stdout, so it can be saved as a file, and the
    // verdict to stderr.
    FILE *verdict = a.dumpConfig ? stderr : stdout;
    bool failed = false;
    for (const Config::Diagnostic &d : Supervisor::checkConfiguration(a.configFiles)) {
        print(verdict, d.toString());
        failed = failed || d.isError();
    }
    print(verdict,
          failed ? QStringLiteral("configuration has errors") : QStringLiteral("configuration OK"));
    if (a.dumpConfig) {
        const QString text = Config::dumpConfig(Config::Config::load(a.configFiles));
        const QByteArray bytes = text.toLocal8Bit();
        std::fwrite(bytes.constData(), 1, size_t(bytes.size()), stdout);
    }
    return failed ? 1 : 0;
}

// workers > 0: the master (supervisor); workers = 0: every service in this process.
int serve(const Arguments &a, QCoreApplication &app, int starterFd)
{
    const Config::Config config = Config::Config::load(a.configFiles);
    const qint64 workers = config.getInt(QStringLiteral("server"), QStringLiteral("workers"));
    // [server] umask before the first file is created (logs, pid file); children inherit it. A
    // bad value is reported by the validation that follows.
    Core::applyUmask(config.getString(QStringLiteral("server"), QStringLiteral("umask")), nullptr);
    if (workers <= 0)
        return Supervisor::ServiceHost::runInProcess(a.configFiles, app, starterFd);
    Supervisor::Supervisor master(a.configFiles, starterFd);
    if (!master.prepare()) {
        for (const QString &e : master.errors())
            print(stderr, e);
        Core::reportToStarter(starterFd, master.errors().join(QLatin1Char('\n')));
        print(stderr, QStringLiteral("berthd: not started"));
        return 1;
    }
    int exitCode = 0;
    QObject::connect(
        &master, &Supervisor::Supervisor::stopped, &app,
        [&app, &exitCode](int code) {
            exitCode = code;
            app.quit();
        },
        Qt::QueuedConnection);
    master.start();
    app.exec();
    return exitCode;
}

// The pid file of the configuration, or an explanation on stderr.
QString pidFileOf(const Arguments &a)
{
    // A file broken elsewhere must not hide the pid file of the server that runs: `reload` then
    // reports the errors through the master.
    const Config::Config config = Config::Config::load(a.configFiles);
    const QString pidFile = config.getPath(QStringLiteral("server"), QStringLiteral("pid_file"));
    if (pidFile.isEmpty()) {
        for (const Config::Diagnostic &d : config.diagnostics()) {
            if (d.isError()) {
                print(stderr, d.toString());
                return {};
            }
        }
    }
    if (pidFile.isEmpty())
        print(stderr, QStringLiteral("berthd %1: [server] pid_file is not set in %2")
                          .arg(a.command, a.configFiles.join(QStringLiteral(", "))));
    return pidFile;
}

int start(const Arguments &a, QCoreApplication &app)
{
    const QString pidFile = pidFileOf(a);
    if (pidFile.isEmpty())
        return 1;
    const pid_t existing = Core::readPidFile(pidFile);
    if (existing > 0 && Core::isBerthdRunning(existing)) {
        print(stderr, QStringLiteral("berthd start: already running (pid %1, %2)")
                          .arg(existing)
                          .arg(pidFile));
        return 1;
    }
    if (existing != 0) {
        // A pid file left by a crash (or a recycled pid of another program): replace it.
        print(stderr, QStringLiteral("berthd start: removing stale pid file %1").arg(pidFile));
        QFile::remove(pidFile);
    }
    const Config::Config config = Config::Config::load(a.configFiles);
    if (config.getPath(QStringLiteral("server"), QStringLiteral("log_dir")).isEmpty())
        print(stderr, QStringLiteral("berthd start: warning: [server] log_dir is not set; a "
                                     "daemon's logs go nowhere"));
    // Validate before detaching, so errors reach the terminal.
    bool failed = false;
    for (const Config::Diagnostic &d : Supervisor::checkConfiguration(a.configFiles)) {
        if (d.isError()) {
            print(stderr, d.toString());
            failed = true;
        }
    }
    if (failed) {
        print(stderr, QStringLiteral("berthd: not started"));
        return 1;
    }
    const int starterFd = Core::daemonize(); // only the daemon returns
    return serve(a, app, starterFd);
}

// The pid of the server the configuration names, or 0 after saying on stderr why there is none.
pid_t runningServer(const Arguments &a, QString *pidFile)
{
    *pidFile = pidFileOf(a);
    if (pidFile->isEmpty())
        return 0;
    const pid_t pid = Core::readPidFile(*pidFile);
    if (pid <= 0 || !Core::isBerthdRunning(pid)) {
        print(stderr,
              QStringLiteral("berthd %1: not running (pid file %2)").arg(a.command, *pidFile));
        return 0;
    }
    return pid;
}

int signalServer(const Arguments &a, int signo, bool waitForExit)
{
    QString pidFile;
    const pid_t pid = runningServer(a, &pidFile);
    if (pid <= 0)
        return 1;
    if (::kill(pid, signo) != 0) {
        print(stderr, QStringLiteral("berthd %1: cannot signal pid %2: %3")
                          .arg(a.command)
                          .arg(pid)
                          .arg(qt_error_string(errno)));
        return 1;
    }
    if (!waitForExit) {
        print(stdout, QStringLiteral("berthd %1: signal sent to pid %2").arg(a.command).arg(pid));
        return 0;
    }
    using namespace std::chrono_literals;
    const Config::Config config = Config::Config::load(a.configFiles);
    const qint64 grace =
        config.getDuration(QStringLiteral("server"), QStringLiteral("graceful_timeout")).count();
    QElapsedTimer waited;
    waited.start();
    while (Core::isBerthdRunning(pid)) {
        if (waited.elapsed() > grace + 10'000) {
            print(stderr,
                  QStringLiteral("berthd %1: pid %2 is still running").arg(a.command).arg(pid));
            return 1;
        }
        QThread::msleep(50);
    }
    print(stdout, QStringLiteral("berthd %1: pid %2 stopped").arg(a.command).arg(pid));
    return 0;
}

int status(const Arguments &a)
{
    const QString pidFile = pidFileOf(a);
    if (pidFile.isEmpty())
        return 1;
    const pid_t pid = Core::readPidFile(pidFile);
    if (pid <= 0 || !Core::isBerthdRunning(pid)) {
        print(stdout, QStringLiteral("berthd: not running (pid file %1)").arg(pidFile));
        return 3; // LSB: program is not running
    }
    print(stdout, QStringLiteral("berthd: running, pid %1, up %2 s")
                      .arg(pid)
                      .arg(Core::processUptimeSeconds(pid)));
    // The master answers on its control socket; a single process (workers = 0) has none and
    // is read from its shared memory.
    QStringList lines;
    bool ok = false;
    QString error;
    const QString socket = Supervisor::controlSocketPath(pidFile);
    if (!QFileInfo::exists(socket) ||
        !Supervisor::controlRequest(socket, QStringLiteral("status"), 5000, &lines, &ok, &error))
        lines = Core::describeWorkers(pid);
    lines += cronStatusLines(a.configFiles);
    for (const QString &line : std::as_const(lines))
        print(stdout, line);
    return 0;
}

// status --json: one object (docs/operations.md). Exit codes as status: 3 when not running.
int statusJson(const Arguments &a)
{
    const QString pidFile = pidFileOf(a);
    if (pidFile.isEmpty())
        return 1;
    const pid_t pid = Core::readPidFile(pidFile);
    const bool running = pid > 0 && Core::isBerthdRunning(pid);
    QJsonObject status{{QStringLiteral("running"), running}, {QStringLiteral("pid_file"), pidFile}};
    if (running) {
        status.insert(QStringLiteral("master_pid"), qint64(pid));
        status.insert(QStringLiteral("uptime_seconds"), Core::processUptimeSeconds(pid));
        QStringList lines;
        bool ok = false;
        QString error;
        const QString socket = Supervisor::controlSocketPath(pidFile);
        QJsonObject master;
        if (QFileInfo::exists(socket) &&
            Supervisor::controlRequest(socket, QStringLiteral("status json"), 5000, &lines, &ok,
                                       &error) &&
            ok && lines.size() == 1)
            master = QJsonDocument::fromJson(lines.front().toUtf8()).object();
        if (master.isEmpty()) {
            // A single process (workers = 0) has no master to ask: its own slots, if any.
            status.insert(QStringLiteral("mode"), QStringLiteral("single"));
            status.insert(QStringLiteral("generation"), QJsonValue(QJsonValue::Null));
            status.insert(QStringLiteral("services"), QJsonArray());
            status.insert(QStringLiteral("children"), Core::workersJson(pid));
        } else {
            status.insert(QStringLiteral("mode"), QStringLiteral("master"));
            for (auto it = master.constBegin(); it != master.constEnd(); ++it)
                status.insert(it.key(), it.value());
        }
        QJsonArray cron;
        for (const QString &line : cronStatusLines(a.configFiles))
            cron.append(line);
        status.insert(QStringLiteral("cron"), cron);
    }
    print(stdout,
          QString::fromUtf8(QJsonDocument(status).toJson(QJsonDocument::Indented)).trimmed());
    return running ? 0 : 3;
}

// reload and restart through the control socket: the master's answer decides the exit code.
// reload falls back to SIGHUP when the server has no control socket (workers = 0).
int control(const Arguments &a, const QString &request)
{
    QString pidFile;
    const pid_t pid = runningServer(a, &pidFile);
    if (pid <= 0)
        return 1;
    const QString socket = Supervisor::controlSocketPath(pidFile);
    if (!QFileInfo::exists(socket)) {
        if (a.command != QLatin1String("reload")) {
            print(stderr, QStringLiteral("berthd %1: no control socket %2 (workers = 0?)")
                              .arg(a.command, socket));
            return 1;
        }
        return signalServer(a, SIGHUP, false);
    }
    // A reload waits for the new generation to be ready: allow for slow starts.
    const Config::Config config = Config::Config::load(a.configFiles);
    const qint64 grace =
        config.getDuration(QStringLiteral("server"), QStringLiteral("graceful_timeout")).count();
    QStringList lines;
    bool ok = false;
    QString error;
    if (!Supervisor::controlRequest(socket, request, int(qMin<qint64>(grace + 60'000, INT_MAX)),
                                    &lines, &ok, &error)) {
        for (const QString &line : std::as_const(lines))
            print(stderr, line);
        print(stderr, QStringLiteral("berthd %1: %2").arg(a.command, error));
        return 1;
    }
    for (const QString &line : std::as_const(lines))
        print(ok ? stdout : stderr, line);
    return ok ? 0 : 1;
}

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    // The composition root: the service kinds and apps this berthd ships.
    Services::registerBuiltinServices(Supervisor::ServiceRegistry::builtin());
    QCoreApplication::setApplicationName(QStringLiteral("berthd"));
    QCoreApplication::setApplicationVersion(QStringLiteral(BERTH_VERSION));
    const Arguments a = parse(QCoreApplication::arguments());
    const CommandHelp *help = findCommand(a.command);
    if (!a.error.isEmpty()) {
        // One usage line, not the whole text: the mistake stays on screen (nginx, gunicorn).
        print(stderr, QStringLiteral("berthd: ") + a.error);
        print(stderr, help ? usageOf(*help) : QString::fromLatin1(UsageLine));
        return 2;
    }
    if (const OwnCommand *own = findOwnCommand(a.command))
        return own->run(QCoreApplication::arguments()); // its own -h too
    if (a.help) {
        if (help)
            print(stdout, usageOf(*help) + QStringLiteral("\n  ") +
                              summaryOf(*help).replace(QStringLiteral("\n            "),
                                                       QStringLiteral("\n  ")));
        else
            std::fputs(qPrintable(fullUsage()), stdout);
        return 0;
    }
    if (a.command == QLatin1String("version")) {
        print(stdout, QStringLiteral("berthd " BERTH_VERSION));
        return 0;
    }
    if (a.command == QLatin1String("check"))
        return check(a);
    if (a.command == QLatin1String("run"))
        return serve(a, app, -1);
    if (a.command == QLatin1String("child"))
        return Supervisor::ServiceHost::runChild(a.service, a.name, app);
    if (a.command == QLatin1String("start"))
        return start(a, app);
    if (a.command == QLatin1String("stop"))
        return signalServer(a, SIGTERM, true);
    if (a.command == QLatin1String("kill"))
        return signalServer(a, SIGQUIT, true);
    if (a.command == QLatin1String("reload"))
        return control(a, QStringLiteral("reload"));
    if (a.command == QLatin1String("restart")) {
        if (a.operands.size() != 1) {
            print(stderr, QStringLiteral("berthd restart: name one service (KIND:NAME or NAME)"));
            print(stderr, usageOf(*help));
            return 2;
        }
        return control(a, QStringLiteral("restart ") + a.operands.front());
    }
    if (a.command == QLatin1String("status"))
        return a.json ? statusJson(a) : status(a);
    if (a.command.isEmpty()) {
        std::fputs(qPrintable(fullUsage()), stderr);
        return 2;
    }
    print(stderr, QStringLiteral("berthd: unknown command '%1'").arg(a.command));
    print(stderr, QString::fromLatin1(UsageLine));
    return 2;
}

} // namespace Berth::Cli
