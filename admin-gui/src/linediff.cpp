#include "linediff.h"

#include <QList>

namespace Berth::Console {

using namespace Qt::StringLiterals;

QString unifiedDiff(const QString &path, const QString &before, const QString &after)
{
    if (before == after)
        return {};
    const QStringList a = before.split(u'\n');
    const QStringList b = after.split(u'\n');
    const qsizetype n = a.size();
    const qsizetype m = b.size();
    // lcs[i][j]: common lines of a[i..] and b[j..].
    QList<QList<int>> lcs(n + 1, QList<int>(m + 1, 0));
    for (qsizetype i = n - 1; i >= 0; --i) {
        for (qsizetype j = m - 1; j >= 0; --j)
            lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : qMax(lcs[i + 1][j], lcs[i][j + 1]);
    }
    struct Op
    {
        QChar kind;
        QString text;
        qsizetype aLine;
        qsizetype bLine;
    };
    QList<Op> ops;
    qsizetype i = 0;
    qsizetype j = 0;
    while (i < n || j < m) {
        if (i < n && j < m && a[i] == b[j]) {
            ops.append({u' ', a[i], i, j});
            ++i;
            ++j;
        } else if (i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1])) {
            ops.append({u'-', a[i], i, j}); // removals first, as diff -u
            ++i;
        } else {
            ops.append({u'+', b[j], i, j});
            ++j;
        }
    }
    QStringList out{u"--- live/%1"_s.arg(path), u"+++ edited/%1"_s.arg(path)};
    const qsizetype context = 3;
    qsizetype k = 0;
    while (k < ops.size()) {
        if (ops[k].kind == u' ') {
            ++k;
            continue;
        }
        qsizetype start = qMax<qsizetype>(0, k - context);
        qsizetype end = k;
        // Extend while changes are within 2*context of each other.
        qsizetype lastChange = k;
        while (end < ops.size() && end - lastChange <= 2 * context) {
            if (ops[end].kind != u' ')
                lastChange = end;
            ++end;
        }
        end = qMin(ops.size(), lastChange + context + 1);
        out.append(u"@@ -%1 +%2 @@"_s.arg(ops[start].aLine + 1).arg(ops[start].bLine + 1));
        for (qsizetype x = start; x < end; ++x)
            out.append(ops[x].kind + ops[x].text);
        k = end;
    }
    return out.join(u'\n');
}

} // namespace Berth::Console
