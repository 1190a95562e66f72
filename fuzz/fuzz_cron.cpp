// libFuzzer target for the crontab line parser and the next-run-time search (common/cron).
// Seed corpus: fuzz/corpus/cron/. Every line that parses must give next run times that move
// forward, in a zone with DST changes.
#include "cron/crontab.h"

#include <cstddef>
#include <cstdint>

using namespace Berth::Cron;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > 4096)
        return 0;
    const QString text = QString::fromUtf8(reinterpret_cast<const char *>(data), qsizetype(size));
    LineOptions options;
    options.allowSeconds = size > 0 && (data[size - 1] & 1);
    ParseError error;
    const std::optional<Job> job = parseLine(text, options, &error);
    if (!job) {
        if (error.field.isEmpty() || error.column < 1 || error.message.isEmpty())
            __builtin_trap(); // every error names a field and a column
        return 0;
    }
    if (job->command.isEmpty())
        __builtin_trap();
    static const QTimeZone zone("Europe/Berlin");
    QDateTime at = QDateTime::fromSecsSinceEpoch(1'774'738'800 + qint64(size) * 3'607, zone);
    for (int i = 0; i < 3; ++i) {
        const QDateTime next = job->when.next(at, zone);
        if (!next.isValid())
            break;
        if (next <= at)
            __builtin_trap(); // next run times must move forward
        at = next;
    }
    return 0;
}
