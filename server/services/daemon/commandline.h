#pragma once

#include <QList>
#include <QPair>
#include <QString>
#include <QStringList>

#include <optional>

namespace Berth::Daemons {

// The text forms of [daemon:NAME]: pure functions, unit-tested (tests/services/tst_daemonparse).

// Splits a command line into words the way a POSIX shell would, without running one: blanks
// separate words; "..." keeps blanks (\" \\ \$ \` escaped inside); '...' keeps everything
// literally; a backslash outside quotes escapes the next character. `%(n)` is replaced by
// instance. nullopt (with *error) for an unterminated quote or a trailing backslash.
std::optional<QStringList> splitCommandLine(const QString &text, int instance, QString *error);

// `A=1, B="x y", C=` -> {A,1} {B,x y} {C,}: comma-separated NAME=VALUE pairs, a value in
// double quotes may hold commas and blanks. nullopt (with *error) for a pair without '=', an
// invalid name or an unterminated quote.
std::optional<QList<QPair<QString, QString>>> parseEnvironment(const QString &text, QString *error);

// "TERM", "SIGTERM", "term" -> SIGTERM; -1 for anything else. Only the signals that make sense
// as a stop signal: TERM INT QUIT HUP KILL USR1 USR2.
int signalNumber(const QString &name);

} // namespace Berth::Daemons
