#pragma once

#include <QPlainTextEdit>

class QCompleter;
class QStringListModel;

namespace Berth::Console {

// One diagnostic of the validate call placed in a file.
struct EditorDiagnostic
{
    int line = 0;     // 1-based
    QString severity; // "error" or "warning"
    QString message;
};

// A plain-text editor for Berth's INI dialect: line numbers, Berth syntax highlighting,
// diagnostics as wavy underlines (their message on hover), completion of sections and keys
// (Ctrl+Space, or while typing a key) and hover help from the schema's descriptions.
class CodeEditor : public QPlainTextEdit
{
    Q_OBJECT
public:
    explicit CodeEditor(QWidget *parent = nullptr);

    void setDiagnostics(const QList<EditorDiagnostic> &diagnostics);
    const QList<EditorDiagnostic> &diagnostics() const { return m_diagnostics; }
    void goToLine(int line);
    // The [section] the line belongs to (1-based line).
    QString sectionAt(int line) const;
    // What the completer offers at the cursor: section names after '[', else the section's keys.
    QStringList completionsAtCursor() const;
    // The schema's help for the word at a position ("" when none).
    QString helpAt(const QPoint &pos) const;

    int lineNumberAreaWidth() const;
    void paintLineNumbers(QPaintEvent *event);

protected:
    void resizeEvent(QResizeEvent *event) override;
    void keyPressEvent(QKeyEvent *event) override;
    bool event(QEvent *event) override;

private:
    void updateMarks();
    void complete();
    void insertCompletion(const QString &completion);

    QWidget *m_lineNumbers;
    QCompleter *m_completer;
    QStringListModel *m_completions;
    QList<EditorDiagnostic> m_diagnostics;
};

} // namespace Berth::Console
