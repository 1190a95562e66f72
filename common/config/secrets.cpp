// Config::getSecret and the checks `berthd check` makes on secrets (secrets.h).

#include "secrets.h"
#include "config.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>

namespace Berth::Config {

using namespace Qt::StringLiterals;

namespace {

// Secrets are short; a larger file is the wrong file.
constexpr qint64 MaxSecretBytes = 64 * 1024;

// The file a `KEY_file` entry names: $CREDENTIALS_DIRECTORY/NAME for a relative name when systemd
// passed credentials, else the path resolved like any other (relative to the entry's file).
QString secretPath(const Config &config, const QString &section, const QString &fileKey)
{
    const Section *s = config.section(section);
    const Entry *entry = s ? s->find(fileKey) : nullptr;
    if (!entry)
        return QString();
    QString name = entry->value;
    if (name.size() >= 2 && name.startsWith(u'"') && name.endsWith(u'"'))
        name = name.mid(1, name.size() - 2);
    if (name.isEmpty())
        return QString();
    name = Values::expandUser(name);
    const QString credentials = qEnvironmentVariable("CREDENTIALS_DIRECTORY");
    if (QDir::isRelativePath(name) && !credentials.isEmpty())
        return QDir::cleanPath(QDir(credentials).absoluteFilePath(name));
    return config.getPath(section, fileKey);
}

void addOnce(const Config &config, const Diagnostic &diagnostic)
{
    // Server code may read the same secret twice; one report is enough.
    for (const Diagnostic &d : config.diagnostics()) {
        if (d.location.line == diagnostic.location.line && d.message == diagnostic.message &&
            d.location.file == diagnostic.location.file)
            return;
    }
    config.addDiagnostic(diagnostic);
}

} // namespace

QString Config::secretFileKey(const QString &key)
{
    return key.trimmed().toLower() + u"_file"_s;
}

QString Config::getSecret(const QString &section, const QString &key) const
{
    const QString fileKey = secretFileKey(key);
    const QString path = secretPath(*this, section, fileKey);
    if (path.isEmpty())
        return getString(section, key);
    const Location at = location(section, fileKey);
    const QString name = section.trimmed().toLower();
    if (!getString(section, key).isEmpty()) {
        addOnce(*this, Diagnostic{Diagnostic::Severity::Error, at,
                                  u"[%1] %2: set %3 or %2, not both"_s.arg(name, fileKey, key)});
        return QString();
    }
    QFile file(path);
    QString problem;
    QByteArray data;
    if (QFileInfo(path).isDir())
        problem = u"Is a directory"_s;
    else if (!file.open(QIODevice::ReadOnly))
        problem = file.errorString();
    else if ((data = file.read(MaxSecretBytes + 1)).size() > MaxSecretBytes)
        problem = u"larger than %1 KiB"_s.arg(MaxSecretBytes / 1024);
    else if (data.trimmed().isEmpty())
        problem = u"the file is empty"_s;
    if (!problem.isEmpty()) {
        addOnce(*this,
                Diagnostic{Diagnostic::Severity::Error, at,
                           u"[%1] %2: cannot read '%3': %4"_s.arg(name, fileKey, path, problem)});
        return QString();
    }
    // `echo secret > file` and editors add a line break that is not part of the secret.
    if (data.endsWith('\n'))
        data.chop(1);
    if (data.endsWith('\r'))
        data.chop(1);
    return QString::fromUtf8(data);
}

Diagnostics checkSecrets(const Config &config)
{
    Diagnostics found;
    for (const QString &name : config.sectionNames()) {
        const Section *section = config.section(name);
        for (const Entry &entry : section->entries) {
            const KeySpec *spec = config.keySpec(name, entry.key);
            if (!spec || !spec->secret || entry.value.isEmpty() ||
                section->find(entry.key) != &entry)
                continue;
            // Reading it records the errors (both set, unreadable file) in the config.
            config.getSecret(name, entry.key);
            if (entry.location.file.isEmpty())
                continue;
            const QFileInfo file(entry.location.file);
            if (file.exists() && file.permissions().testFlag(QFileDevice::ReadOther))
                found.append(Diagnostic{
                    Diagnostic::Severity::Warning, entry.location,
                    u"[%1] %2: a secret in a world-readable file: `chmod o-r %3`, or move it "
                    u"to %4 in a file only the server can read"_s.arg(
                        name, entry.key, entry.location.file, Config::secretFileKey(entry.key))});
        }
        for (const Entry &entry : section->entries) {
            if (!entry.key.endsWith(u"_file"_s) || section->find(entry.key) != &entry)
                continue;
            const QString key = entry.key.chopped(5);
            const KeySpec *spec = config.keySpec(name, key);
            if (spec && spec->secret)
                config.getSecret(name, key);
        }
    }
    return found;
}

} // namespace Berth::Config
