#pragma once

#include "config.h"

#include <QByteArray>
#include <QString>

#include <optional>

namespace Berth::Config {

// One generation of the configuration as the master read and validated it: every section,
// entry and raw line with the file:line it came from (so a child's diagnostics still name the
// original files), serialized as JSON text with its SHA-256 and the generation number. Children
// rebuild their Config from it and never read the files again, so a file edited on disk goes
// live only through a reload.
class Snapshot
{
public:
    Snapshot() = default;

    // Serializes config (its sections, entries, raw lines and file list; not its diagnostics).
    static Snapshot capture(const Config &config, quint64 generation);
    // Parses text written by capture(); nullopt (with *error) when it is not one.
    static std::optional<Snapshot> fromText(const QByteArray &text, QString *error);

    const QByteArray &text() const { return m_text; }
    // Hex SHA-256 of text().
    const QByteArray &hash() const { return m_hash; }
    quint64 generation() const { return m_generation; }
    bool isNull() const { return m_text.isEmpty(); }

    // The Config the snapshot holds, as Config::load() built it in the master.
    Config config() const;
    // SHA-256 (hex) of the named sections' serialized content: what a service compares to decide
    // whether its part of the configuration changed between two generations.
    static QByteArray sectionsDigest(const Config &config, const QStringList &sectionNames);

private:
    QByteArray m_text;
    QByteArray m_hash;
    quint64 m_generation = 0;
    Config m_config;
};

} // namespace Berth::Config
