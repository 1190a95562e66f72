#pragma once

#include <QByteArray>
#include <QByteArrayView>
#include <QList>
#include <QStringView>

namespace Berth::Core {
struct StatsReport;
}

namespace Berth::Apps {

// The Prometheus text exposition format, version 0.0.4 (what berth.stats answers to
// ?format=prometheus and berth.metrics by default), and OpenMetrics 1.0.0 (berth.metrics, when
// the Accept header prefers it).
namespace Prometheus {

inline constexpr const char *ContentType = "text/plain; version=0.0.4; charset=utf-8";
inline constexpr const char *OpenMetricsContentType =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";

enum class Format { Text, OpenMetrics };

// What /proc says about a set of processes, summed (process_* families).
struct ProcessTotals
{
    bool valid = false;
    qint64 cpuMicros = 0;     // user + system
    qint64 residentBytes = 0; // RSS
    qint64 virtualBytes = 0;
    qint64 openFds = 0;
    qint64 maxFds = 0;      // of the answering process
    qint64 startTimeMs = 0; // of the master (or the single process), wall clock
    int processes = 0;
};

struct Extras
{
    ProcessTotals process;
    QByteArray version;                 // berth_build_info{version=...}
    QList<qint64> latencyBucketsMicros; // le bounds of the histogram buckets, ascending
};

// The whole exposition: aggregate families (berth_*) and per-worker ones (berth_worker_*,
// labelled worker="<slot>"), each with # HELP and # TYPE; OpenMetrics ends with "# EOF".
// Docs: docs/stats.md.
QByteArray exposition(const Core::StatsReport &report, const Extras &extras,
                      Format format = Format::Text);
// The Extras of this process: process_* of the master and every live child in report, the
// version and the configured latency buckets.
Extras currentExtras(const Core::StatsReport &report);
// Whether an Accept header prefers OpenMetrics to the text format (q-values compared; equal
// preference: OpenMetrics, as Prometheus itself asks).
bool prefersOpenMetrics(QByteArrayView accept);

// A valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*): every other byte becomes '_'.
QByteArray metricName(QByteArrayView name);
// A label value with \, " and newline escaped as the format requires.
QByteArray labelValue(QStringView value);

} // namespace Prometheus

} // namespace Berth::Apps
