#include "healthservice.h"

#include "apps/proxy/groupsettings.h"
#include "service/serviceregistry.h"
#include "upstream/clienttls.h"
#include "upstream/upstreamconnection.h"

#include <config/config.h>
#include <config/snapshot.h>

#include <QLoggingCategory>

#include <utility>

Q_LOGGING_CATEGORY(lcHealth, "berth.gateway")

namespace Berth::Services {

using Upstream::UpstreamConnection;

namespace {

const QString Kind = QStringLiteral("berth.gateway_health");

QStringList checkedGroups(const Config::Config &config)
{
    QStringList groups;
    for (const Config::Section *section : config.sectionsWithPrefix(QStringLiteral("@"))) {
        if (!config.getString(section->name, QStringLiteral("health_check")).trimmed().isEmpty())
            groups.append(section->name);
    }
    return groups;
}

QList<Supervisor::ChildSpec> healthChildSpecs(const Config::Config &config)
{
    const QStringList groups = checkedGroups(config);
    if (groups.isEmpty())
        return {};
    Supervisor::ChildSpec spec;
    spec.kind = Kind;
    spec.name = QStringLiteral("health");
    spec.count = 1;
    spec.restart = Supervisor::ChildSpec::Restart::Always;
    spec.backoffStartMs = 100;
    spec.backoffCapMs = 5'000;
    spec.quickExitMs = 5'000;
    spec.reload = Supervisor::ChildSpec::Reload::Restart;
    spec.stopGraceMs = 2'000;
    spec.digest = Config::Snapshot::sectionsDigest(config, groups);
    return {spec};
}

void validateHealth(const Config::Config &)
{
    // The groups' keys are checked where the proxy builds them (and by `berthd check`).
}

} // namespace

// Checks one member every health_interval: GET health_check on a fresh connection (plain or
// TLS as the group says), the status compared with health_status, rise/fall applied.
class HealthProbe final : public QObject, private UpstreamConnection::Handler
{
public:
    HealthProbe(const Gateway::GroupSettings &group, int member,
                std::shared_ptr<Upstream::ClientTlsContext> tls, Core::StatsRegistry *stats,
                int stat)
        : m_group(group)
        , m_member(member)
        , m_tls(std::move(tls))
        , m_stats(stats)
        , m_stat(stat)
    {
        const Upstream::MemberAddress &address = m_group.members[m_member].address;
        if (!Upstream::resolveLiteral(address, &m_address))
            Upstream::resolveBlocking(address, &m_address);
        m_timer.setSingleShot(true);
        connect(&m_timer, &QTimer::timeout, this, &HealthProbe::probe);
    }
    ~HealthProbe() override { stop(); }

    void start() { m_timer.start(0); }
    void stop()
    {
        m_timer.stop();
        if (m_connection)
            std::exchange(m_connection, nullptr)->close();
    }

private:
    void probe()
    {
        const Upstream::MemberAddress &address = m_group.members[m_member].address;
        if (!m_address.valid()) {
            verdict(false, QStringLiteral("name does not resolve"));
            return;
        }
        QByteArray serverName = m_group.sslName.toUtf8();
        if (serverName.isEmpty() && !address.isUnix)
            serverName = address.host.toUtf8();
        m_connection = new UpstreamConnection(m_address, m_tls, serverName);
        m_done = false;
        const UpstreamConnection::Timeouts timeouts{m_group.healthTimeout, m_group.healthTimeout,
                                                    m_group.healthTimeout};
        m_connection->open(this, timeouts);
    }

    void upstreamConnected() override
    {
        const Upstream::MemberAddress &address = m_group.members[m_member].address;
        QByteArray host = address.isUnix ? QByteArrayLiteral("localhost") : address.text().toUtf8();
        if (m_group.host != QLatin1String("pass") && m_group.host != QLatin1String("member"))
            host = m_group.host.toUtf8();
        const QByteArray head = "GET " + m_group.healthCheck.toUtf8() +
                                " HTTP/1.1\r\nHost: " + host +
                                "\r\nUser-Agent: berthd-health\r\nConnection: close\r\n\r\n";
        const UpstreamConnection::Timeouts timeouts{m_group.healthTimeout, m_group.healthTimeout,
                                                    m_group.healthTimeout};
        m_connection->beginRequest(this, head, "GET", timeouts);
        m_connection->endRequest();
    }
    void upstreamHead(const Upstream::ResponseHead &head) override { m_status = head.status; }
    void upstreamData(QByteArrayView) override {}
    void upstreamEnd() override
    {
        const bool ok = m_status >= m_group.healthStatusMin && m_status <= m_group.healthStatusMax;
        finishProbe(ok, QStringLiteral("status %1").arg(m_status));
    }
    void upstreamWritable() override {}
    void upstreamFailed(UpstreamConnection::Failure failure, bool) override
    {
        m_connection = nullptr; // closed by itself
        finishProbe(false, QString::fromLatin1(UpstreamConnection::failureName(failure)));
    }

    void finishProbe(bool ok, const QString &why)
    {
        if (m_done)
            return;
        m_done = true;
        if (m_connection) {
            m_connection->close();
            m_connection = nullptr;
        }
        verdict(ok, why);
    }

    void verdict(bool ok, const QString &why)
    {
        if (ok) {
            m_fails = 0;
            ++m_passes;
        } else {
            m_passes = 0;
            ++m_fails;
        }
        const int before = m_state;
        // Unknown at start: the first verdict counts at once, so a dead member is out after one
        // check rather than `fall` of them, and a live one serves from the start.
        if (ok && (m_state != 2) && (m_state == 0 || m_passes >= m_group.rise))
            m_state = 2;
        else if (!ok && (m_state != 1) && (m_state == 0 || m_fails >= m_group.fall))
            m_state = 1;
        if (m_state != before) {
            m_stats->set(m_stat, m_state);
            const QString text =
                QStringLiteral("%1 member %2 %3 (health check: %4)")
                    .arg(m_group.name, m_group.members[m_member].address.text(),
                         m_state == 2 ? QStringLiteral("up") : QStringLiteral("down"), why);
            if (m_state == 2)
                qCInfo(lcHealth).noquote() << text;
            else
                qCWarning(lcHealth).noquote() << text;
        }
        m_timer.start(m_group.healthInterval);
    }

    const Gateway::GroupSettings &m_group;
    int m_member;
    std::shared_ptr<Upstream::ClientTlsContext> m_tls;
    Core::StatsRegistry *m_stats;
    int m_stat;
    Upstream::ResolvedAddress m_address;
    QTimer m_timer;
    UpstreamConnection *m_connection = nullptr; // tells us when it closes itself
    bool m_done = true;
    int m_status = 0;
    int m_state = 0; // 0 unknown, 1 down, 2 up
    int m_passes = 0;
    int m_fails = 0;
};

HealthService::HealthService(const Supervisor::ServiceSetup &setup)
    : m_setup(setup)
{}

HealthService::~HealthService()
{
    qDeleteAll(m_probes);
}

bool HealthService::prepare(QStringList *errors)
{
    const Config::Config &config = *m_setup.config;
    QString error;
    if (!m_setup.shared || !m_stats.attach(*m_setup.shared, m_setup.slot, &error)) {
        errors->append(QStringLiteral("gateway health checks: %1").arg(error));
        return false;
    }
    for (const QString &section : checkedGroups(config)) {
        auto group = std::make_shared<Gateway::GroupSettings>();
        if (!Gateway::GroupSettings::fromConfig(config, section, group.get())) {
            errors->append(QStringLiteral("[%1]: bad group").arg(section));
            return false;
        }
        std::shared_ptr<Upstream::ClientTlsContext> tls;
        if (group->ssl) {
            Upstream::ClientTlsContext::Options options;
            options.verify = group->sslVerify;
            options.caFile = group->sslCa;
            options.certFile = group->sslCert;
            options.keyFile = group->sslKey;
            tls = Upstream::ClientTlsContext::create(options, &error);
            if (!tls) {
                errors->append(QStringLiteral("[%1] %2").arg(section, error));
                return false;
            }
        }
        m_groups.append(group);
        for (int i = 0; i < group->members.size(); ++i) {
            const QString name = group->healthStatName(i);
            const int stat = m_stats.declare(name, Core::StatType::Max);
            m_statNames.append(name);
            m_probes.append(new HealthProbe(*group, i, tls, &m_stats, stat));
        }
    }
    return true;
}

bool HealthService::start(QStringList *)
{
    for (HealthProbe *probe : std::as_const(m_probes))
        probe->start();
    markReady();
    return true;
}

void HealthService::drain()
{
    for (HealthProbe *probe : std::as_const(m_probes))
        probe->stop();
    markDrained();
}

void HealthService::stopNow()
{
    drain();
}

QStringList HealthService::statNames() const
{
    return m_statNames;
}

void registerHealthService(Supervisor::ServiceRegistry &registry)
{
    registry.add(Supervisor::ServiceKind{
        Kind, healthChildSpecs, validateHealth,
        [](const Supervisor::ServiceSetup &setup) -> std::unique_ptr<Supervisor::Service> {
            return std::make_unique<HealthService>(setup);
        }});
}

} // namespace Berth::Services
