#include "prometheus.h"

#include "runtime/statsregistry.h"

#include <QList>
#include <QPair>
#include <QString>

#include <algorithm>
#include <initializer_list>

namespace Berth::Apps::Prometheus {

namespace {

using S = Core::StatsRegistry;
using Label = QPair<QByteArray, QString>;

// Writes families one at a time: the format wants every sample of a family together, right
// after its HELP and TYPE lines.
class Writer
{
public:
    explicit Writer(Format format)
        : m_format(format)
    {}

    void family(const char *name, const char *type, const char *help)
    {
        m_name = metricName(name);
        QByteArray familyName = m_name;
        QByteArray familyType = type;
        if (m_format == Format::OpenMetrics) {
            // OpenMetrics names a counter family without its "_total" (the sample keeps it) and
            // has a type of its own for "_info" gauges.
            if (familyType == "counter" && familyName.endsWith("_total"))
                familyName.chop(6);
            else if (familyType == "gauge" && familyName.endsWith("_info"))
                familyName.chop(5), familyType = "info";
        }
        m_out += "# HELP " + familyName + ' ' + help + '\n';
        m_out += "# TYPE " + familyName + ' ' + familyType + '\n';
    }
    // A sample of the current family; suffix is "_bucket", "_sum", "_count" for histograms.
    void sample(const QList<Label> &labels, const QByteArray &value, const char *suffix = "")
    {
        m_out += m_name;
        m_out += suffix;
        if (!labels.isEmpty()) {
            m_out += '{';
            for (qsizetype i = 0; i < labels.size(); ++i) {
                if (i > 0)
                    m_out += ',';
                m_out += labels[i].first + "=\"" + labelValue(labels[i].second) + '"';
            }
            m_out += '}';
        }
        m_out += ' ' + value + '\n';
    }
    void sample(const QList<Label> &labels, qint64 value)
    {
        sample(labels, QByteArray::number(value));
    }
    QByteArray take()
    {
        if (m_format == Format::OpenMetrics)
            m_out += "# EOF\n";
        return std::move(m_out);
    }

private:
    Format m_format;
    QByteArray m_out;
    QByteArray m_name;
};

QString classLabel(int i)
{
    return QStringLiteral("%1xx").arg(i + 1);
}

QByteArray seconds(qint64 micros)
{
    // Exact decimal, no float rounding: 1234567 us -> "1.234567".
    const QByteArray sign = micros < 0 ? "-" : "";
    const qint64 m = micros < 0 ? -micros : micros;
    return sign + QByteArray::number(m / 1000000) + '.' +
           QByteArray::number(m % 1000000).rightJustified(6, '0');
}

// A bucket bound as client libraries write it: 5000 us -> "0.005", 1 s -> "1".
QString boundText(qint64 micros)
{
    QByteArray text = seconds(micros);
    while (text.endsWith('0'))
        text.chop(1);
    if (text.endsWith('.'))
        text.chop(1);
    return QString::fromLatin1(text);
}

// The per-stat families of one worker or the aggregate: one call per stat-based family, the
// value taken from `values` (a worker's or the totals).
struct Source
{
    QList<Label> labels;
    const QList<qint64> *values;
    qint64 value(int index) const
    {
        return index >= 0 && index < values->size() ? values->at(index) : 0;
    }
};

void simple(Writer &w, const QList<Source> &sources, const char *name, const char *type,
            const char *help, int index)
{
    w.family(name, type, help);
    for (const Source &s : sources)
        w.sample(s.labels, s.value(index));
}

void responses(Writer &w, const QList<Source> &sources, const char *name)
{
    w.family(name, "counter", "Responses sent, by status class.");
    for (const Source &s : sources) {
        for (int i = 0; i < 5; ++i) {
            QList<Label> labels = s.labels;
            labels.append({"class", classLabel(i)});
            w.sample(labels, s.value(S::Status1xx + i));
        }
    }
}

void histogram(Writer &w, const QList<Source> &sources, const char *name,
               const QList<qint64> &bounds)
{
    w.family(name, "histogram", "Time from the request head to the end of the response.");
    for (const Source &s : sources) {
        // Cumulative, and _count is the +Inf bucket by construction: one read per bucket, so
        // the series are consistent with each other even while requests finish.
        qint64 cumulative = 0;
        for (qsizetype i = 0; i < bounds.size() && i < S::MaxLatencyBuckets; ++i) {
            cumulative += s.value(S::LatencyBucket0 + int(i));
            QList<Label> labels = s.labels;
            labels.append({"le", boundText(bounds[i])});
            w.sample(labels, QByteArray::number(cumulative), "_bucket");
        }
        // Counts made with more buckets configured before (a reload) stay in +Inf.
        for (qsizetype i = bounds.size(); i < S::MaxLatencyBuckets; ++i)
            cumulative += s.value(S::LatencyBucket0 + int(i));
        cumulative += s.value(S::LatencyOverBuckets);
        QList<Label> labels = s.labels;
        labels.append({"le", QStringLiteral("+Inf")});
        w.sample(labels, QByteArray::number(cumulative), "_bucket");
        w.sample(s.labels, seconds(s.value(S::LatencySumMicros)), "_sum");
        w.sample(s.labels, QByteArray::number(cumulative), "_count");
    }
}

constexpr QStringView AppRequestsPrefix = u"app_requests:";

// berth_app_requests_total{app="..."}: one series per app of the configuration.
void appRequests(Writer &w, const Core::StatsReport &report)
{
    w.family("berth_app_requests_total", "counter", "Requests each app answered.");
    for (int i = S::BuiltinCount; i < report.names.size(); ++i) {
        if (report.names[i].startsWith(AppRequestsPrefix))
            w.sample({{"app", report.names[i].mid(AppRequestsPrefix.size())}}, report.total(i));
    }
}

constexpr QStringView CronLastRunPrefix = u"cron_last_run:";
constexpr QStringView CronLastExitPrefix = u"cron_last_exit:";

bool isLabelledStat(const QString &name)
{
    return name.startsWith(AppRequestsPrefix) || name.startsWith(CronLastRunPrefix) ||
           name.startsWith(CronLastExitPrefix);
}

// berth_cron_job_last_run_seconds{job="berth.conf:12"} and berth_cron_job_last_exit{job=...}:
// one series per cron job (at most CronService::MaxJobStats), from the cron agent's stats.
void cronJobs(Writer &w, const Core::StatsReport &report)
{
    const struct
    {
        QStringView prefix;
        const char *family;
        const char *help;
    } families[] = {
        {CronLastRunPrefix, "berth_cron_job_last_run_seconds",
         "Unix time the cron job last started (0: not yet)."},
        {CronLastExitPrefix, "berth_cron_job_last_exit",
         "Exit status of the cron job's last finished run (128 + N: signal N; 127: could "
         "not start; 0 also before the first run)."},
    };
    for (const auto &f : families) {
        bool any = false;
        for (int i = S::BuiltinCount; i < report.names.size(); ++i) {
            if (!report.names[i].startsWith(f.prefix))
                continue;
            if (!any)
                w.family(f.family, "gauge", f.help);
            any = true;
            w.sample({{"job", report.names[i].mid(f.prefix.size())}}, report.total(i));
        }
    }
}

void processFamilies(Writer &w, const ProcessTotals &p)
{
    if (!p.valid)
        return;
    w.family("process_cpu_seconds_total", "counter",
             "User and system CPU time of the master and every live child, summed.");
    w.sample({}, seconds(p.cpuMicros));
    w.family("process_resident_memory_bytes", "gauge",
             "Resident memory of the master and every live child, summed.");
    w.sample({}, p.residentBytes);
    w.family("process_virtual_memory_bytes", "gauge",
             "Virtual memory of the master and every live child, summed.");
    w.sample({}, p.virtualBytes);
    w.family("process_open_fds", "gauge",
             "Open file descriptors of the master and every live child, summed.");
    w.sample({}, p.openFds);
    w.family("process_max_fds", "gauge", "File descriptor limit of the answering process.");
    w.sample({}, p.maxFds);
    w.family("process_start_time_seconds", "gauge",
             "Unix time the master (or the single process) started.");
    w.sample({}, seconds(p.startTimeMs * 1000));
    w.family("berth_processes", "gauge", "Processes the process_* families sum over.");
    w.sample({}, qint64(p.processes));
}

// App-declared stats (index >= BuiltinCount) of the given brim types, labelled name="...".
void appStats(Writer &w, const Core::StatsReport &report, const QList<Source> &sources,
              const char *name, const char *type, const char *help,
              std::initializer_list<Core::StatType> types)
{
    w.family(name, type, help);
    for (const Source &s : sources) {
        for (int i = S::BuiltinCount; i < report.names.size(); ++i) {
            if (report.names[i].isEmpty() || isLabelledStat(report.names[i]) ||
                !std::count(types.begin(), types.end(), report.types[i]))
                continue;
            QList<Label> labels = s.labels;
            labels.append({"name", report.names[i]});
            w.sample(labels, s.value(i));
        }
    }
}

bool isLive(Core::WorkerState state)
{
    return state == Core::WorkerState::Starting || state == Core::WorkerState::Running ||
           state == Core::WorkerState::Draining;
}

} // namespace

QByteArray metricName(QByteArrayView name)
{
    QByteArray out = name.toByteArray();
    for (qsizetype i = 0; i < out.size(); ++i) {
        const char c = out[i];
        const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
                        (i > 0 && c >= '0' && c <= '9');
        if (!ok)
            out[i] = '_';
    }
    return out.isEmpty() ? QByteArray("_") : out;
}

bool prefersOpenMetrics(QByteArrayView accept)
{
    // Prometheus sends "application/openmetrics-text;version=1.0.0,...,text/plain;
    // version=0.0.4;q=0.5,*/*;q=0.1": the best q of each format decides; wildcards stand for
    // the text format, which every scraper reads.
    double openMetrics = 0;
    double text = 0;
    for (QByteArrayView item : QByteArray(accept.toByteArray()).split(',')) {
        const QList<QByteArray> parts = item.toByteArray().split(';');
        const QByteArray type = parts.value(0).trimmed().toLower();
        double q = 1;
        for (qsizetype i = 1; i < parts.size(); ++i) {
            const QByteArray param = parts[i].trimmed().toLower();
            if (param.startsWith("q="))
                q = param.mid(2).toDouble();
        }
        if (type == "application/openmetrics-text")
            openMetrics = qMax(openMetrics, q);
        else if (type == "text/plain" || type == "text/*" || type == "*/*")
            text = qMax(text, q);
    }
    return openMetrics > 0 && openMetrics >= text;
}

QByteArray labelValue(QStringView value)
{
    QByteArray out;
    const QByteArray utf8 = value.toUtf8();
    out.reserve(utf8.size());
    for (char c : utf8) {
        if (c == '\\')
            out += "\\\\";
        else if (c == '"')
            out += "\\\"";
        else if (c == '\n')
            out += "\\n";
        else
            out += c;
    }
    return out;
}

QByteArray exposition(const Core::StatsReport &report, const Extras &extras, Format format)
{
    Writer w(format);
    const QList<Source> total{{{}, &report.totals}};
    QList<Source> workers;
    for (const Core::WorkerStats &worker : report.workers)
        workers.append({{{"worker", QString::number(worker.slot)}}, &worker.values});

    w.family("berth_build_info", "gauge", "Always 1; the version of berthd.");
    w.sample({{"version", QString::fromUtf8(extras.version)}}, 1);
    processFamilies(w, extras.process);

    // The aggregate: brim's overall values (sum over workers, min/max over live ones).
    simple(w, total, "berth_start_time_seconds", "gauge",
           "Unix time the longest-running live worker started.", S::StartTime);
    simple(w, total, "berth_requests_total", "counter", "Requests answered.", S::Requests);
    responses(w, total, "berth_responses_total");
    simple(w, total, "berth_bytes_received_total", "counter",
           "Bytes received from clients, heads included.", S::BytesIn);
    simple(w, total, "berth_bytes_sent_total", "counter", "Bytes sent to clients, heads included.",
           S::BytesOut);
    simple(w, total, "berth_active_connections", "gauge", "Client connections open now.",
           S::ActiveConnections);
    simple(w, total, "berth_connections_total", "counter", "Client connections accepted.",
           S::TotalConnections);
    simple(w, total, "berth_bad_requests_total", "counter",
           "Connections closed because of malformed input.", S::BadRequests);
    histogram(w, total, "berth_request_duration_seconds", extras.latencyBucketsMicros);
    appRequests(w, report);
    cronJobs(w, report);
    simple(w, total, "berth_offload_jobs_total", "counter",
           "Blocking jobs (bcrypt, SQL) the offload pools ran.", S::OffloadJobs);
    simple(w, total, "berth_offload_queued", "gauge",
           "Blocking jobs waiting in the offload queues now.", S::OffloadQueued);
    simple(w, total, "berth_offload_rejected_total", "counter",
           "Blocking jobs refused (answered 503) because an offload queue was full.",
           S::OffloadRejected);
    w.family("berth_protocol_requests_total", "counter", "Requests answered, by protocol.");
    w.sample({{"protocol", QStringLiteral("h1")}}, report.total(S::Http1Requests));
    w.sample({{"protocol", QStringLiteral("h2")}}, report.total(S::Http2Requests));
    w.family("berth_protocol_connections_total", "counter", "Client connections, by protocol.");
    w.sample({{"protocol", QStringLiteral("h1")}}, report.total(S::Http1Connections));
    w.sample({{"protocol", QStringLiteral("h2")}}, report.total(S::Http2Connections));
    simple(w, total, "berth_http2_streams_open", "gauge", "HTTP/2 streams open now.",
           S::Http2StreamsOpen);
    simple(w, total, "berth_http2_goaways_sent_total", "counter", "HTTP/2 GOAWAY frames sent.",
           S::Http2GoawaysSent);
    simple(w, total, "berth_http2_resets_sent_total", "counter", "HTTP/2 RST_STREAM frames sent.",
           S::Http2ResetsSent);
    appStats(w, report, total, "berth_app_stat_total", "counter",
             "App-declared stats of brim type sum, summed over workers.", {Core::StatType::Sum});
    // OpenMetrics names the counter family above berth_app_stat: the gauges need a name of
    // their own there.
    const bool om = format == Format::OpenMetrics;
    appStats(w, report, total, om ? "berth_app_stat_gauge" : "berth_app_stat", "gauge",
             "App-declared stats of brim type min or max, over live workers.",
             {Core::StatType::Min, Core::StatType::Max});

    w.family("berth_workers", "gauge", "Worker slots by state.");
    for (Core::WorkerState state : {Core::WorkerState::Starting, Core::WorkerState::Running,
                                    Core::WorkerState::Draining, Core::WorkerState::Exited}) {
        const auto n =
            std::count_if(report.workers.begin(), report.workers.end(),
                          [state](const Core::WorkerStats &x) { return x.state == state; });
        w.sample({{"state", Core::workerStateName(state)}}, qint64(n));
    }

    // Per worker slot. Counters belong to the slot and keep counting across restarts of its
    // worker, so they never go backwards while the master runs.
    w.family("berth_worker_info", "gauge", "Always 1; the worker's pid, generation and state.");
    for (const Core::WorkerStats &worker : report.workers) {
        w.sample({{"worker", QString::number(worker.slot)},
                  {"pid", QString::number(worker.pid)},
                  {"generation", QString::number(worker.generation)},
                  {"state", Core::workerStateName(worker.state)}},
                 1);
    }
    w.family("berth_worker_service_info", "gauge",
             "Always 1; the service kind and name of the slot's child.");
    for (const Core::WorkerStats &worker : report.workers)
        w.sample({{"worker", QString::number(worker.slot)},
                  {"service", worker.kind},
                  {"name", worker.name}},
                 1);
    w.family("berth_worker_restarts", "gauge",
             "How often the supervisor restarted the service of the slot's child.");
    for (const Core::WorkerStats &worker : report.workers)
        w.sample({{"worker", QString::number(worker.slot)}}, qint64(worker.restarts));
    w.family("berth_worker_start_time_seconds", "gauge", "Unix time the worker process started.");
    for (const Core::WorkerStats &worker : report.workers)
        w.sample({{"worker", QString::number(worker.slot)}}, seconds(worker.startedMs * 1000));
    simple(w, workers, "berth_worker_requests_total", "counter",
           "Requests answered by the worker slot.", S::Requests);
    responses(w, workers, "berth_worker_responses_total");
    simple(w, workers, "berth_worker_bytes_received_total", "counter",
           "Bytes received by the worker slot.", S::BytesIn);
    simple(w, workers, "berth_worker_bytes_sent_total", "counter", "Bytes sent by the worker slot.",
           S::BytesOut);
    simple(w, workers, "berth_worker_active_connections", "gauge",
           "Client connections the worker has open now.", S::ActiveConnections);
    histogram(w, workers, "berth_worker_request_duration_seconds", extras.latencyBucketsMicros);
    appStats(w, report, workers, "berth_worker_app_stat_total", "counter",
             "App-declared stats of brim type sum, per worker slot.", {Core::StatType::Sum});
    appStats(w, report, workers, om ? "berth_worker_app_stat_gauge" : "berth_worker_app_stat",
             "gauge", "App-declared stats of brim type worker, min or max, per worker slot.",
             {Core::StatType::Worker, Core::StatType::Min, Core::StatType::Max});

    w.family("berth_worker_heartbeat_age_seconds", "gauge",
             "Time since an event-loop thread of a live worker last beat.");
    for (const Core::WorkerStats &worker : report.workers) {
        if (!isLive(worker.state))
            continue;
        for (qsizetype t = 0; t < worker.threads.size(); ++t) {
            if (worker.threads[t].heartbeatAgeMs < 0)
                continue;
            w.sample({{"worker", QString::number(worker.slot)}, {"thread", QString::number(t)}},
                     seconds(worker.threads[t].heartbeatAgeMs * 1000));
        }
    }
    return w.take();
}

} // namespace Berth::Apps::Prometheus
