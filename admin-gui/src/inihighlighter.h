#pragma once

#include <QSyntaxHighlighter>
#include <QTextCharFormat>

namespace Berth::Console {

// Berth's INI dialect: [sections], key = value, ; and # comments, ${VAR} references and the
// raw lines of [routes:line]/[crontab:line] sections (`/path = app`).
class IniHighlighter : public QSyntaxHighlighter
{
    Q_OBJECT
public:
    explicit IniHighlighter(QTextDocument *document);

protected:
    void highlightBlock(const QString &text) override;

private:
    QTextCharFormat m_section;
    QTextCharFormat m_key;
    QTextCharFormat m_value;
    QTextCharFormat m_comment;
    QTextCharFormat m_reference;
};

} // namespace Berth::Console
