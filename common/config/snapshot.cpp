#include "snapshot.h"

#include <QCryptographicHash>
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>

namespace Berth::Config {

namespace {

// Locations are stored as an index into the file table plus a line, which keeps the text small
// for configurations with many entries from a few files.
class FileTable
{
public:
    int indexOf(const QString &file)
    {
        int i = int(m_files.indexOf(file));
        if (i < 0) {
            m_files.append(file);
            i = int(m_files.size()) - 1;
        }
        return i;
    }
    QJsonArray toJson() const { return QJsonArray::fromStringList(m_files); }

private:
    QStringList m_files;
};

QJsonArray locationJson(FileTable &files, const Location &location)
{
    return QJsonArray{location.file.isEmpty() ? -1 : files.indexOf(location.file), location.line};
}

Location locationFrom(const QJsonValue &value, const QStringList &files)
{
    const QJsonArray pair = value.toArray();
    const int index = pair.at(0).toInt(-1);
    return Location{index >= 0 && index < files.size() ? files[index] : QString(),
                    pair.at(1).toInt()};
}

QJsonObject sectionJson(FileTable &files, const Section &section)
{
    QJsonObject s;
    s.insert(QStringLiteral("name"), section.name);
    s.insert(QStringLiteral("at"), locationJson(files, section.location));
    QJsonArray entries;
    for (const Entry &e : section.entries)
        entries.append(QJsonArray{e.key, e.value, locationJson(files, e.location)});
    s.insert(QStringLiteral("entries"), entries);
    QJsonArray lines;
    for (const RawLine &l : section.lines)
        lines.append(QJsonArray{l.text, locationJson(files, l.location)});
    if (!lines.isEmpty())
        s.insert(QStringLiteral("lines"), lines);
    return s;
}

QByteArray sha256Hex(const QByteArray &bytes)
{
    return QCryptographicHash::hash(bytes, QCryptographicHash::Sha256).toHex();
}

} // namespace

Snapshot Snapshot::capture(const Config &config, quint64 generation)
{
    FileTable files;
    QJsonArray sections;
    for (const QString &name : config.m_order)
        sections.append(sectionJson(files, config.m_sections.value(name)));
    QJsonObject root;
    root.insert(QStringLiteral("generation"), qint64(generation));
    root.insert(QStringLiteral("read"), QJsonArray::fromStringList(config.m_files));
    root.insert(QStringLiteral("sections"), sections);
    root.insert(QStringLiteral("files"), files.toJson());
    Snapshot snapshot;
    snapshot.m_text = QJsonDocument(root).toJson(QJsonDocument::Compact);
    snapshot.m_hash = sha256Hex(snapshot.m_text);
    snapshot.m_generation = generation;
    snapshot.m_config = config;
    snapshot.m_config.m_diagnostics.clear();
    return snapshot;
}

std::optional<Snapshot> Snapshot::fromText(const QByteArray &text, QString *error)
{
    QJsonParseError parseError;
    const QJsonDocument doc = QJsonDocument::fromJson(text, &parseError);
    if (!doc.isObject()) {
        if (error)
            *error = QStringLiteral("configuration snapshot: %1").arg(parseError.errorString());
        return std::nullopt;
    }
    const QJsonObject root = doc.object();
    QStringList files;
    for (const QJsonValue &f : root.value(QStringLiteral("files")).toArray())
        files.append(f.toString());
    Snapshot snapshot;
    Config &config = snapshot.m_config;
    for (const QJsonValue &f : root.value(QStringLiteral("read")).toArray())
        config.m_files.append(f.toString());
    for (const QJsonValue &value : root.value(QStringLiteral("sections")).toArray()) {
        const QJsonObject s = value.toObject();
        Section section;
        section.name = s.value(QStringLiteral("name")).toString();
        section.location = locationFrom(s.value(QStringLiteral("at")), files);
        for (const QJsonValue &e : s.value(QStringLiteral("entries")).toArray()) {
            const QJsonArray entry = e.toArray();
            section.entries.append(Entry{entry.at(0).toString(), entry.at(1).toString(),
                                         locationFrom(entry.at(2), files)});
        }
        for (const QJsonValue &l : s.value(QStringLiteral("lines")).toArray()) {
            const QJsonArray line = l.toArray();
            section.lines.append(RawLine{line.at(0).toString(), locationFrom(line.at(1), files)});
        }
        if (section.name.isEmpty() || config.m_sections.contains(section.name)) {
            if (error)
                *error =
                    QStringLiteral("configuration snapshot: bad section '%1'").arg(section.name);
            return std::nullopt;
        }
        config.m_order.append(section.name);
        config.m_sections.insert(section.name, section);
    }
    snapshot.m_text = text;
    snapshot.m_hash = sha256Hex(text);
    snapshot.m_generation = quint64(root.value(QStringLiteral("generation")).toInteger());
    return snapshot;
}

Config Snapshot::config() const
{
    return m_config;
}

QByteArray Snapshot::sectionsDigest(const Config &config, const QStringList &sectionNames)
{
    // Content only: moving a section within its file (or a comment above it) changes no
    // setting, so locations stay out of the digest.
    QJsonArray sections;
    for (const QString &name : sectionNames) {
        const Section *section = config.section(name);
        if (!section) {
            sections.append(QJsonValue());
            continue;
        }
        QJsonArray content{section->name};
        for (const Entry &e : section->entries)
            content.append(QJsonArray{e.key, e.value});
        for (const RawLine &l : section->lines)
            content.append(l.text);
        sections.append(content);
    }
    return sha256Hex(QJsonDocument(sections).toJson(QJsonDocument::Compact));
}

} // namespace Berth::Config
