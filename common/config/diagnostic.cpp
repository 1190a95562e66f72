#include "diagnostic.h"

#include <QSet>

#include <QHash>

#include <algorithm>
#include <tuple>

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

Diagnostics sortedByRank(const Diagnostics &diagnostics,
                         const std::function<qsizetype(const Diagnostic &)> &fileRank)
{
    // Decorate, sort, undecorate: the rank is computed once per diagnostic, not per comparison.
    struct Key
    {
        qsizetype file;
        int line;
        qsizetype index;
    };
    QList<Key> keys;
    keys.reserve(diagnostics.size());
    for (qsizetype i = 0; i < diagnostics.size(); ++i)
        keys.append(Key{fileRank(diagnostics.at(i)), diagnostics.at(i).location.line, i});
    std::sort(keys.begin(), keys.end(), [](const Key &a, const Key &b) {
        return std::tie(a.file, a.line, a.index) < std::tie(b.file, b.line, b.index);
    });
    Diagnostics sorted;
    sorted.reserve(diagnostics.size());
    for (const Key &key : keys)
        sorted.append(diagnostics.at(key.index));
    return sorted;
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
    return sortedByRank(diagnostics, [&](const Diagnostic &d) {
        return qsizetype(fileRank.value(d.location.file, 0));
    });
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

Diagnostics uniqueDiagnostics(const Diagnostics &diagnostics)
{
    // The validator and the getters that build the server may find the same bad value; say it
    // once.
    Diagnostics unique;
    QSet<QString> seen;
    for (const Diagnostic &d : diagnostics) {
        const QString text = d.toString();
        if (!seen.contains(text)) {
            seen.insert(text);
            unique.append(d);
        }
    }
    return sortedByFile(unique);
}

} // namespace Berth::Config
