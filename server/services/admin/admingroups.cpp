// The admin API's gateway groups: what the [@NAME] sections say and what the proxies of every
// worker count for their members (the gw:@GROUP:MEMBER:* stats in shared memory).

#include "adminapi.h"

#include "apps/proxy/cache/cachefront.h"
#include "apps/proxy/groupsettings.h"
#include "runtime/sharedstate.h"
#include "runtime/statsregistry.h"

#include <config/config.h>

#include <QFileInfo>
#include <QJsonDocument>
#include <QRegularExpression>

namespace Berth::Admin {

using namespace Qt::StringLiterals;

namespace {

QString balanceName(Gateway::Balancer::Method method)
{
    switch (method) {
    case Gateway::Balancer::Method::RoundRobin:
        return u"round_robin"_s;
    case Gateway::Balancer::Method::LeastConn:
        return u"least_conn"_s;
    case Gateway::Balancer::Method::IpHash:
        return u"ip_hash"_s;
    case Gateway::Balancer::Method::RandomTwo:
        return u"random_two"_s;
    }
    return QString();
}

// The group [@name] as the files say now (offload thread); false when there is none.
bool loadGroup(const QStringList &files, const QString &name, Gateway::GroupSettings *group)
{
    const QString section = u"@"_s + name;
    const Config::Config config = Config::Config::load(files);
    return config.section(section) && Gateway::GroupSettings::fromConfig(config, section, group);
}

} // namespace

void AdminApi::groups(const CallPtr &call)
{
    // The stats are read here, on the event loop (one pass over shared memory); the files are
    // read in the offload pool.
    QHash<QString, qint64> totals;
    if (m_shared) {
        const Core::StatsReport report = Core::StatsRegistry::report(*m_shared);
        for (qsizetype i = 0; i < report.names.size(); ++i) {
            const QString &name = report.names[i];
            if (name.startsWith(u"gw:@"_s) || name.startsWith(u"hc:@"_s) ||
                name.startsWith(u"dr:@"_s))
                totals.insert(name, report.total(int(i)));
        }
    }
    const QStringList files = m_settings.configFiles;
    offload(call, [files, totals] {
        const Config::Config config = Config::Config::load(files);
        QJsonArray groups;
        for (const Config::Section *section : config.sectionsWithPrefix(u"@"_s)) {
            Gateway::GroupSettings group;
            if (!Gateway::GroupSettings::fromConfig(config, section->name, &group))
                continue;
            QJsonArray members;
            for (int i = 0; i < group.members.size(); ++i) {
                const Gateway::MemberSpec &member = group.members[i];
                const QString prefix = group.memberStatPrefix(i);
                const auto stat = [&](const QString &name) { return totals.value(prefix + name); };
                // Out by the passive checks of some worker, or by the active health check.
                const qint64 health = totals.value(group.healthStatName(i));
                const bool drained = totals.value(group.drainStatName(i)) > 0;
                const bool down = stat(u"down"_s) > 0 || health == 1;
                members.append(QJsonObject{
                    {u"address"_s, member.address.text()},
                    {u"weight"_s, member.weight},
                    {u"backup"_s, member.backup},
                    {u"drained"_s, drained},
                    {u"state"_s, down            ? u"down"_s
                                 : member.backup ? u"backup"_s
                                                 : u"up"_s},
                    {u"health"_s, health == 2   ? u"up"_s
                                  : health == 1 ? u"down"_s
                                                : u"unknown"_s},
                    {u"in_flight"_s, stat(u"in_flight"_s)},
                    {u"requests"_s, stat(u"requests"_s)},
                    {u"failures"_s, stat(u"failures"_s)},
                    {u"latency_us"_s, stat(u"latency_us"_s)},
                });
            }
            groups.append(QJsonObject{
                {u"name"_s, section->name.mid(1)},
                {u"file"_s, section->location.toString()},
                {u"balance"_s, balanceName(group.balance)},
                {u"health_check"_s, group.healthCheck},
                {u"members"_s, members},
            });
        }
        return Result{200, QJsonObject{{u"groups"_s, groups}}, {}};
    });
}

void AdminApi::groupMembers(const CallPtr &call)
{
    const QString name = call->params.value(0).toLower();
    const QJsonValue list = QJsonDocument::fromJson(call->body).object().value(u"members"_s);
    QStringList members;
    for (const QJsonValue &value : list.toArray()) {
        const QString member = value.toString().trimmed();
        // One list item each: what would split or end the line is refused, not written.
        static const QRegularExpression unsafe(u"[,;#\\n\\r\"'\\\\$]"_s);
        if (member.isEmpty() || member.contains(unsafe))
            return fail(call, 400, u"bad_request"_s,
                        u"'%1' is not a member (host:port, [v6]:port or unix:/path, optionally "
                        u"with weight=N, max_conns=N, backup)"_s.arg(value.toString()));
        members.append(member);
    }
    if (members.isEmpty())
        return fail(call, 400, u"bad_request"_s,
                    u"the body must be {\"members\": [\"127.0.0.1:5001\", ...]} with at least "
                    u"one member"_s);
    if (m_settings.controlSocket.isEmpty())
        return fail(call, 409, u"no_master"_s,
                    u"changing members reloads the server: it needs worker processes "
                    u"(workers > 0) and a pid_file"_s);
    const AdminSettings settings = m_settings;
    const QString who = call->who;
    offloadChange(call, [settings, who, name, members] {
        const QString section = u"@"_s + name;
        const Config::Config config = Config::Config::load(settings.configFiles);
        const Config::Location at = config.location(section, u"members"_s);
        if (!config.section(section) || !at.isValid() || at.line <= 0)
            return errorResult(404, u"not_found"_s, u"no gateway group [%1]"_s.arg(section));
        // Rewrite the one line that sets members; the apply path validates the result,
        // backs the file up, reloads and restores it when the reload fails.
        QHash<QString, QString> texts = Blocking::currentTexts(settings.configFiles);
        const QString canonical = QFileInfo(at.file).canonicalFilePath();
        QString file;
        for (auto it = texts.cbegin(); it != texts.cend(); ++it) {
            if (it.key() == at.file || QFileInfo(it.key()).canonicalFilePath() == canonical)
                file = it.key();
        }
        QStringList lines = texts.value(file).split(u'\n');
        const qsizetype index = at.line - 1;
        if (file.isEmpty() || index >= lines.size() ||
            !lines[index].trimmed().startsWith(u"members"_s) ||
            (index + 1 < lines.size() && lines[index + 1].startsWith(u' ')))
            return errorResult(409, u"not_editable"_s,
                               u"%1: the members line is not one `members = ...` line; edit it "
                               u"through PUT /api/v1/config"_s.arg(at.toString()));
        const qsizetype indent = lines[index].indexOf(u'm');
        lines[index] = lines[index].left(indent) + u"members = "_s + members.join(u", "_s);
        return apply(settings, {{file, lines.join(u'\n')}}, QByteArray(), false, who);
    });
}

void AdminApi::groupDrain(const CallPtr &call)
{
    const QString name = call->params.value(0).toLower();
    const QString member = call->params.value(1);
    const bool undo = call->query.queryItemValue(u"undo"_s) == u"1"_s;
    const QStringList files = m_settings.configFiles;
    Core::SharedState *shared = m_shared;
    const int slot = m_settings.statsSlot;
    offload(call, [files, name, member, undo, shared, slot] {
        const QString section = u"@"_s + name;
        Gateway::GroupSettings group;
        if (!loadGroup(files, name, &group))
            return errorResult(404, u"not_found"_s, u"no gateway group [%1]"_s.arg(section));
        int index = -1;
        for (int i = 0; i < group.members.size(); ++i) {
            if (group.members[i].address.text() == member)
                index = i;
        }
        if (index < 0)
            return errorResult(
                404, u"not_found"_s,
                u"[%1] has no member %2 (see GET /api/v1/groups)"_s.arg(section, member));
        if (!shared || slot < 0)
            return errorResult(409, u"no_shared_state"_s, u"draining needs the shared stats"_s);
        // The flag is a Max stat in this process's slot: every worker's balancer reads the
        // largest value over the live slots, so it holds while the admin process lives.
        const int stat = shared->publishStat(group.drainStatName(index), Core::StatType::Max);
        if (stat < 0)
            return errorResult(503, u"stat_table_full"_s,
                               u"no room for the drain flag in shared memory"_s);
        shared->slot(slot)->values[stat].store(undo ? 0 : 1, std::memory_order_relaxed);
        return Result{200,
                      QJsonObject{{u"result"_s, u"ok"_s},
                                  {u"group"_s, name},
                                  {u"member"_s, member},
                                  {u"drained"_s, !undo}},
                      {}};
    });
}

void AdminApi::groupPurge(const CallPtr &call)
{
    const QString name = call->params.value(0).toLower();
    const QString target = call->query.queryItemValue(u"path"_s, QUrl::FullyDecoded);
    const QStringList files = m_settings.configFiles;
    offload(call, [files, name, target] {
        const QString section = u"@"_s + name;
        Gateway::GroupSettings group;
        if (!loadGroup(files, name, &group) || !group.cache)
            return errorResult(404, u"not_found"_s,
                               u"no gateway group [%1] with a cache"_s.arg(section));
        if (!target.startsWith(u'/'))
            return errorResult(400, u"bad_request"_s, u"?path=/TARGET is required"_s);
        // The workers' region, found by name (this process is a child of the same master).
        Gateway::Cache::GroupCache cache;
        QString problem;
        cache.store = Gateway::Cache::ResponseStore::open(group.name, group.cacheMemory, &problem);
        if (!cache.store)
            return errorResult(409, u"no_shared_memory"_s, problem);
        if (!group.cacheDir.isEmpty())
            cache.disk =
                std::make_unique<Gateway::Cache::DiskStore>(group.cacheDir, group.cacheDisk);
        const int purged = Gateway::Cache::purge(cache, {}, target.toUtf8());
        return Result{200, QJsonObject{{u"group"_s, name}, {u"purged"_s, purged}}, {}};
    });
}

} // namespace Berth::Admin
