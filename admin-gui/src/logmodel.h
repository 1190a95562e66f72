#pragma once

#include <QAbstractTableModel>
#include <QRegularExpression>
#include <QSortFilterProxyModel>
#include <QStringList>

namespace Berth::Console {

// One log's lines. request.log lines are split into their fields (docs/logs.md: time, client,
// method, URL, status, bytes, duration, user, txn); other logs into time, level and message.
// 5xx responses and CEF events are highlighted.
class LogModel : public QAbstractTableModel
{
    Q_OBJECT
public:
    enum RequestColumn {
        RTime,
        RClient,
        RMethod,
        RUrl,
        RStatus,
        RBytes,
        RDuration,
        RUser,
        RTxn,
        RequestColumns
    };
    enum TextColumn { TTime, TLevel, TMessage, TextColumns };
    static constexpr int MaxLines = 20'000;

    using QAbstractTableModel::QAbstractTableModel;

    void setRequestLog(bool request);
    bool isRequestLog() const { return m_request; }
    void setLines(const QStringList &lines);
    void appendLines(const QStringList &lines);
    QString line(int row) const { return m_lines.at(row); }
    QString field(int row, int column) const;
    int txnColumn() const { return m_request ? RTxn : -1; }

    int rowCount(const QModelIndex &parent = {}) const override;
    int columnCount(const QModelIndex &parent = {}) const override;
    QVariant data(const QModelIndex &index, int role) const override;
    QVariant headerData(int section, Qt::Orientation orientation, int role) const override;

    // Splits a request.log line (skitai format; the quoted user agent may hold spaces).
    static QStringList requestFields(const QString &line);
    // "2026.11.30 06:01:18 [info] berth.master: ..." -> time, level, message.
    static QStringList textFields(const QString &line);

private:
    bool m_request = false;
    QStringList m_lines;
    QList<QStringList> m_fields;
};

// The filters of the Logs page: text or regular expression over the whole line, a status class
// (request.log) and a level (other logs).
class LogFilter : public QSortFilterProxyModel
{
    Q_OBJECT
public:
    using QSortFilterProxyModel::QSortFilterProxyModel;

    void setText(const QString &text, bool regex);
    void setStatusClass(int klass);      // 0: any, 2..5
    void setLevel(const QString &level); // empty: any
    bool isValid() const { return m_valid; }

protected:
    bool filterAcceptsRow(int row, const QModelIndex &parent) const override;
    bool lessThan(const QModelIndex &left, const QModelIndex &right) const override;

private:
    QString m_text;
    QRegularExpression m_regex;
    bool m_useRegex = false;
    bool m_valid = true;
    int m_statusClass = 0;
    QString m_level;
};

} // namespace Berth::Console
