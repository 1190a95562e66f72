#pragma once

#include <QList>
#include <QString>

class QSettings;

namespace Berth::Console {

// One server the console knows: what the user named it and where its admin API answers. The
// token is not here: TokenStore keeps it.
struct ServerEntry
{
    QString name;
    QString url; // http://127.0.0.1:8099 or https://...
};

// The server list, persisted in QSettings (names and URLs only).
class ServerList
{
public:
    explicit ServerList(QSettings *settings);

    QList<ServerEntry> entries() const { return m_entries; }
    void upsert(const ServerEntry &entry);
    void remove(const QString &name);
    const ServerEntry *find(const QString &name) const;

private:
    void save();

    QSettings *m_settings;
    QList<ServerEntry> m_entries;
};

} // namespace Berth::Console
