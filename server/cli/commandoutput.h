#pragma once

#include <QString>

#include <cstdio>

namespace Berth::Cli {

// What every subcommand that parses its own arguments (keys, cron, mail, log, daemon) prints:
// plain lines on stdout, "berthd COMMAND: message" on stderr, and the exit statuses of the
// usual convention (1: the action failed, 2: the command line was wrong).

// Writes text and a newline to stream, in the locale's encoding.
void printLine(FILE *stream, const QString &text);
// "berthd COMMAND: message" and the command's usage text on stderr; returns 2.
int reportUsageError(const char *command, const char *usage, const QString &message);
// "berthd COMMAND: message" on stderr; returns 1.
int reportFailure(const char *command, const QString &message);

} // namespace Berth::Cli
