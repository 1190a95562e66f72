#include "configparser.h"

#include <QDir>
#include <QFile>
#include <QFileInfo>

#include <algorithm>

#include <glob.h>

namespace Berth::Config {

namespace {

const QString BerthSection = QStringLiteral("berth");
const QString BrimSection = QStringLiteral("brim");
const QString AdditionalConfs = QStringLiteral("additional_confs");

// Whether an include names several files by a pattern (nginx include, supervisord [include]).
bool isGlob(const QString &path)
{
    return path.contains(u'*') || path.contains(u'?') || path.contains(u'[');
}

// The files a pattern matches, in byte order of their names (not the locale's, so the order is
// the same on every machine). No match is not an error: an empty conf.d/ is a normal state.
QStringList expandGlob(const QString &pattern)
{
    glob_t found{};
    QStringList paths;
    if (::glob(QFile::encodeName(pattern).constData(), GLOB_NOSORT, nullptr, &found) == 0) {
        for (size_t i = 0; i < found.gl_pathc; ++i)
            paths.append(QFile::decodeName(found.gl_pathv[i]));
    }
    ::globfree(&found);
    std::sort(paths.begin(), paths.end(), [](const QString &a, const QString &b) {
        return QFile::encodeName(a) < QFile::encodeName(b);
    });
    return paths;
}

bool isCommentStart(QChar c)
{
    return c == u';' || c == u'#';
}

bool isVariableName(const QString &name)
{
    if (name.isEmpty())
        return false;
    for (qsizetype i = 0; i < name.size(); ++i) {
        const QChar c = name.at(i);
        const bool letter = (c >= u'a' && c <= u'z') || (c >= u'A' && c <= u'Z') || c == u'_';
        const bool digit = c >= u'0' && c <= u'9';
        if (!letter && !(digit && i > 0))
            return false;
    }
    return true;
}

// QFile reports a directory as openable on some platforms and with a vague message on others;
// say what the user needs to know.
QString readProblem(QFile &file, const QFileInfo &info, QByteArray &data)
{
    if (info.isDir())
        return QStringLiteral("Is a directory");
    if (!file.open(QIODevice::ReadOnly))
        return file.errorString();
    data = file.read(ConfigParser::MaxFileBytes + 1);
    if (file.error() != QFileDevice::NoError)
        return file.errorString();
    if (data.size() > ConfigParser::MaxFileBytes)
        return QStringLiteral("file is larger than %1 MiB")
            .arg(ConfigParser::MaxFileBytes / (1024 * 1024));
    return QString();
}

} // namespace

ConfigParser::ConfigParser(Config &config, Config::Includes includes)
    : m_config(config)
    , m_includes(includes)
{}

void ConfigParser::loadFile(const QString &fileName)
{
    readFile(fileName, Location());
}

void ConfigParser::setTexts(const QHash<QString, QString> &texts)
{
    for (auto it = texts.begin(); it != texts.end(); ++it) {
        m_texts.insert(it.key(), it.value());
        const QString canonical = QFileInfo(it.key()).canonicalFilePath();
        if (!canonical.isEmpty())
            m_texts.insert(canonical, it.value());
    }
}

void ConfigParser::loadText(const QString &text, const QString &fileName)
{
    const QString canonical = QFileInfo(fileName).canonicalFilePath();
    if (!canonical.isEmpty())
        m_readPaths.insert(canonical);
    m_config.m_files.append(fileName);
    const QList<Entry> includes = parse(text, fileName);
    followIncludes(includes, fileName, canonical);
}

void ConfigParser::readFile(const QString &fileName, const Location &includedFrom)
{
    const bool topLevel = !includedFrom.isValid();
    const QFileInfo info(fileName);
    const QString canonical = info.canonicalFilePath();
    if (!canonical.isEmpty()) {
        for (qsizetype i = 0; i < m_stack.size(); ++i) {
            if (m_stack.at(i).canonicalPath != canonical)
                continue;
            QStringList chain;
            for (qsizetype j = i; j < m_stack.size(); ++j)
                chain.append(m_stack.at(j).displayName);
            chain.append(fileName);
            error(includedFrom,
                  QStringLiteral("include cycle: ") + chain.join(QLatin1String(" -> ")));
            return;
        }
        // Included twice without a cycle (two files include a common one, or the same -c twice):
        // reading it again would only duplicate its raw lines, so the first read stands.
        if (m_readPaths.contains(canonical))
            return;
    }

    QFile file(fileName);
    QByteArray data;
    const auto given = m_texts.constFind(m_texts.contains(fileName) ? fileName : canonical);
    const QString problem = given != m_texts.constEnd() ? QString() : readProblem(file, info, data);
    if (given != m_texts.constEnd())
        data = given.value().toUtf8();
    if (!problem.isEmpty()) {
        if (topLevel)
            error(Location{fileName, 0},
                  QStringLiteral("cannot read configuration file '%1': %2").arg(fileName, problem));
        else
            error(includedFrom,
                  QStringLiteral("cannot read included file '%1': %2").arg(fileName, problem));
        return;
    }

    m_readPaths.insert(canonical);
    m_config.m_files.append(fileName);
    const QList<Entry> includes = parse(QString::fromUtf8(data), fileName);
    followIncludes(includes, fileName, canonical);
}

void ConfigParser::followIncludes(const QList<Entry> &includes, const QString &fileName,
                                  const QString &canonicalPath)
{
    if (m_includes == Config::Includes::Ignore || includes.isEmpty())
        return;
    // Relative names are relative to the including file, as brim resolves them; keeping the
    // including file's spelling ("conf.d/a.conf", not an absolute path) keeps messages short.
    const QString baseDir = QFileInfo(fileName).path();
    m_stack.append(Frame{fileName, canonicalPath});
    for (const Entry &entry : includes) {
        for (const QString &name : Values::parseList(entry.value)) {
            QString path = Values::expandUser(name);
            if (QDir::isRelativePath(path))
                path = baseDir + u'/' + path;
            path = QDir::cleanPath(path);
            if (!isGlob(path)) {
                readFile(path, entry.location);
                continue;
            }
            for (const QString &match : expandGlob(path)) {
                if (!QFileInfo(match).isDir()) // conf.d/* next to a subdirectory
                    readFile(match, entry.location);
            }
        }
    }
    m_stack.removeLast();
}

QList<Entry> ConfigParser::parse(const QString &text, const QString &fileName)
{
    std::optional<Entry> berthInclude;
    std::optional<Entry> brimInclude;
    Section *current = nullptr;
    // After a broken header or a stray line before any header, the following lines belong to
    // nothing we can name; skip them instead of reporting each one.
    bool skipping = false;

    const QStringList lines = text.split(u'\n');
    for (qsizetype i = 0; i < lines.size(); ++i) {
        QString line = lines.at(i);
        if (line.endsWith(u'\r'))
            line.chop(1);
        if (i == 0 && line.startsWith(QChar(0xFEFF)))
            line.remove(0, 1);
        const Location location{fileName, int(i + 1)};
        const QString trimmed = line.trimmed();
        if (trimmed.isEmpty() || isCommentStart(trimmed.at(0)))
            continue;

        if (trimmed.startsWith(u'[')) {
            const qsizetype close = trimmed.indexOf(u']');
            if (close < 0) {
                error(location, QStringLiteral("expected ']' at the end of the section header"));
                current = nullptr;
                skipping = true;
                continue;
            }
            const QString name = trimmed.mid(1, close - 1).trimmed().toLower();
            if (name.isEmpty()) {
                error(location, QStringLiteral("empty section name"));
                current = nullptr;
                skipping = true;
                continue;
            }
            const QString rest = trimmed.mid(close + 1).trimmed();
            if (!rest.isEmpty() && !isCommentStart(rest.at(0)))
                error(location,
                      QStringLiteral("unexpected text after the section header: '%1'").arg(rest));
            auto it = m_config.m_sections.find(name);
            if (it == m_config.m_sections.end()) {
                Section section;
                section.name = name;
                section.location = location;
                it = m_config.m_sections.insert(name, section);
                m_config.m_order.append(name);
            }
            current = &it.value();
            skipping = false;
            continue;
        }

        if (skipping)
            continue;
        if (!current) {
            error(location, QStringLiteral("expected a [section] header before this line"));
            skipping = true;
            continue;
        }

        if (current->isRawLines()) {
            const QString raw = stripInlineComment(trimmed).trimmed();
            if (!raw.isEmpty())
                current->lines.append(RawLine{expandEnvironment(raw, location), location});
            continue;
        }

        // ConfigParser would silently glue an indented line onto the previous value; in a
        // server config that is almost always an indentation mistake, so say so.
        if (line.at(0).isSpace()) {
            error(location, QStringLiteral("continuation lines are not supported"));
            continue;
        }
        const qsizetype equals = line.indexOf(u'=');
        if (equals < 0) {
            error(location, QStringLiteral("expected 'key = value'"));
            continue;
        }
        const QString key = line.left(equals).trimmed().toLower();
        if (key.isEmpty()) {
            error(location, QStringLiteral("expected a key before '='"));
            continue;
        }
        const QString value = stripInlineComment(line.mid(equals + 1)).trimmed();
        Entry entry{key, expandEnvironment(value, location), location};
        current->entries.append(entry);

        // Only the effective (last) value per section counts, as for any duplicated key.
        if (key == AdditionalConfs && current->name == BerthSection)
            berthInclude = entry;
        else if (key == AdditionalConfs && current->name == BrimSection)
            brimInclude = entry;
    }

    QList<Entry> includes;
    if (berthInclude)
        includes.append(*berthInclude);
    if (brimInclude)
        includes.append(*brimInclude);
    std::sort(includes.begin(), includes.end(),
              [](const Entry &a, const Entry &b) { return a.location.line < b.location.line; });
    return includes;
}

QString ConfigParser::stripInlineComment(const QString &text) const
{
    // ';' or '#' starts a comment only after whitespace, so "#fff" and "a;b" stay values;
    // inside double quotes nothing is a comment.
    bool inQuotes = false;
    for (qsizetype i = 0; i < text.size(); ++i) {
        const QChar c = text.at(i);
        if (c == u'"')
            inQuotes = !inQuotes;
        else if (!inQuotes && isCommentStart(c) && i > 0 && text.at(i - 1).isSpace())
            return text.left(i);
    }
    return text;
}

QString ConfigParser::expandEnvironment(const QString &text, const Location &location)
{
    if (!text.contains(u'$'))
        return text;
    QString result;
    result.reserve(text.size());
    qsizetype i = 0;
    while (i < text.size()) {
        const QChar c = text.at(i);
        const QChar next = i + 1 < text.size() ? text.at(i + 1) : QChar();
        if (c != u'$' || (next != u'$' && next != u'{')) {
            result.append(c);
            ++i;
            continue;
        }
        if (next == u'$') {
            result.append(u'$');
            i += 2;
            continue;
        }
        const qsizetype close = text.indexOf(u'}', i + 2);
        if (close < 0) {
            error(location, QStringLiteral("unterminated '${' (missing '}')"));
            result.append(text.mid(i));
            break;
        }
        const QString inner = text.mid(i + 2, close - i - 2);
        const qsizetype separator = inner.indexOf(QLatin1String(":-"));
        const QString name = separator < 0 ? inner : inner.left(separator);
        i = close + 1;
        if (!isVariableName(name)) {
            error(location, QStringLiteral("invalid environment variable name '%1'").arg(name));
            continue;
        }
        const QByteArray variable = name.toLocal8Bit();
        const QString value = qEnvironmentVariable(variable.constData());
        if (separator >= 0)
            result.append(value.isEmpty() ? inner.mid(separator + 2) : value);
        else if (!qEnvironmentVariableIsSet(variable.constData()))
            error(location, QStringLiteral("environment variable '%1' is not set").arg(name));
        else
            result.append(value);
    }
    return result;
}

void ConfigParser::error(const Location &location, const QString &message)
{
    m_config.m_diagnostics.append(Diagnostic{Diagnostic::Severity::Error, location, message});
}

} // namespace Berth::Config
