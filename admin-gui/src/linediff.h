#pragma once

#include <QString>
#include <QStringList>

namespace Berth::Console {

// A unified line diff ("-", "+", " " prefixes, @@ hunks with 3 lines of context) of two texts;
// empty when they are equal. Longest common subsequence: configuration files are small.
QString unifiedDiff(const QString &path, const QString &before, const QString &after);

} // namespace Berth::Console
