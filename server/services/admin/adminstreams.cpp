// The stats snapshot and the two Server-Sent Event streams (stats/stream, logs/NAME?follow=1),
// each paced by Exchange::runAfter on the event loop, so a stream dies with its exchange.
#include "adminapi.h"

#include "runtime/sharedstate.h"
#include "runtime/statsregistry.h"

#include <config/config.h>

#include <QFile>
#include <QJsonDocument>

#include <sys/stat.h>

namespace Berth::Admin {

using namespace Qt::StringLiterals;

namespace {

// The latency at quantile q of a histogram (counts per bucket, the last one over every bound),
// as the bucket's upper bound in ms; the last bound for the overflow bucket; -1 when empty.
double quantileMs(const QList<qint64> &counts, const QList<qint64> &boundsMicros, double q)
{
    qint64 total = 0;
    for (qint64 c : counts)
        total += c;
    if (total <= 0 || boundsMicros.isEmpty())
        return -1;
    const double target = q * double(total);
    qint64 seen = 0;
    for (qsizetype i = 0; i < counts.size(); ++i) {
        seen += counts[i];
        if (double(seen) >= target)
            return double(boundsMicros.value(i, boundsMicros.last())) / 1000.0;
    }
    return double(boundsMicros.last()) / 1000.0;
}

void startStream(Http::Exchange &exchange)
{
    exchange.response().setHeader("Content-Type", "text/event-stream");
    exchange.response().setHeader("Cache-Control", "no-store");
    exchange.response().setHeader("X-Accel-Buffering", "no");
    exchange.startResponse(-1);
    exchange.write(": berth admin stream\n\n");
    exchange.setDrainHandler([handle = exchange.handle()] {
        if (Http::Exchange *e = handle.get())
            e->finish();
    });
}

} // namespace

QJsonObject AdminApi::statsSnapshot() const
{
    using S = Core::StatsRegistry;
    const Core::StatsReport report = S::report(*m_shared);
    const QList<qint64> bounds = S::latencyBuckets();
    const int buckets = int(bounds.size()) + 1;
    QList<qint64> histogram(buckets, 0);
    qint64 totals[S::LatencyBucket0] = {};
    QJsonArray children;
    for (const Core::WorkerStats &w : report.workers) {
        if (w.kind != u"http"_s)
            continue;
        for (int i = 0; i < S::LatencyBucket0; ++i)
            totals[i] += w.values.value(i);
        for (int b = 0; b < buckets; ++b)
            histogram[b] += w.values.value(b + 1 == buckets ? int(S::LatencyOverBuckets)
                                                            : S::LatencyBucket0 + b);
        const Core::WorkerSlot *slot = m_shared->slot(w.slot);
        if (!slot->isLive())
            continue;
        children.append(
            QJsonObject{{u"pid"_s, w.pid},
                        {u"kind"_s, w.kind},
                        {u"name"_s, w.name},
                        {u"requests"_s, w.requestsServed},
                        {u"active_connections"_s, w.values.value(S::ActiveConnections)}});
    }
    QJsonArray histogramJson;
    for (qint64 c : histogram)
        histogramJson.append(c);
    QJsonArray boundsJson;
    for (qint64 b : bounds)
        boundsJson.append(double(b) / 1000.0);
    return QJsonObject{
        {u"time_ms"_s, qint64(Core::monotonicMs())},
        {u"requests"_s, totals[S::Requests]},
        {u"status"_s, QJsonObject{{u"1xx"_s, totals[S::Status1xx]},
                                  {u"2xx"_s, totals[S::Status2xx]},
                                  {u"3xx"_s, totals[S::Status3xx]},
                                  {u"4xx"_s, totals[S::Status4xx]},
                                  {u"5xx"_s, totals[S::Status5xx]}}},
        {u"bytes_in"_s, totals[S::BytesIn]},
        {u"bytes_out"_s, totals[S::BytesOut]},
        {u"active_connections"_s, totals[S::ActiveConnections]},
        {u"total_connections"_s, totals[S::TotalConnections]},
        {u"latency_p50_ms"_s, quantileMs(histogram, bounds, 0.5)},
        {u"latency_p99_ms"_s, quantileMs(histogram, bounds, 0.99)},
        {u"latency_buckets_ms"_s, boundsJson},
        {u"latency_histogram"_s, histogramJson},
        {u"children"_s, children},
    };
}

void AdminApi::statsStream(const CallPtr &call)
{
    Http::Exchange *exchange = call->exchange.get();
    if (!exchange)
        return;
    const qint64 interval = [&] {
        const auto parsed =
            Config::Values::parseDuration(call->query.queryItemValue(u"interval"_s));
        return parsed ? qBound(qint64(100), qint64(parsed->count()), qint64(60000)) : qint64(1000);
    }();
    startStream(*exchange);
    struct State
    {
        QJsonObject previous;
        qint64 sequence = 0;
    };
    auto state = std::make_shared<State>();
    auto tick = std::make_shared<std::function<void()>>();
    *tick = [this, call, state, interval, weak = std::weak_ptr(tick)] {
        Http::Exchange *e = call->exchange.get();
        if (!e)
            return;
        QJsonObject now = statsSnapshot();
        const QJsonObject &before = state->previous.isEmpty() ? now : state->previous;
        const double seconds = qMax<qint64>(1, now.value(u"time_ms"_s).toInteger() -
                                                   before.value(u"time_ms"_s).toInteger()) /
                               1000.0;
        const auto rate = [&](qint64 a, qint64 b) { return double(a - b) / seconds; };
        QJsonObject rates{
            {u"requests_per_s"_s,
             rate(now.value(u"requests"_s).toInteger(), before.value(u"requests"_s).toInteger())},
            {u"errors_per_s"_s,
             rate(now.value(u"status"_s).toObject().value(u"5xx"_s).toInteger(),
                  before.value(u"status"_s).toObject().value(u"5xx"_s).toInteger())},
            {u"bytes_in_per_s"_s,
             rate(now.value(u"bytes_in"_s).toInteger(), before.value(u"bytes_in"_s).toInteger())},
            {u"bytes_out_per_s"_s,
             rate(now.value(u"bytes_out"_s).toInteger(), before.value(u"bytes_out"_s).toInteger())},
        };
        // The interval's own latency quantiles, from the histogram's growth.
        QList<qint64> delta;
        const QJsonArray a = now.value(u"latency_histogram"_s).toArray();
        const QJsonArray b = before.value(u"latency_histogram"_s).toArray();
        for (qsizetype i = 0; i < a.size(); ++i)
            delta.append(a[i].toInteger() - (state->previous.isEmpty() ? 0 : b[i].toInteger()));
        const QList<qint64> bounds = Core::StatsRegistry::latencyBuckets();
        rates.insert(u"interval_p50_ms"_s, quantileMs(delta, bounds, 0.5));
        rates.insert(u"interval_p99_ms"_s, quantileMs(delta, bounds, 0.99));
        state->previous = now;
        now.insert(u"rates"_s, rates);
        now.insert(u"interval_ms"_s, interval);
        e->write("id: " + QByteArray::number(++state->sequence) + "\nevent: stats\ndata: " +
                 QJsonDocument(now).toJson(QJsonDocument::Compact) + "\n\n");
        if (auto next = weak.lock())
            e->runAfter(interval, [next] { (*next)(); });
    };
    // The exchange's timers hold the function; the stream ends with the exchange.
    exchange->runAfter(0, [tick] { (*tick)(); });
}

void AdminApi::logFollow(const CallPtr &call, const QString &path)
{
    Http::Exchange *exchange = call->exchange.get();
    if (!exchange)
        return;
    struct State
    {
        QString path;
        QFile file;
        qint64 offset = 0;
        ino_t inode = 0;
        QByteArray partial;
    };
    auto state = std::make_shared<State>();
    state->path = path;
    const auto inodeOf = [](const QString &p) -> ino_t {
        struct stat st
        {};
        return ::stat(QFile::encodeName(p).constData(), &st) == 0 ? st.st_ino : 0;
    };
    state->file.setFileName(path);
    if (state->file.open(QIODevice::ReadOnly)) {
        state->inode = inodeOf(path);
        bool resumed = false;
        const qint64 resume = call->lastEventId.toLongLong(&resumed);
        state->offset =
            resumed && resume >= 0 && resume <= state->file.size() ? resume : state->file.size();
    }
    startStream(*exchange);
    auto poll = std::make_shared<std::function<void()>>();
    *poll = [call, state, inodeOf, weak = std::weak_ptr(poll)] {
        Http::Exchange *e = call->exchange.get();
        if (!e)
            return;
        const auto drain = [&] {
            if (!state->file.isOpen())
                return;
            if (state->file.size() < state->offset) // truncated (copytruncate)
                state->offset = 0;
            state->file.seek(state->offset);
            const QByteArray data = state->file.read(4 * 1024 * 1024);
            state->offset += data.size();
            state->partial += data;
            qsizetype start = 0;
            qint64 lineEnd = state->offset - state->partial.size();
            QByteArray out;
            for (qsizetype nl = state->partial.indexOf('\n'); nl >= 0;
                 nl = state->partial.indexOf('\n', start)) {
                lineEnd += nl + 1 - start;
                out += "id: " + QByteArray::number(lineEnd) +
                       "\ndata: " + state->partial.mid(start, nl - start) + "\n\n";
                start = nl + 1;
            }
            state->partial.remove(0, start);
            if (!out.isEmpty())
                e->write(out);
        };
        drain();
        // Renamed away and reopened (logrotate, USR1): finish the old file, then follow the
        // new one from its start.
        const ino_t inode = inodeOf(state->path);
        if (inode != 0 && inode != state->inode) {
            state->file.close();
            state->file.setFileName(state->path);
            if (state->file.open(QIODevice::ReadOnly)) {
                state->inode = inode;
                state->offset = 0;
                state->partial.clear();
                e->write("event: reopen\ndata: " + QFile::encodeName(state->path) + "\n\n");
                drain();
            }
        }
        if (auto next = weak.lock())
            e->runAfter(200, [next] { (*next)(); });
    };
    exchange->runAfter(0, [poll] { (*poll)(); });
}

} // namespace Berth::Admin
