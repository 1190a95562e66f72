#include "schemabuilder.h"

namespace Berth::Config {

using namespace SchemaBuilder;
using T = ValueType;

void addDaemonSchema(Schema &schema)
{
    schema.addSection(section(
        u"daemon:*"_s,
        u"A supervised daemon: a built-in (`call`) or an external program (`command`), kept "
        u"running by its own berthd child (see daemons.md)."_s,
        {
            key(u"call"_s, T::String, QString(),
                u"A built-in or plugin daemon, e.g. `berth.daemon_sample`; exclusive with "
                u"`command`."_s),
            key(u"command"_s, T::String, QString(),
                u"An external program and its arguments, split like a shell does (quotes, "
                u"backslashes) but run without one; `%(n)` is the instance number."_s),
            range(key(u"instances"_s, T::Int, u"1"_s,
                      u"How many copies run, each in its own berthd child (`%(n)` = 0 .. N-1)."_s),
                  1, 64),
            key(u"interval"_s, T::Duration, u"60s"_s,
                u"berth.daemon_sample: time between two status lines."_s),
            key(u"directory"_s, T::Path, QString(),
                u"Working directory of the program; empty keeps berthd's."_s),
            key(u"environment"_s, T::String, QString(),
                u"Extra environment variables, `A=1, B=\"x y\"`, on top of berthd's."_s),
            key(u"user"_s, T::String, QString(),
                u"User the program runs as (only when the master runs as root); empty: the "
                u"server's user."_s),
            key(u"group"_s, T::String, QString(),
                u"Group the program runs as (only when the master runs as root); empty: the "
                u"user's primary group."_s),
            key(u"umask"_s, T::Mode, QString(),
                u"umask of the program, in octal (022); empty keeps berthd's."_s),
            key(u"stdout"_s, T::Path, QString(),
                u"File the program's standard output is appended to (reopened on USR1); "
                u"empty: each line goes to app.log prefixed with the daemon's name."_s),
            key(u"stderr"_s, T::Path, QString(),
                u"File the program's standard error is appended to (reopened on USR1); empty: "
                u"each line goes to app.log prefixed with the daemon's name."_s),
            key(u"stop_signal"_s, T::String, u"TERM"_s,
                u"Signal that asks the program to stop: TERM, INT, QUIT, HUP, KILL, USR1 or "
                u"USR2."_s),
            key(u"stop_timeout"_s, T::Duration, u"10s"_s,
                u"How long a stopping program may take before its whole process group is "
                u"killed."_s),
            key(u"autorestart"_s, T::String, u"always"_s,
                u"When an exited program is started again: `always`, `on-failure` (exit status "
                u"other than 0, or a signal) or `never`."_s),
            key(u"start_seconds"_s, T::Duration, u"1s"_s,
                u"How long the program must stay up to count as started (STARTING -> "
                u"RUNNING)."_s),
            range(key(u"start_retries"_s, T::Int, u"3"_s,
                      u"Failed starts in a row (exits before start_seconds) before the daemon is "
                      u"FATAL and left stopped."_s),
                  0, 1000),
            key(u"backoff"_s, T::Duration, u"1s"_s,
                u"Delay before the first retry after a failed start, doubled on each one."_s),
            key(u"backoff_cap"_s, T::Duration, u"30s"_s, u"The longest delay between retries."_s),
            key(u"depends_on"_s, T::List, QString(),
                u"Daemons (their NAMEs) that must be RUNNING before this one starts; they stop "
                u"after it."_s),
        }));
}

} // namespace Berth::Config
