// The configuration endpoints (read, validate, apply with rollback, history), the log reads and
// the master's control socket, the blocking parts of which run in the offload pool.
#include "adminapi.h"

#include "service/serviceregistry.h"

#include <config/config.h>
#include <config/secrets.h>
#include <config/validator.h>

#include <QCryptographicHash>
#include <QDateTime>
#include <QDeadlineTimer>
#include <QDir>
#include <QFile>
#include <QFileInfo>
#include <QJsonDocument>
#include <QLocalSocket>
#include <QRegularExpression>
#include <QSaveFile>

namespace Berth::Admin {

using namespace Qt::StringLiterals;

namespace Blocking {

ControlAnswer control(const QString &socketPath, const QString &request, qint64 timeoutMs)
{
    ControlAnswer answer;
    QLocalSocket socket;
    QDeadlineTimer deadline(timeoutMs);
    const auto remaining = [&] {
        return int(qBound<qint64>(1, deadline.remainingTime(), qint64(INT_MAX)));
    };
    socket.connectToServer(socketPath);
    if (!socket.waitForConnected(remaining())) {
        answer.error = u"cannot reach the master at %1: %2"_s.arg(socketPath, socket.errorString());
        return answer;
    }
    socket.write(request.toUtf8() + '\n');
    socket.waitForBytesWritten(remaining());
    QByteArray text;
    while (socket.state() == QLocalSocket::ConnectedState && !deadline.hasExpired()) {
        if (socket.waitForReadyRead(remaining()))
            text += socket.readAll();
    }
    text += socket.readAll();
    QStringList lines = QString::fromUtf8(text).split(u'\n');
    while (!lines.isEmpty() && lines.last().isEmpty())
        lines.removeLast();
    if (lines.isEmpty() || (lines.last() != u"OK"_s && lines.last() != u"FAILED"_s)) {
        answer.error = deadline.hasExpired() ? u"the master did not answer in time"_s
                                             : u"the master closed the control connection"_s;
        answer.lines = lines;
        return answer;
    }
    answer.reached = true;
    answer.ok = lines.takeLast() == u"OK"_s;
    answer.lines = lines;
    return answer;
}

} // namespace Blocking

namespace {

struct FileText
{
    QString path;
    QString text;
    bool readable = true;
};

QList<FileText> readFiles(const QStringList &paths)
{
    QList<FileText> files;
    for (const QString &path : paths) {
        QFile file(path);
        FileText f{path, QString(), file.open(QIODevice::ReadOnly)};
        if (f.readable)
            f.text = QString::fromUtf8(file.readAll());
        files.append(f);
    }
    return files;
}

QByteArray hashOf(const QList<FileText> &files)
{
    QCryptographicHash hash(QCryptographicHash::Sha256);
    for (const FileText &f : files) {
        hash.addData(f.path.toUtf8());
        hash.addData(QByteArrayView("\0", 1));
        hash.addData(f.text.toUtf8());
        hash.addData(QByteArrayView("\0", 1));
    }
    return hash.result().toHex();
}

QByteArray fileHash(const QString &text)
{
    return QCryptographicHash::hash(text.toUtf8(), QCryptographicHash::Sha256).toHex();
}

// `key = value` of a secret key shown as `key = ********` (read tokens).
QString maskSecrets(const QString &text, const QHash<QString, QSet<QString>> &secrets)
{
    static const QRegularExpression header(u"^\\s*\\[([^\\]]+)\\]"_s);
    static const QRegularExpression entry(u"^(\\s*([A-Za-z0-9_.-]+)\\s*[=:]\\s*)(.*)$"_s);
    QStringList lines = text.split(u'\n');
    QString section;
    for (QString &line : lines) {
        if (const auto m = header.match(line); m.hasMatch()) {
            section = m.captured(1).trimmed().toLower();
            continue;
        }
        const auto m = entry.match(line);
        if (m.hasMatch() && secrets.value(section).contains(m.captured(2).toLower()) &&
            !m.captured(3).trimmed().isEmpty())
            line = m.captured(1) + u"********"_s;
    }
    return lines.join(u'\n');
}

QJsonArray diagnosticsJson(const Config::Diagnostics &diagnostics)
{
    QJsonArray out;
    for (const Config::Diagnostic &d : diagnostics)
        out.append(QJsonObject{
            {u"file"_s, d.location.file},
            {u"line"_s, d.location.line},
            {u"column"_s, QJsonValue::Null},
            {u"severity"_s, d.isError() ? u"error"_s : u"warning"_s},
            {u"message"_s, d.message},
            {u"text"_s, d.toString()},
        });
    return out;
}

Config::Diagnostics check(const QStringList &files, const QHash<QString, QString> &texts)
{
    // What `berthd check` runs (Supervisor::checkLoaded), on the proposed texts.
    const Config::Config config = Config::Config::load(files, texts);
    for (const Config::Diagnostic &d : Config::validate(config))
        config.addDiagnostic(d);
    for (const Config::Diagnostic &d : Config::checkSecrets(config))
        config.addDiagnostic(d);
    Supervisor::ServiceRegistry::builtin().validate(config);
    return Config::uniqueDiagnostics(config.diagnostics());
}

// {"files": [{"path", "text"}]} -> path -> text; false with *error.
bool parseFiles(const QByteArray &body, const QStringList &known, QHash<QString, QString> *texts,
                QString *error)
{
    QJsonParseError parseError;
    const QJsonDocument document = QJsonDocument::fromJson(body, &parseError);
    if (!document.isObject() || !document.object().value(u"files"_s).isArray()) {
        *error = u"expected {\"files\": [{\"path\": ..., \"text\": ...}]}"_s;
        return false;
    }
    for (const QJsonValue &v : document.object().value(u"files"_s).toArray()) {
        const QString path = v.toObject().value(u"path"_s).toString();
        if (!known.contains(path)) {
            *error = u"'%1' is not one of the configuration's files (%2)"_s.arg(
                path, known.join(u", "_s));
            return false;
        }
        texts->insert(path, v.toObject().value(u"text"_s).toString());
    }
    return true;
}

qint64 currentGeneration(const QString &socket)
{
    if (socket.isEmpty())
        return 1;
    const Blocking::ControlAnswer answer = Blocking::control(socket, u"status json"_s, 5000);
    return QJsonDocument::fromJson(answer.lines.value(0).toUtf8())
        .object()
        .value(u"generation"_s)
        .toInteger();
}

bool writeText(const QString &path, const QString &text)
{
    QSaveFile file(path);
    if (!file.open(QIODevice::WriteOnly))
        return false;
    file.write(text.toUtf8());
    return file.commit();
}

void recordHistory(const AdminSettings &settings, qint64 generation, const QList<FileText> &files,
                   const QString &who)
{
    QDir().mkpath(settings.historyDir);
    QFile::setPermissions(settings.historyDir,
                          QFileDevice::ReadOwner | QFileDevice::WriteOwner | QFileDevice::ExeOwner);
    QJsonArray list;
    for (const FileText &f : files)
        list.append(QJsonObject{{u"path"_s, f.path}, {u"text"_s, f.text}});
    const QJsonObject record{
        {u"generation"_s, generation},
        {u"time"_s, QDateTime::currentDateTimeUtc().toString(Qt::ISODate)},
        {u"who"_s, who},
        {u"hash"_s, QString::fromLatin1(hashOf(files))},
        {u"files"_s, list},
    };
    writeText(
        u"%1/generation-%2.json"_s.arg(settings.historyDir).arg(generation, 8, 10, QChar(u'0')),
        QString::fromUtf8(QJsonDocument(record).toJson(QJsonDocument::Compact)));
    // Keep the newest `history` records.
    QStringList names =
        QDir(settings.historyDir).entryList({u"generation-*.json"_s}, QDir::Files, QDir::Name);
    while (names.size() > settings.historyLimit)
        QFile::remove(settings.historyDir + u'/' + names.takeFirst());
}

QList<QJsonObject> history(const AdminSettings &settings)
{
    QList<QJsonObject> records;
    const QStringList names =
        QDir(settings.historyDir).entryList({u"generation-*.json"_s}, QDir::Files, QDir::Name);
    for (const QString &name : names) {
        QFile file(settings.historyDir + u'/' + name);
        if (file.open(QIODevice::ReadOnly))
            records.prepend(QJsonDocument::fromJson(file.readAll()).object());
    }
    return records;
}

} // namespace

void Blocking::writeTexts(const QHash<QString, QString> &texts)
{
    for (auto it = texts.begin(); it != texts.end(); ++it)
        writeText(it.key(), it.value());
}

void Blocking::recordGeneration(const AdminSettings &settings, qint64 generation,
                                const QString &who)
{
    recordHistory(settings, generation, readFiles(settings.configFiles), who);
}

QHash<QString, QString> Blocking::currentTexts(const QStringList &paths)
{
    QHash<QString, QString> texts;
    for (const FileText &f : readFiles(paths))
        texts.insert(f.path, f.text);
    return texts;
}

AdminApi::Result AdminApi::apply(const AdminSettings &settings,
                                 const QHash<QString, QString> &texts, const QByteArray &ifMatch,
                                 bool checkIfMatch, const QString &who, bool canary)
{
    const QList<FileText> current = readFiles(settings.configFiles);
    const QByteArray hash = hashOf(current);
    if (checkIfMatch) {
        QByteArray wanted = ifMatch.trimmed();
        if (wanted.startsWith("W/"))
            wanted = wanted.mid(2);
        if (wanted.size() >= 2 && wanted.startsWith('"') && wanted.endsWith('"'))
            wanted = wanted.mid(1, wanted.size() - 2);
        if (wanted.isEmpty())
            return errorResult(428, u"if_match_required"_s,
                               u"PUT /api/v1/config needs If-Match: <hash of GET "
                               u"/api/v1/config>"_s);
        if (wanted != hash)
            return errorResult(412, u"conflict"_s, u"the configuration changed since it was read"_s,
                               QJsonObject{{u"hash"_s, QString::fromLatin1(hash)}});
    }
    const Config::Diagnostics diagnostics = check(settings.configFiles, texts);
    if (Config::hasErrors(diagnostics))
        return errorResult(422, u"invalid"_s, u"the proposed configuration is invalid"_s,
                           diagnosticsJson(diagnostics));
    const qint64 before = currentGeneration(settings.controlSocket);
    if (!QFile::exists(
            u"%1/generation-%2.json"_s.arg(settings.historyDir).arg(before, 8, 10, QChar(u'0'))))
        recordHistory(settings, before, current, u"(running)"_s);
    // Back up and replace each changed file.
    const QString stamp = QDateTime::currentDateTimeUtc().toString(u"yyyyMMdd'T'HHmmss'Z'"_s);
    QList<FileText> written;
    QList<FileText> proposed;
    for (const FileText &f : current) {
        const QString text = texts.value(f.path, f.text);
        proposed.append({f.path, text, true});
        if (text == f.text)
            continue;
        writeText(u"%1/%2-%3"_s.arg(settings.historyDir, stamp, QFileInfo(f.path).fileName()),
                  f.text);
        if (!writeText(f.path, text)) {
            for (const FileText &w : written)
                writeText(w.path, w.text);
            return errorResult(500, u"write_failed"_s, u"cannot write %1"_s.arg(f.path));
        }
        written.append(f);
    }
    const Blocking::ControlAnswer answer = Blocking::control(
        settings.controlSocket, canary ? u"reload canary"_s : u"reload"_s, settings.applyTimeoutMs);
    if (!answer.reached || !answer.ok) {
        for (const FileText &w : written)
            writeText(w.path, w.text);
        const QStringList why = answer.reached ? answer.lines : QStringList{answer.error};
        Result failed = errorResult(422, u"reload_failed"_s, why.join(u'\n'));
        QJsonObject body = failed.body.toObject();
        body.insert(u"generation"_s, currentGeneration(settings.controlSocket));
        body.insert(u"result"_s, u"failed"_s);
        body.insert(u"diagnostics"_s, QJsonArray::fromStringList(why));
        failed.body = body;
        return failed;
    }
    // "canary: generation N (pid P) serving beside generation M"
    static const QRegularExpression canaryLine(u"^canary: generation (\\d+) \\(pid (\\d+)\\)"_s);
    const QRegularExpressionMatch match = canaryLine.match(answer.lines.value(0));
    if (canary && match.hasMatch())
        return Result{200,
                      QJsonObject{{u"generation"_s, match.captured(1).toLongLong()},
                                  {u"result"_s, u"canary"_s},
                                  {u"canary_pid"_s, match.captured(2).toLongLong()},
                                  {u"hash"_s, QString::fromLatin1(hashOf(proposed))},
                                  {u"diagnostics"_s, diagnosticsJson(diagnostics)}},
                      {}};
    const qint64 generation = currentGeneration(settings.controlSocket);
    recordHistory(settings, generation, proposed, who);
    return Result{200,
                  QJsonObject{{u"generation"_s, generation},
                              {u"result"_s, u"ready"_s},
                              {u"hash"_s, QString::fromLatin1(hashOf(proposed))},
                              {u"diagnostics"_s, diagnosticsJson(diagnostics)}},
                  {}};
}

void AdminApi::config(const CallPtr &call)
{
    const AdminSettings settings = m_settings;
    const bool mask = call->scope != Scope::Admin;
    offload(call, [settings, mask] {
        const QList<FileText> files = readFiles(settings.configFiles);
        // The secret keys of the files as they are now (this process may be older than them).
        QHash<QString, QSet<QString>> secrets;
        if (mask) {
            const Config::Config current = Config::Config::load(settings.configFiles);
            for (const QString &name : current.sectionNames()) {
                for (const Config::Entry &entry : current.section(name)->entries) {
                    const Config::KeySpec *key = current.keySpec(name, entry.key);
                    if (key && key->secret)
                        secrets[name].insert(entry.key);
                }
            }
        }
        QJsonArray list;
        for (const FileText &f : files)
            list.append(QJsonObject{
                {u"path"_s, f.path},
                {u"text"_s, mask ? maskSecrets(f.text, secrets) : f.text},
                {u"hash"_s, QString::fromLatin1(fileHash(f.text))},
                {u"readable"_s, f.readable},
            });
        const QByteArray hash = hashOf(files);
        return Result{200,
                      QJsonObject{{u"files"_s, list},
                                  {u"hash"_s, QString::fromLatin1(hash)},
                                  {u"generation"_s, currentGeneration(settings.controlSocket)},
                                  {u"secrets_masked"_s, mask}},
                      {{"ETag", '"' + hash + '"'}}};
    });
}

void AdminApi::configValidate(const CallPtr &call)
{
    QHash<QString, QString> texts;
    QString error;
    if (!parseFiles(call->body, m_settings.configFiles, &texts, &error))
        return fail(call, 400, u"bad_request"_s, error);
    const QStringList files = m_settings.configFiles;
    offload(call, [files, texts] {
        const Config::Diagnostics diagnostics = check(files, texts);
        return Result{200,
                      QJsonObject{{u"valid"_s, !Config::hasErrors(diagnostics)},
                                  {u"diagnostics"_s, diagnosticsJson(diagnostics)}},
                      {}};
    });
}

void AdminApi::configPut(const CallPtr &call)
{
    QHash<QString, QString> texts;
    QString error;
    if (!parseFiles(call->body, m_settings.configFiles, &texts, &error))
        return fail(call, 400, u"bad_request"_s, error);
    if (m_settings.controlSocket.isEmpty())
        return fail(call, 409, u"no_master"_s,
                    u"applying a configuration needs worker processes (workers > 0) and a "
                    u"pid_file"_s);
    if (m_applying) // before the canary's own checks
        return fail(call, 409, u"busy"_s, u"another configuration change is in progress"_s);
    if (call->query.hasQueryItem(u"canary"_s)) {
        const auto window = Config::Values::parseDuration(call->query.queryItemValue(u"canary"_s));
        if (!window || window->count() < 1000 || window->count() > 3'600'000)
            return fail(call, 400, u"bad_request"_s,
                        u"canary: a duration from 1s to 1h, like 60s"_s);
        return startCanary(call, texts, window->count());
    }
    const AdminSettings settings = m_settings;
    const QByteArray ifMatch = call->ifMatch;
    const QString who = call->who;
    offloadChange(call, [settings, texts, ifMatch, who] {
        return apply(settings, texts, ifMatch, true, who);
    });
}

void AdminApi::configHistory(const CallPtr &call)
{
    const AdminSettings settings = m_settings;
    offload(call, [settings] {
        QJsonArray list;
        for (QJsonObject record : history(settings)) {
            record.remove(u"files"_s);
            list.append(record);
        }
        return Result{200, QJsonObject{{u"history"_s, list}}, {}};
    });
}

void AdminApi::configRollback(const CallPtr &call)
{
    bool isNumber = false;
    const qint64 generation = call->params.value(0).toLongLong(&isNumber);
    if (!isNumber)
        return fail(call, 400, u"bad_request"_s,
                    u"'%1' is not a generation"_s.arg(call->params.value(0)));
    if (m_settings.controlSocket.isEmpty())
        return fail(call, 409, u"no_master"_s, u"a rollback needs workers > 0 and a pid_file"_s);
    const AdminSettings settings = m_settings;
    const QString who = call->who;
    offloadChange(call, [settings, generation, who] {
        for (const QJsonObject &record : history(settings)) {
            if (record.value(u"generation"_s).toInteger() != generation)
                continue;
            QHash<QString, QString> texts;
            for (const QJsonValue &f : record.value(u"files"_s).toArray()) {
                const QString path = f.toObject().value(u"path"_s).toString();
                if (settings.configFiles.contains(path))
                    texts.insert(path, f.toObject().value(u"text"_s).toString());
            }
            Result result = apply(settings, texts, QByteArray(), false, who);
            if (result.body.isObject()) {
                QJsonObject body = result.body.toObject();
                body.insert(u"rolled_back_to"_s, generation);
                result.body = body;
            }
            return result;
        }
        return errorResult(404, u"not_found"_s,
                           u"generation %1 is not in config/history"_s.arg(generation));
    });
}

QString AdminApi::logPath(const QString &name) const
{
    for (const auto &[logName, file] : m_settings.logs) {
        if (logName == name && !file.isEmpty())
            return QDir::isAbsolutePath(file) ? file : m_settings.logDir + u'/' + file;
    }
    return QString();
}

void AdminApi::logs(const CallPtr &call)
{
    QJsonArray list;
    for (const auto &[name, file] : m_settings.logs) {
        const QString path = logPath(name);
        const QFileInfo info(path);
        list.append(QJsonObject{{u"name"_s, name},
                                {u"file"_s, path},
                                {u"size"_s, info.exists() ? info.size() : 0},
                                {u"exists"_s, info.exists()}});
    }
    respond(call, 200, QJsonObject{{u"logs"_s, list}});
}

void AdminApi::log(const CallPtr &call)
{
    const QString name = call->params.value(0);
    const QString path = logPath(name);
    if (path.isEmpty() || m_settings.logDir.isEmpty())
        return fail(call, 404, u"not_found"_s,
                    m_settings.logDir.isEmpty() ? u"no log_dir: logs go to stderr"_s
                                                : u"no log '%1'"_s.arg(name));
    if (call->query.queryItemValue(u"follow"_s) == u"1"_s)
        return logFollow(call, path);
    const int lines = qBound(1,
                             call->query.queryItemValue(u"lines"_s).toInt() > 0
                                 ? call->query.queryItemValue(u"lines"_s).toInt()
                                 : 200,
                             10'000);
    const QString filter = call->query.queryItemValue(u"filter"_s, QUrl::FullyDecoded);
    offload(call, [path, name, lines, filter] {
        QFile file(path);
        if (!file.open(QIODevice::ReadOnly))
            return Result{
                200,
                QJsonObject{{u"name"_s, name}, {u"lines"_s, QJsonArray()}, {u"offset"_s, 0}},
                {}};
        const qint64 size = file.size();
        // Enough of the tail for `lines` lines of a few hundred bytes, or all of a filter's.
        const qint64 window = filter.isEmpty() ? qMin<qint64>(size, lines * 2048LL)
                                               : qMin<qint64>(size, 16 * 1024 * 1024);
        file.seek(size - window);
        QList<QByteArray> all = file.read(window).split('\n');
        if (!all.isEmpty() && all.last().isEmpty())
            all.removeLast();
        if (window < size && !all.isEmpty())
            all.removeFirst(); // a partial line
        QStringList out;
        for (qsizetype i = all.size() - 1; i >= 0 && out.size() < lines; --i) {
            const QString line = QString::fromUtf8(all[i]);
            if (filter.isEmpty() || line.contains(filter))
                out.prepend(line);
        }
        return Result{200,
                      QJsonObject{{u"name"_s, name},
                                  {u"lines"_s, QJsonArray::fromStringList(out)},
                                  {u"offset"_s, size}},
                      {}};
    });
}

} // namespace Berth::Admin
