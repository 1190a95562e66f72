#include "logmodel.h"

#include <QBrush>
#include <QColor>
#include <QFont>

namespace Berth::Console {

using namespace Qt::StringLiterals;

QStringList LogModel::requestFields(const QString &line)
{
    // date time client host method url proto status in out txn local user token "ua" t1 t2
    QStringList parts;
    qsizetype i = 0;
    while (i < line.size()) {
        while (i < line.size() && line.at(i) == u' ')
            ++i;
        if (i >= line.size())
            break;
        qsizetype end;
        if (line.at(i) == u'"') {
            end = line.indexOf(u'"', i + 1);
            end = end < 0 ? line.size() : end + 1;
        } else {
            end = line.indexOf(u' ', i);
            if (end < 0)
                end = line.size();
        }
        parts.append(line.mid(i, end - i));
        i = end;
    }
    if (parts.size() < 17)
        return {line.left(19), QString(), QString(), line.mid(20), QString(),
                QString(),     QString(), QString(), QString()};
    return {parts[0] + u' ' + parts[1],
            parts[2],
            parts[4],
            parts[5],
            parts[7],
            parts[9],
            parts[15],
            parts[12],
            parts[10]};
}

QStringList LogModel::textFields(const QString &line)
{
    static const QRegularExpression re(u"^(\\S+ \\S+) \\[(\\w+)\\] (.*)$"_s);
    const QRegularExpressionMatch m = re.match(line);
    if (!m.hasMatch())
        return {QString(), QString(), line};
    return {m.captured(1), m.captured(2), m.captured(3)};
}

void LogModel::setRequestLog(bool request)
{
    beginResetModel();
    m_request = request;
    m_lines.clear();
    m_fields.clear();
    endResetModel();
}

void LogModel::setLines(const QStringList &lines)
{
    beginResetModel();
    m_lines.clear();
    m_fields.clear();
    endResetModel();
    appendLines(lines);
}

void LogModel::appendLines(const QStringList &lines)
{
    if (lines.isEmpty())
        return;
    const qsizetype overflow = m_lines.size() + lines.size() - MaxLines;
    if (overflow > 0) {
        const int drop = int(qMin(overflow, m_lines.size()));
        if (drop > 0) {
            beginRemoveRows({}, 0, drop - 1);
            m_lines.remove(0, drop);
            m_fields.remove(0, drop);
            endRemoveRows();
        }
    }
    beginInsertRows({}, int(m_lines.size()), int(m_lines.size() + lines.size() - 1));
    for (const QString &l : lines) {
        m_lines.append(l);
        m_fields.append(m_request ? requestFields(l) : textFields(l));
    }
    endInsertRows();
}

QString LogModel::field(int row, int column) const
{
    return m_fields.at(row).value(column);
}

int LogModel::rowCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : int(m_lines.size());
}

int LogModel::columnCount(const QModelIndex &parent) const
{
    return parent.isValid() ? 0 : (m_request ? int(RequestColumns) : int(TextColumns));
}

QVariant LogModel::data(const QModelIndex &index, int role) const
{
    if (!index.isValid() || index.row() >= m_lines.size())
        return {};
    switch (role) {
    case Qt::DisplayRole:
        return field(index.row(), index.column());
    case Qt::ToolTipRole:
        return m_lines.at(index.row());
    case Qt::BackgroundRole: {
        const bool serverError = m_request ? field(index.row(), RStatus).startsWith(u'5')
                                           : field(index.row(), TLevel) == u"error"_s ||
                                                 field(index.row(), TLevel) == u"critical"_s;
        if (serverError)
            return QBrush(QColor(0xe7, 0x4c, 0x3c, 70));
        if (m_lines.at(index.row()).contains(u"CEF:"_s))
            return QBrush(QColor(0xf3, 0x9c, 0x12, 70));
        return {};
    }
    case Qt::FontRole:
        if (m_request && index.column() == RTxn) {
            QFont font;
            font.setUnderline(true);
            return font;
        }
        return {};
    }
    return {};
}

QVariant LogModel::headerData(int section, Qt::Orientation orientation, int role) const
{
    if (orientation != Qt::Horizontal || role != Qt::DisplayRole)
        return {};
    if (m_request) {
        const QStringList names{tr("Time"),  tr("Client"),   tr("Method"), tr("URL"), tr("Status"),
                                tr("Bytes"), tr("Duration"), tr("User"),   tr("Txn")};
        return names.value(section);
    }
    const QStringList names{tr("Time"), tr("Level"), tr("Message")};
    return names.value(section);
}

void LogFilter::setText(const QString &text, bool regex)
{
    m_text = text;
    m_useRegex = regex;
    m_regex = QRegularExpression(text, QRegularExpression::CaseInsensitiveOption);
    m_valid = !regex || m_regex.isValid();
    invalidateFilter();
}

void LogFilter::setStatusClass(int klass)
{
    m_statusClass = klass;
    invalidateFilter();
}

void LogFilter::setLevel(const QString &level)
{
    m_level = level;
    invalidateFilter();
}

bool LogFilter::filterAcceptsRow(int row, const QModelIndex &) const
{
    const auto *model = static_cast<const LogModel *>(sourceModel());
    if (m_statusClass > 0 && model->isRequestLog() &&
        !model->field(row, LogModel::RStatus).startsWith(QChar(u'0' + m_statusClass)))
        return false;
    if (!m_level.isEmpty() && !model->isRequestLog() &&
        model->field(row, LogModel::TLevel) != m_level)
        return false;
    if (m_text.isEmpty())
        return true;
    const QString line = model->line(row);
    if (m_useRegex)
        return m_valid && m_regex.match(line).hasMatch();
    return line.contains(m_text, Qt::CaseInsensitive);
}

bool LogFilter::lessThan(const QModelIndex &left, const QModelIndex &right) const
{
    const auto *model = static_cast<const LogModel *>(sourceModel());
    if (model->isRequestLog() &&
        (left.column() == LogModel::RStatus || left.column() == LogModel::RBytes ||
         left.column() == LogModel::RDuration)) {
        auto number = [](QString s) { return s.remove(u"ms"_s).toDouble(); };
        return number(left.data().toString()) < number(right.data().toString());
    }
    return QSortFilterProxyModel::lessThan(left, right);
}

} // namespace Berth::Console
