#pragma once

#include <QList>
#include <QString>

#include <functional>

namespace Berth::Config {

// Where a section, key or raw line came from. An empty file means "built in / command line".
struct Location
{
    QString file;
    int line = 0;

    bool isValid() const { return !file.isEmpty(); }
    // "file:line", or "file" when line is 0, or "<config>" when there is no file.
    QString toString() const;
};

// One finding about a configuration: an error makes `berthd check` fail, a warning does not.
struct Diagnostic
{
    enum class Severity { Warning, Error };

    Severity severity = Severity::Error;
    Location location;
    QString message; // e.g. "[limits] header_timeout: '3x' is not a duration"

    // "file:line: message" for errors, "file:line: warning: message" for warnings.
    QString toString() const;
    bool isError() const { return severity == Severity::Error; }
};

using Diagnostics = QList<Diagnostic>;

bool hasErrors(const Diagnostics &diagnostics);

// The diagnostics grouped by file (files in the order they first appear in the list) and sorted
// by line within a file; diagnostics without a location come first. Stable: equal positions
// keep their order.
Diagnostics sortedByFile(const Diagnostics &diagnostics);
// sortedByFile without repeats: the validator and the getters that build a service may find the
// same bad value; it is said once.
Diagnostics uniqueDiagnostics(const Diagnostics &diagnostics);
// One Diagnostic::toString() per line, each ending in '\n', in file order (sortedByFile), as
// `berthd check` prints them. Empty for no diagnostics.
QString formatDiagnostics(const Diagnostics &diagnostics);
// Stable sort by (fileRank(d), line); sortedByFile and validate() use it with their own ranks.
Diagnostics sortedByRank(const Diagnostics &diagnostics,
                         const std::function<qsizetype(const Diagnostic &)> &fileRank);

} // namespace Berth::Config
