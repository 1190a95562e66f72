// Canary apply (PUT /api/v1/config?canary=WINDOW): the configuration is applied like any PUT,
// then the new generation's HTTP 5xx ratio and crashes are watched for the window and compared
// with the old generation's; a worse new generation is rolled back by itself. In this version
// the whole new generation is the canary (the supervisor has no one-worker overlap yet).
#include "adminapi.h"

#include "log/logsink.h"
#include "runtime/offloadpool.h"
#include "runtime/sharedstate.h"
#include "runtime/statsregistry.h"

#include <QDateTime>
#include <QJsonDocument>
#include <QLoggingCategory>
#include <QSet>
#include <QThread>

Q_DECLARE_LOGGING_CATEGORY(lcAdmin)

namespace Berth::Admin {

using namespace Qt::StringLiterals;

namespace {

struct HttpTotals
{
    qint64 requests = 0;
    qint64 errors = 0; // 5xx
    QSet<qint64> livePids;
};

HttpTotals httpTotals(const Core::SharedState &shared)
{
    using S = Core::StatsRegistry;
    HttpTotals totals;
    const Core::StatsReport report = S::report(shared);
    for (const Core::WorkerStats &w : report.workers) {
        if (w.kind != u"http"_s)
            continue;
        totals.requests += w.values.value(S::Requests);
        totals.errors += w.values.value(S::Status5xx);
        if (shared.slot(w.slot)->isLive())
            totals.livePids.insert(w.pid);
    }
    return totals;
}

double ratio(qint64 errors, qint64 requests)
{
    return requests > 0 ? double(errors) / double(requests) : 0.0;
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
    struct Verdict
    {
        Result applied;
        QJsonObject canary;
    };
    // Phase one, applied like a PUT; phase two, the watch, runs as a second job so that the
    // caller gets its 202 at once.
    const bool queued = m_offload->submit(
        [settings, texts, ifMatch, who, shared] {
            const HttpTotals before = httpTotals(*shared);
            const QHash<QString, QString> previous = Blocking::currentTexts(settings.configFiles);
            Verdict v{apply(settings, texts, ifMatch, true, who), {}};
            v.canary = QJsonObject{
                {u"old_requests"_s, before.requests},
                {u"old_error_ratio"_s, ratio(before.errors, before.requests)},
            };
            QJsonObject previousFiles;
            for (auto it = previous.begin(); it != previous.end(); ++it)
                previousFiles.insert(it.key(), it.value());
            v.canary.insert(u"previous"_s, previousFiles);
            return v;
        },
        [this, call, windowMs, settings, who, shared](Verdict v) {
            if (v.applied.status != 200) {
                m_applying = false;
                return respond(call, v.applied.status, v.applied.body);
            }
            const QJsonObject previousFiles = v.canary.take(u"previous"_s).toObject();
            const qint64 generation = v.applied.body.toObject().value(u"generation"_s).toInteger();
            m_canary = v.canary;
            m_canary.insert(u"state"_s, u"watching"_s);
            m_canary.insert(u"generation"_s, generation);
            m_canary.insert(u"window_ms"_s, windowMs);
            m_canary.insert(u"started"_s,
                            QDateTime::currentDateTimeUtc().toString(Qt::ISODateWithMs));
            QJsonObject body = v.applied.body.toObject();
            body.insert(u"result"_s, u"canary"_s);
            body.insert(u"canary"_s, m_canary);
            respond(call, 202, body);
            const double oldRatio = m_canary.value(u"old_error_ratio"_s).toDouble();
            const bool watching = m_offload->submit(
                [settings, who, shared, windowMs, oldRatio, previousFiles] {
                    const HttpTotals start = httpTotals(*shared);
                    QJsonObject outcome;
                    qint64 crashes = 0;
                    HttpTotals end;
                    const qint64 until = Core::monotonicMs() + windowMs;
                    while (Core::monotonicMs() < until) {
                        QThread::msleep(100);
                        end = httpTotals(*shared);
                        crashes = 0;
                        for (qint64 pid : std::as_const(end.livePids))
                            crashes += start.livePids.contains(pid) ? 0 : 1;
                        if (crashes > 0)
                            break; // a crash decides at once
                    }
                    const qint64 requests = end.requests - start.requests;
                    const double newRatio = ratio(end.errors - start.errors, requests);
                    QString why;
                    bool rollBack = false;
                    if (crashes > 0) {
                        rollBack = true;
                        why = u"%1 worker(s) of the new generation crashed"_s.arg(crashes);
                    } else if (requests >= 5 && newRatio > qMax(0.05, 2 * oldRatio)) {
                        rollBack = true;
                        why = u"5xx ratio %1 against %2 before"_s.arg(newRatio, 0, 'f', 3)
                                  .arg(oldRatio, 0, 'f', 3);
                    } else {
                        why = u"%1 request(s), 5xx ratio %2 against %3 before, no crash"_s
                                  .arg(requests)
                                  .arg(newRatio, 0, 'f', 3)
                                  .arg(oldRatio, 0, 'f', 3);
                    }
                    outcome.insert(u"new_requests"_s, requests);
                    outcome.insert(u"new_error_ratio"_s, newRatio);
                    outcome.insert(u"crashes"_s, crashes);
                    outcome.insert(u"reason"_s, why);
                    if (!rollBack) {
                        outcome.insert(u"state"_s, u"rolled_forward"_s);
                        return outcome;
                    }
                    QHash<QString, QString> texts;
                    for (auto it = previousFiles.begin(); it != previousFiles.end(); ++it)
                        texts.insert(it.key(), it.value().toString());
                    const Result back =
                        apply(settings, texts, QByteArray(), false, who + u" (canary rollback)"_s);
                    outcome.insert(u"state"_s,
                                   back.status == 200 ? u"rolled_back"_s : u"rollback_failed"_s);
                    outcome.insert(u"rollback"_s, back.body);
                    return outcome;
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
                m_applying = false;
                m_canary.insert(u"state"_s, u"rolled_forward"_s);
                m_canary.insert(u"reason"_s, u"the admin service was too busy to watch"_s);
            }
        });
    if (!queued) {
        m_applying = false;
        fail(call, 503, u"busy"_s, u"the admin service is busy; try again"_s);
    }
}

} // namespace Berth::Admin
