#include "schemabuilder.h"

namespace Berth::Config {

using namespace SchemaBuilder;
using T = ValueType;

void addCronSchema(Schema &schema)
{
    schema.addSection(rawLines(
        section(u"crontab:line"_s,
                u"Cron jobs, one per line in crontab(5) syntax: five fields (or @reboot, @yearly, "
                "@annually, @monthly, @weekly, @daily, @midnight, @hourly) and a command run by "
                "/bin/sh -c; see docs/cron.md."_s,
                {})));
    schema.addSection(section(
        u"cron"_s, u"The cron agent that runs the [crontab:line] jobs (docs/cron.md)."_s,
        {
            key(u"timezone"_s, T::String, QString(),
                u"Time zone the schedules follow (e.g. Europe/Berlin); empty: the system's."_s),
            key(u"log"_s, T::String, u"cron.log"_s,
                u"File in log_dir for each job's start, exit and skip and its captured "
                "output."_s),
            key(u"max_runtime"_s, T::Duration, u"0"_s,
                u"A job still running after this long has its process group killed (0: no "
                "limit)."_s),
            key(u"overlap"_s, T::String, u"skip"_s,
                u"When a job is still running at its next time: skip (log and skip that run), "
                "queue (run it once the current run ends) or allow (run both)."_s),
            key(u"jitter"_s, T::Duration, u"0"_s,
                u"Delay each run by a random time up to this long (spreads a cluster's "
                "load)."_s),
            key(u"environment"_s, T::List, QString(),
                u"NAME=value pairs added to the clean environment jobs run with (HOME, "
                "LOGNAME, SHELL and PATH have defaults)."_s),
            key(u"output_limit"_s, T::Size, u"64K"_s,
                u"Output of one run captured into the log at most; the rest is counted and "
                "dropped."_s),
            secret(key(u"lock"_s, T::String, QString(),
                       u"postgresql://user:password@host:port/db: run each job once per cluster "
                       "per scheduled time (the node that records the slot first runs it)."_s)),
        }));
}

} // namespace Berth::Config
