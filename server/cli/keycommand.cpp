#include "keycommand.h"

#include "commandoutput.h"

#include "sessions/keyrotation.h"
#include "sessions/sessionsettings.h"
#include "sessions/sqlsessionstore.h"

#include <config/config.h>
#include <crypto/appcipher.h>

#include <QDateTime>
#include <QFile>
#include <QFileInfo>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <optional>

namespace Berth::Cli {

using namespace Qt::StringLiterals;

namespace {

const char KeysUsage[] =
    "usage: berthd keys [-c FILE]... list\n"
    "       berthd keys [-c FILE]... rotate --keynum N --secret-file PATH "
    "[--when ISO8601|+DURATION]\n"
    "\n"
    "  list      every key of the [sessions] store's key chain: keynum, activation time, state\n"
    "  rotate    register key N, its secret read from PATH, as the newest key, active from\n"
    "            --when (2026-03-01T09:00:00Z, or +2h from now; default: now). Run it with the\n"
    "            CURRENT keynum and secret configured; then set keynum = N and the new secret\n"
    "            in every node's [sessions] and restart them before the activation time.\n";

// A new secret is read from a file (never from the command line, where `ps` and the shell's
// history would show it) and is at most this long.
constexpr qint64 MaxSecretFileBytes = 4096;

struct KeyArguments
{
    QStringList configFiles;
    QString action; // list | rotate | help
    std::optional<qint64> keynum;
    QString secretFile;
    QString when;
    QString error;
};

int usageError(const QString &message)
{
    return reportUsageError("keys", KeysUsage, message);
}

int fail(const QString &message)
{
    return reportFailure("keys", message);
}

KeyArguments parse(const QStringList &args)
{
    KeyArguments a;
    bool sawKeys = false;
    for (int i = 1; i < args.size() && a.error.isEmpty(); ++i) {
        const QString &arg = args[i];
        auto value = [&]() -> QString {
            if (i + 1 >= args.size()) {
                a.error = u"option %1 needs a value"_s.arg(arg);
                return {};
            }
            return args[++i];
        };
        // --name=value and --name value alike.
        auto option = [&](const QString &name, QString *out) {
            if (arg == name) {
                *out = value();
                return true;
            }
            if (arg.startsWith(name + u'=')) {
                *out = arg.mid(name.size() + 1);
                return true;
            }
            return false;
        };
        QString text;
        if (arg == u"-c"_s) {
            a.configFiles.append(value());
        } else if (option(u"--config"_s, &text)) {
            a.configFiles.append(text);
        } else if (arg == u"-h"_s || arg == u"--help"_s) {
            a.action = u"help"_s;
        } else if (option(u"--keynum"_s, &text)) {
            const std::optional<qint64> n = Config::Values::parseInt(text);
            if (!n || *n < 0 || *n > std::numeric_limits<int>::max())
                a.error = u"--keynum: '%1' is not a key number (0 to %2)"_s.arg(
                    text, QString::number(std::numeric_limits<int>::max()));
            else
                a.keynum = n;
        } else if (option(u"--secret-file"_s, &a.secretFile)) {
        } else if (option(u"--when"_s, &a.when)) {
        } else if (!sawKeys && arg == u"keys"_s) {
            sawKeys = true;
        } else if (sawKeys && a.action.isEmpty() && !arg.startsWith(u'-')) {
            a.action = arg;
        } else {
            a.error = u"unexpected argument '%1'"_s.arg(arg);
        }
    }
    if (a.configFiles.isEmpty()) {
        const QString fromEnv = qEnvironmentVariable("BERTH_CONF");
        a.configFiles.append(fromEnv.isEmpty() ? u"/etc/berth/berth.conf"_s : fromEnv);
    }
    return a;
}

QString isoTime(qint64 secs)
{
    return QDateTime::fromSecsSinceEpoch(secs, Qt::UTC).toString(Qt::ISODate);
}

// The new secret, as it must appear after `secret =` in the configuration: so it must survive
// the config parser unchanged (no whitespace, which is trimmed; no ';' or '#', which can start a
// comment; no '$', which starts ${ENV}; no quotes or backslashes) and be long enough to resist
// offline guessing from one signed cookie.
std::optional<QByteArray> readSecret(const QString &path, const QByteArray &current, QString *error)
{
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        *error = u"can't read the secret file %1: %2"_s.arg(path, file.errorString());
        return std::nullopt;
    }
    if (file.size() > MaxSecretFileBytes) {
        *error = u"the secret file %1 is larger than %2 bytes: it should hold one line"_s.arg(
            path, QString::number(MaxSecretFileBytes));
        return std::nullopt;
    }
    const QByteArray secret = file.read(MaxSecretFileBytes).trimmed();
    const QString unusable = Sessions::checkNewSecret(secret, current);
    if (!unusable.isEmpty()) {
        *error = u"the secret in %1: %2"_s.arg(path, unusable);
        return std::nullopt;
    }
    if (QFileInfo(path).permissions() &
        (QFile::ReadGroup | QFile::WriteGroup | QFile::ReadOther | QFile::WriteOther))
        printLine(stderr, u"berthd keys: warning: %1 is readable by other users; keep secrets in "
                          u"files only the server's user can read (chmod 600)"_s.arg(path));
    return secret;
}

struct Loaded
{
    Config::Config config;
    Sessions::SessionSettings settings;
};

// The configuration's [sessions] section, or nullopt after printing why not.
std::optional<Loaded> loadSettings(const QStringList &files)
{
    Loaded loaded;
    loaded.config = Config::Config::load(files);
    const qsizetype before = loaded.config.diagnostics().size();
    bool failed = false;
    for (const Config::Diagnostic &d : loaded.config.diagnostics()) {
        if (d.isError()) {
            printLine(stderr, d.toString());
            failed = true;
        }
    }
    if (failed)
        return std::nullopt;
    if (!loaded.config.has(u"sessions"_s, u"secret"_s) &&
        !loaded.config.has(u"sessions"_s, u"secret_file"_s)) {
        printLine(stderr,
                  u"berthd keys: the configuration has no [sessions] secret: there is no key "
                  u"chain to manage"_s);
        return std::nullopt;
    }
    loaded.settings = Sessions::SessionSettings::fromConfig(loaded.config, u"sessions"_s);
    const Config::Diagnostics &all = loaded.config.diagnostics();
    for (qsizetype i = before; i < all.size(); ++i) {
        if (all[i].isError()) {
            printLine(stderr, all[i].toString());
            failed = true;
        }
    }
    if (failed)
        return std::nullopt;
    return loaded;
}

// A SQLite store that does not exist yet has no keys; neither command creates one (a typo in
// the path must not quietly start a second key chain).
bool storeExists(const Sessions::StoreLocation &location)
{
    return location.kind != Sessions::StoreLocation::Kind::Sqlite ||
           QFileInfo::exists(location.path);
}

QString configuredAt(const Config::Config &config, const QString &key)
{
    return config.has(u"sessions"_s, key) ? config.location(u"sessions"_s, key).toString()
                                          : u"[sessions]"_s;
}

int list(const KeyArguments &a)
{
    const std::optional<Loaded> loaded = loadSettings(a.configFiles);
    if (!loaded)
        return 1;
    const Sessions::SessionSettings &settings = loaded->settings;
    printLine(stdout, u"store: %1"_s.arg(settings.store.describe()));
    printLine(stdout, u"configured: keynum %1"_s.arg(settings.keynum));
    if (!storeExists(settings.store)) {
        printLine(stdout, u"no keys on record: the store does not exist yet (the first berthd run "
                          u"creates it with key %1)"_s.arg(settings.keynum));
        return 0;
    }
    Sessions::SqlSessionBackend store(settings.store, settings.keynum, settings.secret);
    QString error;
    if (!store.openDatabase(&error))
        return fail(error);
    QList<Crypto::KeyStore::Record> records = store.keyStore()->load(&error);
    if (!error.isEmpty())
        return fail(error);
    if (records.isEmpty()) {
        printLine(stdout, u"no keys on record yet (the first berthd run registers key %1)"_s.arg(
                              settings.keynum));
        return 0;
    }
    std::sort(records.begin(), records.end(),
              [](const auto &x, const auto &y) { return x.keynum < y.keynum; });

    // The key encrypting now, as every node holding the newest key computes it: the newest one
    // whose activation time has passed.
    const qint64 now = QDateTime::currentSecsSinceEpoch();
    int active = records.first().keynum;
    for (const Crypto::KeyStore::Record &record : records) {
        if (record.activeFromSecs <= now)
            active = record.keynum;
    }
    printLine(stdout, u"keynum  active from           state"_s);
    for (const Crypto::KeyStore::Record &record : records) {
        // Only the label of the wrapped value is shown: which key it is encrypted under.
        const qsizetype colon = record.wrapped.indexOf(':');
        const QString under = colon > 0 ? QString::fromLatin1(record.wrapped.first(colon)) : u"?"_s;
        QString state;
        if (record.keynum == active)
            state = u"active"_s;
        else if (record.activeFromSecs > now)
            state = u"pending"_s;
        else
            state = u"retired"_s;
        if (under != QString::number(record.keynum))
            state += u", wrapped under key %1"_s.arg(under);
        if (record.keynum == settings.keynum)
            state += u", configured"_s;
        const QString from =
            record.activeFromSecs == 0 ? u"(from the start)"_s : isoTime(record.activeFromSecs);
        printLine(stdout, u"%1 %2 %3"_s.arg(QString::number(record.keynum).leftJustified(7),
                                            from.leftJustified(21), state));
    }

    // Verify the chain with the configured secret, as a starting berthd does.
    if (!store.open(&error)) {
        printLine(stdout, u"the configured keynum and secret do NOT open this chain; berth.session "
                          u"answers 503:"_s);
        printLine(stdout, u"  "_s + error);
        return 1;
    }
    const int newest = records.last().keynum;
    if (settings.keynum < newest)
        printLine(stdout, u"the configured key %1 opens the chain but is not the newest: set "
                          u"keynum = %2 and its secret before key %2 activates (%3)"_s.arg(
                              QString::number(settings.keynum), QString::number(newest),
                              isoTime(records.last().activeFromSecs)));
    else
        printLine(stdout, u"the configured keynum and secret open this chain"_s);
    return 0;
}

int rotate(const KeyArguments &a)
{
    if (!a.keynum)
        return usageError(u"rotate needs --keynum N"_s);
    if (a.secretFile.isEmpty())
        return usageError(u"rotate needs --secret-file PATH (the new secret, one line)"_s);
    const std::optional<Loaded> loaded = loadSettings(a.configFiles);
    if (!loaded)
        return 1;
    const Sessions::SessionSettings &settings = loaded->settings;
    QString error;
    const qint64 now = QDateTime::currentSecsSinceEpoch();
    const std::optional<qint64> when = Sessions::parseKeyTime(a.when, now, u"--when"_s, &error);
    if (!when)
        return usageError(error);
    const std::optional<QByteArray> secret = readSecret(a.secretFile, settings.secret, &error);
    if (!secret)
        return fail(error);
    Sessions::KeyRotation done;
    if (!Sessions::rotateKey(settings, int(*a.keynum), *secret, *when, &done, &error))
        return fail(error);

    const QString whenText = isoTime(*when);
    printLine(stdout,
              u"key %1 registered in %2, active from %3; key %4 is now wrapped under it."_s.arg(
                  QString::number(*a.keynum), settings.store.describe(), whenText,
                  QString::number(settings.keynum)));
    printLine(stdout, QString());
    // The secret itself is not printed: terminals, CI logs and scrollback keep what they show.
    printLine(stdout,
              u"Now change [sessions] in the configuration of every node sharing this store "
              u"(keynum: %1, secret: %2):"_s.arg(configuredAt(loaded->config, u"keynum"_s),
                                                 configuredAt(loaded->config, u"secret"_s)));
    printLine(stdout, u"    keynum = %1"_s.arg(QString::number(*a.keynum)));
    printLine(stdout, u"    secret = <the contents of %1>"_s.arg(
                          QFileInfo(a.secretFile).absoluteFilePath()));
    if (*when > now)
        printLine(stdout,
                  u"and restart every node before %1. Until then they keep encrypting under "
                  u"key %2; nodes with the old configuration keep working."_s.arg(
                      whenText, QString::number(settings.keynum)));
    else
        printLine(stdout, u"and restart every node now: a restarted node encrypts under key %1 at "
                          u"once, which nodes still on the old configuration can't read."_s.arg(
                              QString::number(*a.keynum)));
    printLine(stdout, u"Sessions and cookies made under older keys stay valid."_s);
    return 0;
}

} // namespace

int runKeyCommand(const QStringList &arguments)
{
    const KeyArguments a = parse(arguments);
    if (!a.error.isEmpty())
        return usageError(a.error);
    if (a.action == u"help"_s) {
        std::fputs(KeysUsage, stdout);
        return 0;
    }
    if (a.action.isEmpty())
        return usageError(u"say list or rotate"_s);
    if (a.action == u"list"_s) {
        if (a.keynum || !a.secretFile.isEmpty() || !a.when.isEmpty())
            return usageError(u"list takes no --keynum, --secret-file or --when"_s);
        return list(a);
    }
    if (a.action == u"rotate"_s)
        return rotate(a);
    return usageError(u"unknown action '%1' (list or rotate)"_s.arg(a.action));
}

} // namespace Berth::Cli
