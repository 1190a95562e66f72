#include "daemoncommand.h"

#include "commandoutput.h"

#include "runtime/processutil.h"
#include "supervisor/controlchannel.h"

#include <config/config.h>

#include <QFileInfo>

#include <cstdio>

namespace Berth::Cli {

namespace {

const char Usage[] = "usage: berthd daemon [-c FILE]... start|stop|restart|status NAME\n";

} // namespace

int runDaemonCommand(const QStringList &arguments)
{
    QStringList files;
    QStringList words;
    // arguments: berthd [options] daemon [options] VERB NAME
    const qsizetype start = arguments.indexOf(QStringLiteral("daemon"));
    for (qsizetype i = 1; i < arguments.size(); ++i) {
        const QString &arg = arguments[i];
        if (arg == QLatin1String("-c") || arg == QLatin1String("--config")) {
            if (i + 1 >= arguments.size()) {
                std::fputs(Usage, stderr);
                return 2;
            }
            files.append(arguments[++i]);
        } else if (arg.startsWith(QLatin1String("--config="))) {
            files.append(arg.mid(9));
        } else if (arg == QLatin1String("-h") || arg == QLatin1String("--help")) {
            std::fputs(Usage, stdout);
            return 0;
        } else if (i > start && !arg.startsWith(u'-')) {
            words.append(arg);
        } else if (i != start) {
            printLine(stderr, QStringLiteral("berthd daemon: %1 '%2'")
                                  .arg(arg.startsWith(u'-') ? QStringLiteral("unknown option")
                                                            : QStringLiteral("unexpected argument"),
                                       arg));
            std::fputs(Usage, stderr);
            return 2;
        }
    }
    static const QStringList verbs = {QStringLiteral("start"), QStringLiteral("stop"),
                                      QStringLiteral("restart"), QStringLiteral("status")};
    if (words.size() != 2 || !verbs.contains(words[0])) {
        std::fputs(Usage, stderr);
        return 2;
    }
    if (files.isEmpty()) {
        const QString fromEnv = qEnvironmentVariable("BERTH_CONF");
        files.append(fromEnv.isEmpty() ? QStringLiteral("/etc/berth/berth.conf") : fromEnv);
    }
    const Config::Config config = Config::Config::load(files);
    const QString pidFile = config.getPath(QStringLiteral("server"), QStringLiteral("pid_file"));
    if (pidFile.isEmpty()) {
        printLine(stderr, QStringLiteral("berthd daemon: [server] pid_file is not set in %1")
                              .arg(files.join(QStringLiteral(", "))));
        return 1;
    }
    const pid_t pid = Core::readPidFile(pidFile);
    if (pid <= 0 || !Core::isBerthdRunning(pid)) {
        printLine(stderr, QStringLiteral("berthd daemon: not running (pid file %1)").arg(pidFile));
        return 1;
    }
    const QString socket = Supervisor::controlSocketPath(pidFile);
    if (!QFileInfo::exists(socket)) {
        printLine(stderr,
                  QStringLiteral("berthd daemon: no control socket %1 (workers = 0?)").arg(socket));
        return 1;
    }
    QStringList lines;
    bool ok = false;
    QString error;
    if (!Supervisor::controlRequest(socket,
                                    QStringLiteral("service daemon:%1 %2").arg(words[1], words[0]),
                                    180'000, &lines, &ok, &error)) {
        for (const QString &line : std::as_const(lines))
            printLine(stderr, line);
        printLine(stderr, QStringLiteral("berthd daemon: %1").arg(error));
        return 1;
    }
    for (const QString &line : std::as_const(lines))
        printLine(ok ? stdout : stderr, line);
    return ok ? 0 : 1;
}

} // namespace Berth::Cli
