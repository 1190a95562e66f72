#include "cli.h"

#include "core/server.h"

#include <config/config.h>

#include <QCoreApplication>
#include <QDir>
#include <QFile>
#include <QStringList>

#include <cstdio>

namespace Berth::Cli {

namespace {

const char Usage[] =
    "usage: berthd COMMAND [-c FILE]...\n"
    "\n"
    "commands:\n"
    "  run       run in the foreground\n"
    "  check     validate the configuration (every problem as file:line: message)\n"
    "  log       print the tail of a log: [-s server|request|app|cef] [-n BYTES]\n"
    "  version   print the version\n"
    "\n"
    "options:\n"
    "  -c FILE   configuration file; repeat to merge several, later ones win\n"
    "            (default: $BERTH_CONF or /etc/berth/berth.conf)\n";

struct Arguments
{
    QString command;
    QStringList configFiles;
    QString logName = QStringLiteral("server");
    qint64 logBytes = 16 * 1024;
    QString error;
};

Arguments parse(const QStringList &args)
{
    Arguments a;
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
        } else if (arg == QLatin1String("-s")) {
            a.logName = value();
        } else if (arg == QLatin1String("-n")) {
            const auto bytes = Config::Values::parseSize(value());
            if (!bytes)
                a.error = QStringLiteral("-n: not a size");
            else
                a.logBytes = *bytes;
        } else if (arg == QLatin1String("-h") || arg == QLatin1String("--help")) {
            a.command = QStringLiteral("help");
        } else if (a.command.isEmpty() && !arg.startsWith(u'-')) {
            a.command = arg;
        } else {
            a.error = QStringLiteral("unexpected argument '%1'").arg(arg);
        }
        if (!a.error.isEmpty())
            break;
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
    bool failed = false;
    for (const Config::Diagnostic &d : Core::checkConfiguration(a.configFiles)) {
        print(stdout, d.toString());
        failed = failed || d.isError();
    }
    if (failed) {
        print(stdout, QStringLiteral("configuration has errors"));
        return 1;
    }
    print(stdout, QStringLiteral("configuration OK"));
    return 0;
}

int run(const Arguments &a, QCoreApplication &app)
{
    Core::Server server(a.configFiles);
    if (!server.prepare()) {
        for (const QString &e : server.errors())
            print(stderr, e);
        print(stderr, QStringLiteral("berthd: not started"));
        return 1;
    }
    QObject::connect(
        &server, &Core::Server::stopped, &app, [&app] { app.quit(); }, Qt::QueuedConnection);
    server.start();
    return app.exec();
}

int tailLog(const Arguments &a)
{
    static const QStringList names = {QStringLiteral("server"), QStringLiteral("request"),
                                      QStringLiteral("app"), QStringLiteral("cef")};
    if (!names.contains(a.logName)) {
        print(stderr, QStringLiteral("berthd log: -s must be one of %1")
                          .arg(names.join(QStringLiteral(", "))));
        return 2;
    }
    const Config::Config config = Config::Config::load(a.configFiles);
    for (const Config::Diagnostic &d : config.diagnostics()) {
        if (d.isError()) {
            print(stderr, d.toString());
            return 1;
        }
    }
    const QString dir = config.getPath(QStringLiteral("server"), QStringLiteral("log_dir"));
    if (dir.isEmpty()) {
        print(stderr, QStringLiteral("berthd log: [server] log_dir is not set: logs go to "
                                     "stderr"));
        return 1;
    }
    QFile file(QDir(dir).filePath(a.logName + QStringLiteral(".log")));
    if (!file.open(QIODevice::ReadOnly)) {
        print(stderr, QStringLiteral("berthd log: cannot open %1: %2")
                          .arg(file.fileName(), file.errorString()));
        return 1;
    }
    const qint64 size = file.size();
    qint64 from = qMax<qint64>(0, size - a.logBytes);
    file.seek(from);
    QByteArray tail = file.readAll();
    if (from > 0) {
        // Start at a whole line.
        const qsizetype nl = tail.indexOf('\n');
        tail = nl < 0 ? QByteArray() : tail.mid(nl + 1);
    }
    std::fwrite(tail.constData(), 1, size_t(tail.size()), stdout);
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    QCoreApplication app(argc, argv);
    QCoreApplication::setApplicationName(QStringLiteral("berthd"));
    QCoreApplication::setApplicationVersion(QStringLiteral(BERTH_VERSION));
    const Arguments a = parse(QCoreApplication::arguments());
    if (!a.error.isEmpty()) {
        print(stderr, QStringLiteral("berthd: ") + a.error);
        std::fputs(Usage, stderr);
        return 2;
    }
    if (a.command == QLatin1String("version")) {
        print(stdout, QStringLiteral("berthd " BERTH_VERSION));
        return 0;
    }
    if (a.command == QLatin1String("check"))
        return check(a);
    if (a.command == QLatin1String("run"))
        return run(a, app);
    if (a.command == QLatin1String("log"))
        return tailLog(a);
    if (a.command == QLatin1String("help")) {
        std::fputs(Usage, stdout);
        return 0;
    }
    if (a.command.isEmpty()) {
        std::fputs(Usage, stderr);
        return 2;
    }
    print(stderr, QStringLiteral("berthd: unknown command '%1'").arg(a.command));
    std::fputs(Usage, stderr);
    return 2;
}

} // namespace Berth::Cli
