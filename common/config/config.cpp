#include "config.h"

#include "configparser.h"

#include <QDir>
#include <QFileInfo>

namespace Berth::Config {

namespace {

QString normalized(const QString &name)
{
    return name.trimmed().toLower();
}

} // namespace

const Entry *Section::find(const QString &key) const
{
    for (qsizetype i = entries.size() - 1; i >= 0; --i) {
        if (entries.at(i).key == key)
            return &entries.at(i);
    }
    return nullptr;
}

Config Config::load(const QStringList &files)
{
    Config config;
    ConfigParser parser(config);
    for (const QString &file : files)
        parser.loadFile(file);
    return config;
}

Config Config::load(const QStringList &files, const QHash<QString, QString> &texts)
{
    Config config;
    ConfigParser parser(config);
    parser.setTexts(texts);
    for (const QString &file : files)
        parser.loadFile(file);
    return config;
}

Config Config::fromText(const QString &text, const QString &fileName)
{
    return fromText(text, fileName, Includes::Follow);
}

Config Config::fromText(const QString &text, const QString &fileName, Includes includes)
{
    Config config;
    ConfigParser parser(config, includes);
    parser.loadText(text, fileName);
    return config;
}

QStringList Config::files() const
{
    return m_files;
}

QStringList Config::sectionNames() const
{
    return m_order;
}

bool Config::hasSection(const QString &section) const
{
    return m_sections.contains(normalized(section));
}

const Section *Config::section(const QString &section) const
{
    const auto it = m_sections.constFind(normalized(section));
    return it == m_sections.cend() ? nullptr : &it.value();
}

QList<const Section *> Config::sectionsWithPrefix(const QString &prefix) const
{
    const QString p = normalized(prefix);
    QList<const Section *> result;
    for (const QString &name : m_order) {
        if (name.startsWith(p))
            result.append(&m_sections.find(name).value());
    }
    return result;
}

bool Config::has(const QString &section, const QString &key) const
{
    const Section *s = this->section(section);
    return s && s->find(normalized(key));
}

Location Config::location(const QString &section, const QString &key) const
{
    const Section *s = this->section(section);
    const Entry *entry = s ? s->find(normalized(key)) : nullptr;
    return entry ? entry->location : Location();
}

const Schema &Config::schema() const
{
    return m_schema ? *m_schema : Schema::builtin();
}

const KeySpec *Config::keySpec(const QString &section, const QString &key) const
{
    const QString sectionName = normalized(section);
    const QString keyName = normalized(key);
    const SectionSpec *spec = schema().findSection(sectionName);
    if (!spec)
        return nullptr;
    if (spec->pattern == QLatin1String("app:*")) {
        // An app's keys depend on what it calls; the call itself is a common key.
        const Section *s = this->section(sectionName);
        const Entry *call = s ? s->find(QStringLiteral("call")) : nullptr;
        if (const KeySpec *k = schema().findAppKey(call ? call->value : QString(), keyName))
            return k;
    }
    if (!spec->apps.isEmpty()) { // [tcp:*], [udp:*]: the called app's own keys
        const Section *s = this->section(sectionName);
        const Entry *call = s ? s->find(QStringLiteral("call")) : nullptr;
        for (const AppSpec &app : spec->apps) {
            if (!call || app.call != call->value)
                continue;
            for (const KeySpec &k : app.keys) {
                if (k.matches(keyName))
                    return &k;
            }
        }
    }
    return spec->findKey(keyName);
}

bool Config::isSet(const QString &section, const QString &key) const
{
    const Section *s = this->section(section);
    const Entry *entry = s ? s->find(normalized(key)) : nullptr;
    return entry && !entry->value.isEmpty();
}

// Typed getters: a missing key or an empty value ("port =") means "not set" and yields the
// schema's default; a value that does not convert is reported once and also yields it.
namespace {

const Entry *findEntry(const Config &config, const QString &section, const QString &key)
{
    const Section *s = config.section(section);
    return s ? s->find(normalized(key)) : nullptr;
}

// The schema's default as text; empty when it has none. Code that reads a key the schema does
// not know is a bug the reference would hide, so it is logged.
QString schemaDefault(const Config &config, const QString &section, const QString &key)
{
    const KeySpec *spec = config.keySpec(section, key);
    if (!spec) {
        qWarning("berth config: [%s] %s is read but the schema does not know it",
                 qPrintable(normalized(section)), qPrintable(normalized(key)));
        return QString();
    }
    return spec->defaultValue;
}

void reportInvalid(const Config &config, const QString &section, const Entry &entry,
                   const char *typeName)
{
    const Diagnostic diagnostic{
        Diagnostic::Severity::Error, entry.location,
        QStringLiteral("[%1] %2: '%3' is not %4")
            .arg(normalized(section), entry.key, entry.value, QLatin1String(typeName))};
    // Server code may read the same key twice; one report is enough.
    for (const Diagnostic &d : config.diagnostics()) {
        if (d.location.line == diagnostic.location.line && d.message == diagnostic.message &&
            d.location.file == diagnostic.location.file)
            return;
    }
    config.addDiagnostic(diagnostic);
}

template <typename T, typename Parse>
T getTyped(const Config &config, const QString &section, const QString &key, Parse parse,
           const char *typeName)
{
    auto fallback = [&]() -> T {
        const QString text = schemaDefault(config, section, key);
        const auto value = text.isEmpty() ? std::nullopt : parse(text);
        return value ? T(*value) : T{}; // tst_validator checks every default converts
    };
    const Entry *entry = findEntry(config, section, key);
    if (!entry || entry->value.isEmpty())
        return fallback();
    const auto value = parse(entry->value);
    if (!value) {
        reportInvalid(config, section, *entry, typeName);
        return fallback();
    }
    return *value;
}

QString resolvePath(QString path, const QString &baseFile)
{
    // A path wholly in quotes ("/srv/my site") is the path inside them.
    if (path.size() >= 2 && path.startsWith(u'"') && path.endsWith(u'"'))
        path = path.mid(1, path.size() - 2);
    if (path.isEmpty())
        return QString(); // explicitly empty: the feature is off (log_dir = -> stderr)
    path = Values::expandUser(path);
    if (QDir::isRelativePath(path)) {
        const QString baseDir =
            baseFile.isEmpty() ? QDir::currentPath() : QFileInfo(baseFile).absolutePath();
        path = QDir(baseDir).absoluteFilePath(path);
    }
    return QDir::cleanPath(path);
}

} // namespace

QString Config::getString(const QString &section, const QString &key) const
{
    const Entry *entry = findEntry(*this, section, key);
    return entry ? entry->value : schemaDefault(*this, section, key);
}

qint64 Config::getInt(const QString &section, const QString &key) const
{
    return getTyped<qint64>(*this, section, key, Values::parseInt, "an integer");
}

double Config::getFloat(const QString &section, const QString &key) const
{
    return getTyped<double>(*this, section, key, Values::parseFloat, "a number");
}

bool Config::getBool(const QString &section, const QString &key) const
{
    return getTyped<bool>(*this, section, key, Values::parseBool, "a boolean");
}

qint64 Config::getSize(const QString &section, const QString &key) const
{
    return getTyped<qint64>(*this, section, key, Values::parseSize, "a size");
}

std::chrono::milliseconds Config::getDuration(const QString &section, const QString &key) const
{
    return getTyped<std::chrono::milliseconds>(*this, section, key, Values::parseDuration,
                                               "a duration");
}

QStringList Config::getList(const QString &section, const QString &key) const
{
    // An empty value is an explicitly empty list ("index =" turns index files off).
    const Entry *entry = findEntry(*this, section, key);
    return Values::parseList(entry ? entry->value : schemaDefault(*this, section, key));
}

QString Config::getPath(const QString &section, const QString &key) const
{
    const Entry *entry = findEntry(*this, section, key);
    if (entry)
        return resolvePath(entry->value, entry->location.file);
    return resolvePath(schemaDefault(*this, section, key),
                       m_files.isEmpty() ? QString() : m_files.first());
}

const QStringList &Config::trueValues()
{
    static const QStringList values{QStringLiteral("true"), QStringLiteral("1"),
                                    QStringLiteral("yes"),  QStringLiteral("on"),
                                    QStringLiteral("t"),    QStringLiteral("y")};
    return values;
}

const QStringList &Config::falseValues()
{
    static const QStringList values{QStringLiteral("false"), QStringLiteral("0"),
                                    QStringLiteral("no"),    QStringLiteral("off"),
                                    QStringLiteral("f"),     QStringLiteral("n")};
    return values;
}

} // namespace Berth::Config
