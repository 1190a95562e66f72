#include "diagnostic.h"

#include <QHash>

#include <algorithm>

namespace Berth::Config {

QString Location::toString() const
{
    if (file.isEmpty())
        return QStringLiteral("<config>");
    if (line <= 0)
        return file;
    return file + u':' + QString::number(line);
}

QString Diagnostic::toString() const
{
    const QString where = location.toString();
    if (severity == Severity::Warning)
        return where + QLatin1String(": warning: ") + message;
    return where + QLatin1String(": ") + message;
}

bool hasErrors(const Diagnostics &diagnostics)
{
    return std::any_of(diagnostics.cbegin(), diagnostics.cend(),
                       [](const Diagnostic &d) { return d.isError(); });
}

Diagnostics sortedByFile(const Diagnostics &diagnostics)
{
    // Rank files by first appearance so the order follows the order the files were read in
    // (load problems and validator findings are both produced in that order).
    QHash<QString, int> fileRank;
    for (const Diagnostic &d : diagnostics) {
        if (!d.location.file.isEmpty() && !fileRank.contains(d.location.file))
            fileRank.insert(d.location.file, int(fileRank.size()) + 1);
    }
    Diagnostics sorted = diagnostics;
    std::stable_sort(sorted.begin(), sorted.end(), [&](const Diagnostic &a, const Diagnostic &b) {
        const int rankA = fileRank.value(a.location.file, 0);
        const int rankB = fileRank.value(b.location.file, 0);
        if (rankA != rankB)
            return rankA < rankB;
        return a.location.line < b.location.line;
    });
    return sorted;
}

QString formatDiagnostics(const Diagnostics &diagnostics)
{
    QString text;
    for (const Diagnostic &d : sortedByFile(diagnostics)) {
        text += d.toString();
        text += u'\n';
    }
    return text;
}

} // namespace Berth::Config
