#pragma once

#include <QByteArray>
#include <QByteArrayView>
#include <QStringView>

namespace Berth::Core {
struct StatsReport;
}

namespace Berth::Apps {

// The Prometheus text exposition format, version 0.0.4: what berth.stats answers to
// ?format=prometheus.
namespace Prometheus {

inline constexpr const char *ContentType = "text/plain; version=0.0.4; charset=utf-8";

// The whole exposition: aggregate families (berth_*) and per-worker ones (berth_worker_*,
// labelled worker="<slot>"), each with # HELP and # TYPE. Docs: docs/stats.md.
QByteArray exposition(const Core::StatsReport &report);

// A valid metric name ([a-zA-Z_:][a-zA-Z0-9_:]*): every other byte becomes '_'.
QByteArray metricName(QByteArrayView name);
// A label value with \, " and newline escaped as the format requires.
QByteArray labelValue(QStringView value);

} // namespace Prometheus

} // namespace Berth::Apps
