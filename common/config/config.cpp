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

// Typed getters: a missing key or an empty value ("port =") means "not set" and yields the
// default; a value that does not convert is reported once and also yields the default.
namespace {

const Entry *findEntry(const Config &config, const QString &section, const QString &key)
{
    const Section *s = config.section(section);
    return s ? s->find(normalized(key)) : nullptr;
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
T getTyped(const Config &config, const QString &section, const QString &key, T defaultValue,
           Parse parse, const char *typeName)
{
    const Entry *entry = findEntry(config, section, key);
    if (!entry || entry->value.isEmpty())
        return defaultValue;
    const auto value = parse(entry->value);
    if (!value) {
        reportInvalid(config, section, *entry, typeName);
        return defaultValue;
    }
    return *value;
}

} // namespace

QString Config::getString(const QString &section, const QString &key,
                          const QString &defaultValue) const
{
    const Entry *entry = findEntry(*this, section, key);
    return entry ? entry->value : defaultValue;
}

qint64 Config::getInt(const QString &section, const QString &key, qint64 defaultValue) const
{
    return getTyped(*this, section, key, defaultValue, Values::parseInt, "an integer");
}

double Config::getFloat(const QString &section, const QString &key, double defaultValue) const
{
    return getTyped(*this, section, key, defaultValue, Values::parseFloat, "a number");
}

bool Config::getBool(const QString &section, const QString &key, bool defaultValue) const
{
    return getTyped(*this, section, key, defaultValue, Values::parseBool, "a boolean");
}

qint64 Config::getSize(const QString &section, const QString &key, qint64 defaultValue) const
{
    return getTyped(*this, section, key, defaultValue, Values::parseSize, "a size");
}

std::chrono::milliseconds Config::getDuration(const QString &section, const QString &key,
                                              std::chrono::milliseconds defaultValue) const
{
    return getTyped(*this, section, key, defaultValue, Values::parseDuration, "a duration");
}

QStringList Config::getList(const QString &section, const QString &key,
                            const QStringList &defaultValue) const
{
    // An empty value is an explicitly empty list ("index =" turns index files off).
    const Entry *entry = findEntry(*this, section, key);
    return entry ? Values::parseList(entry->value) : defaultValue;
}

QString Config::getPath(const QString &section, const QString &key,
                        const QString &defaultValue) const
{
    const Entry *entry = findEntry(*this, section, key);
    if (!entry)
        return defaultValue;
    QString path = entry->value;
    // A path wholly in quotes ("/srv/my site") is the path inside them.
    if (path.size() >= 2 && path.startsWith(u'"') && path.endsWith(u'"'))
        path = path.mid(1, path.size() - 2);
    if (path.isEmpty())
        return QString(); // explicitly empty: the feature is off (log_dir = -> stderr)
    path = Values::expandUser(path);
    if (QDir::isRelativePath(path)) {
        const QString baseDir = QFileInfo(entry->location.file).absolutePath();
        path = QDir(baseDir).absoluteFilePath(path);
    }
    return QDir::cleanPath(path);
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
