#include "serverlist.h"

#include <QSettings>

namespace Berth::Console {

using namespace Qt::StringLiterals;

ServerList::ServerList(QSettings *settings)
    : m_settings(settings)
{
    const int n = m_settings->beginReadArray(u"servers"_s);
    for (int i = 0; i < n; ++i) {
        m_settings->setArrayIndex(i);
        m_entries.append(
            {m_settings->value(u"name"_s).toString(), m_settings->value(u"url"_s).toString()});
    }
    m_settings->endArray();
}

void ServerList::upsert(const ServerEntry &entry)
{
    for (ServerEntry &e : m_entries) {
        if (e.name == entry.name) {
            e = entry;
            save();
            return;
        }
    }
    m_entries.append(entry);
    save();
}

void ServerList::remove(const QString &name)
{
    m_entries.removeIf([&](const ServerEntry &e) { return e.name == name; });
    save();
}

const ServerEntry *ServerList::find(const QString &name) const
{
    for (const ServerEntry &e : m_entries) {
        if (e.name == name)
            return &e;
    }
    return nullptr;
}

void ServerList::save()
{
    m_settings->beginWriteArray(u"servers"_s, int(m_entries.size()));
    for (int i = 0; i < m_entries.size(); ++i) {
        m_settings->setArrayIndex(i);
        m_settings->setValue(u"name"_s, m_entries[i].name);
        m_settings->setValue(u"url"_s, m_entries[i].url);
    }
    m_settings->endArray();
    m_settings->sync();
}

} // namespace Berth::Console
