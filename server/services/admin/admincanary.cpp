// Canary apply (PUT /api/v1/config?canary=WINDOW): the files are validated and written, and the
// supervisor starts ONE HTTP worker of the new generation beside the old ones (`reload
// canary`). For the window, the canary's 5xx ratio is compared with the old workers' over the
// same seconds, and a crash of the canary decides at once; then the watch rolls forward (`reload
// commit`: the rest of the new generation starts and the old one drains) or back (`reload
// abort`: the canary goes and the previous files are written back — the old generation never
// stopped serving them).
#include "adminapi.h"

#include "log/logsink.h"
#include "runtime/offloadpool.h"
#include "runtime/sharedstate.h"
#include "runtime/statsregistry.h"

#include <QDateTime>
#include <QJsonDocument>
#include <QLoggingCategory>
#include <QThread>

Q_DECLARE_LOGGING_CATEGORY(lcAdmin)

namespace Berth::Admin {

using namespace Qt::StringLiterals;

namespace {

// Requests and 5xx answers of the HTTP workers, the canary apart from the others.
struct Split
{
    qint64 canaryRequests = 0;
    qint64 canaryErrors = 0;
    qint64 oldRequests = 0;
    qint64 oldErrors = 0;
    bool canaryLive = false;
};

Split split(const Core::SharedState &shared, qint64 canaryPid)
{
    using S = Core::StatsRegistry;
    Split totals;
    const Core::StatsReport report = S::report(shared);
    for (const Core::WorkerStats &w : report.workers) {
        if (w.kind != u"http"_s)
            continue;
        const bool live = shared.slot(w.slot)->isLive();
        if (w.pid == canaryPid) {
            totals.canaryRequests += w.values.value(S::Requests);
            totals.canaryErrors += w.values.value(S::Status5xx);
            totals.canaryLive = totals.canaryLive || live;
        } else if (live) {
            totals.oldRequests += w.values.value(S::Requests);
            totals.oldErrors += w.values.value(S::Status5xx);
        }
    }
    return totals;
}

double ratio(qint64 errors, qint64 requests)
{
    return requests > 0 ? double(errors) / double(requests) : 0.0;
}

// The watch, on an offload thread: the verdict and what carrying it out answered.
QJsonObject watchCanary(const AdminSettings &settings, const Core::SharedState &shared,
                        qint64 canaryPid, qint64 generation, qint64 windowMs,
                        const QHash<QString, QString> &previous, const QString &who)
{
    const Split start = split(shared, canaryPid);
    Split end = start;
    const qint64 until = Core::monotonicMs() + windowMs;
    while (Core::monotonicMs() < until) {
        QThread::msleep(100);
        end = split(shared, canaryPid);
        if (!end.canaryLive)
            break; // a crash decides at once
    }
    // Old workers that left during the window (recycled) take their counts with them: clamp.
    const qint64 newRequests = end.canaryRequests - start.canaryRequests;
    const double newRatio = ratio(end.canaryErrors - start.canaryErrors, newRequests);
    const qint64 oldRequests = qMax<qint64>(0, end.oldRequests - start.oldRequests);
    const double oldRatio = ratio(qMax<qint64>(0, end.oldErrors - start.oldErrors), oldRequests);
    const qint64 crashes = end.canaryLive ? 0 : 1;
    QString why;
    bool rollBack = true;
    if (crashes > 0) {
        why =
            u"the canary worker (pid %1) of generation %2 crashed"_s.arg(canaryPid).arg(generation);
    } else if (newRequests >= 5 && newRatio > qMax(0.05, 2 * oldRatio)) {
        why = u"canary 5xx ratio %1 against %2 for the old workers"_s.arg(newRatio, 0, 'f', 3)
                  .arg(oldRatio, 0, 'f', 3);
    } else {
        rollBack = false;
        why = u"canary served %1 request(s), 5xx ratio %2 against %3 for the old workers, "
              u"no crash"_s.arg(newRequests)
                  .arg(newRatio, 0, 'f', 3)
                  .arg(oldRatio, 0, 'f', 3);
    }
    QJsonObject outcome{
        {u"new_requests"_s, newRequests}, {u"new_error_ratio"_s, newRatio},
        {u"old_requests"_s, oldRequests}, {u"old_error_ratio"_s, oldRatio},
        {u"crashes"_s, crashes},
    };
    if (!rollBack) {
        const Blocking::ControlAnswer answer =
            Blocking::control(settings.controlSocket, u"reload commit"_s, settings.applyTimeoutMs);
        if (answer.reached && answer.ok) {
            Blocking::recordGeneration(settings, generation, who);
            outcome.insert(u"state"_s, u"rolled_forward"_s);
            outcome.insert(u"reason"_s, why);
            return outcome;
        }
        // The rest of the generation failed to start: the supervisor kept the old one.
        why = u"rolling forward failed: %1"_s.arg(answer.reached ? answer.lines.join(u"; "_s)
                                                                 : answer.error);
    } else {
        Blocking::control(settings.controlSocket, u"reload abort"_s, settings.applyTimeoutMs);
    }
    Blocking::writeTexts(previous);
    outcome.insert(u"state"_s, u"rolled_back"_s);
    outcome.insert(u"reason"_s, why);
    return outcome;
}

} // namespace

void AdminApi::configCanary(const CallPtr &call)
{
    if (m_canary.isEmpty())
        return fail(call, 404, u"not_found"_s, u"no canary apply yet"_s);
    respond(call, 200, m_canary);
}

void AdminApi::startCanary(const CallPtr &call, const QHash<QString, QString> &texts,
                           qint64 windowMs)
{
    m_applying = true;
    const AdminSettings settings = m_settings;
    const QByteArray ifMatch = call->ifMatch;
    const QString who = call->who;
    Core::SharedState *shared = m_shared;
    struct Applied
    {
        Result result;
        QHash<QString, QString> previous; // the files before, for a roll-back
    };
    // Phase one starts the canary; phase two, the watch, runs as a second job so that the
    // caller gets its 202 at once.
    const bool queued = m_offload->submit(
        [settings, texts, ifMatch, who] {
            Applied a;
            a.previous = Blocking::currentTexts(settings.configFiles);
            a.result = apply(settings, texts, ifMatch, true, who, true);
            return a;
        },
        [this, call, windowMs, settings, who, shared](Applied a) {
            if (a.result.status != 200) {
                m_applying = false;
                return respond(call, a.result.status, a.result.body);
            }
            const QJsonObject applied = a.result.body.toObject();
            const qint64 generation = applied.value(u"generation"_s).toInteger();
            const qint64 canaryPid = applied.value(u"canary_pid"_s).toInteger();
            m_canary = QJsonObject{
                {u"generation"_s, generation},
                {u"window_ms"_s, windowMs},
                {u"started"_s, QDateTime::currentDateTimeUtc().toString(Qt::ISODateWithMs)},
            };
            QJsonObject body = applied;
            if (applied.value(u"result"_s).toString() != u"canary"_s) {
                // Nothing for a canary to try (no HTTP worker changes): applied at once.
                m_applying = false;
                m_canary.insert(u"state"_s, u"rolled_forward"_s);
                m_canary.insert(u"reason"_s, u"no HTTP worker changed; applied at once"_s);
                body.insert(u"result"_s, u"canary"_s);
                body.insert(u"canary"_s, m_canary);
                audit(call, 200, u"canary rolled_forward: no HTTP worker changed"_s);
                return respond(call, 202, body);
            }
            m_canary.insert(u"state"_s, u"watching"_s);
            m_canary.insert(u"canary_pid"_s, canaryPid);
            body.insert(u"canary"_s, m_canary);
            respond(call, 202, body);
            const QHash<QString, QString> previous = a.previous;
            const bool watching = m_offload->submit(
                [settings, who, shared, canaryPid, generation, windowMs, previous] {
                    return watchCanary(settings, *shared, canaryPid, generation, windowMs, previous,
                                       who);
                },
                [this, call](QJsonObject outcome) {
                    m_applying = false;
                    for (auto it = outcome.begin(); it != outcome.end(); ++it)
                        m_canary.insert(it.key(), it.value());
                    m_canary.insert(u"finished"_s,
                                    QDateTime::currentDateTimeUtc().toString(Qt::ISODateWithMs));
                    audit(call, 200,
                          u"canary %1: %2"_s.arg(outcome.value(u"state"_s).toString(),
                                                 outcome.value(u"reason"_s).toString()));
                },
                Core::OffloadPool::Admission::Background);
            if (!watching) {
                // No thread to watch: do not leave a half-applied generation behind.
                Blocking::control(settings.controlSocket, u"reload abort"_s, 5000);
                Blocking::writeTexts(previous);
                m_applying = false;
                m_canary.insert(u"state"_s, u"rolled_back"_s);
                m_canary.insert(u"reason"_s, u"the admin service was too busy to watch"_s);
            }
        });
    if (!queued) {
        m_applying = false;
        fail(call, 503, u"busy"_s, u"the admin service is busy; try again"_s);
    }
}

} // namespace Berth::Admin
