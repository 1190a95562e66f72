#include "codeeditor.h"

#include "inihighlighter.h"
#include "schemahelp.h"

#include <QAbstractItemView>
#include <QCompleter>
#include <QFontDatabase>
#include <QHelpEvent>
#include <QPainter>
#include <QRegularExpression>
#include <QScrollBar>
#include <QStringListModel>
#include <QTextBlock>
#include <QToolTip>

namespace Berth::Console {

using namespace Qt::StringLiterals;

namespace {

class LineNumberArea : public QWidget
{
public:
    explicit LineNumberArea(CodeEditor *editor)
        : QWidget(editor)
        , m_editor(editor)
    {}
    QSize sizeHint() const override { return {m_editor->lineNumberAreaWidth(), 0}; }

protected:
    void paintEvent(QPaintEvent *event) override { m_editor->paintLineNumbers(event); }

private:
    CodeEditor *m_editor;
};

QString sectionOfLine(const QString &text)
{
    static const QRegularExpression header(u"^\\s*\\[([^\\]]+)\\]"_s);
    const QRegularExpressionMatch m = header.match(text);
    return m.hasMatch() ? m.captured(1).trimmed() : QString();
}

} // namespace

CodeEditor::CodeEditor(QWidget *parent)
    : QPlainTextEdit(parent)
    , m_lineNumbers(new LineNumberArea(this))
    , m_completer(new QCompleter(this))
    , m_completions(new QStringListModel(this))
{
    setFont(QFontDatabase::systemFont(QFontDatabase::FixedFont));
    setLineWrapMode(QPlainTextEdit::NoWrap);
    new IniHighlighter(document());
    m_completer->setModel(m_completions);
    m_completer->setWidget(this);
    m_completer->setCaseSensitivity(Qt::CaseInsensitive);
    m_completer->setCompletionMode(QCompleter::PopupCompletion);
    connect(m_completer, qOverload<const QString &>(&QCompleter::activated), this,
            &CodeEditor::insertCompletion);
    connect(this, &QPlainTextEdit::blockCountChanged, this,
            [this] { setViewportMargins(lineNumberAreaWidth(), 0, 0, 0); });
    connect(this, &QPlainTextEdit::updateRequest, this, [this](const QRect &rect, int dy) {
        if (dy)
            m_lineNumbers->scroll(0, dy);
        else
            m_lineNumbers->update(0, rect.y(), m_lineNumbers->width(), rect.height());
    });
    setViewportMargins(lineNumberAreaWidth(), 0, 0, 0);
}

int CodeEditor::lineNumberAreaWidth() const
{
    int digits = 1;
    for (int max = qMax(1, blockCount()); max >= 10; max /= 10)
        ++digits;
    return 8 + fontMetrics().horizontalAdvance(u'9') * (digits + 1);
}

void CodeEditor::resizeEvent(QResizeEvent *event)
{
    QPlainTextEdit::resizeEvent(event);
    const QRect cr = contentsRect();
    m_lineNumbers->setGeometry(QRect(cr.left(), cr.top(), lineNumberAreaWidth(), cr.height()));
}

void CodeEditor::paintLineNumbers(QPaintEvent *event)
{
    QPainter painter(m_lineNumbers);
    painter.fillRect(event->rect(), palette().color(QPalette::AlternateBase));
    QTextBlock block = firstVisibleBlock();
    int top = qRound(blockBoundingGeometry(block).translated(contentOffset()).top());
    int bottom = top + qRound(blockBoundingRect(block).height());
    QSet<int> marked;
    for (const EditorDiagnostic &d : std::as_const(m_diagnostics))
        marked.insert(d.line);
    while (block.isValid() && top <= event->rect().bottom()) {
        if (block.isVisible() && bottom >= event->rect().top()) {
            const int line = block.blockNumber() + 1;
            painter.setPen(marked.contains(line) ? QColor(0xc0, 0x39, 0x2b)
                                                 : palette().color(QPalette::PlaceholderText));
            painter.drawText(0, top, m_lineNumbers->width() - 4, fontMetrics().height(),
                             Qt::AlignRight, QString::number(line));
        }
        block = block.next();
        top = bottom;
        bottom = top + qRound(blockBoundingRect(block).height());
    }
}

void CodeEditor::setDiagnostics(const QList<EditorDiagnostic> &diagnostics)
{
    m_diagnostics = diagnostics;
    updateMarks();
    m_lineNumbers->update();
}

void CodeEditor::updateMarks()
{
    QList<QTextEdit::ExtraSelection> marks;
    for (const EditorDiagnostic &d : std::as_const(m_diagnostics)) {
        const QTextBlock block = document()->findBlockByNumber(d.line - 1);
        if (!block.isValid())
            continue;
        QTextEdit::ExtraSelection mark;
        mark.format.setUnderlineStyle(QTextCharFormat::WaveUnderline);
        mark.format.setUnderlineColor(d.severity == u"error"_s ? QColor(0xe7, 0x4c, 0x3c)
                                                               : QColor(0xf3, 0x9c, 0x12));
        mark.format.setToolTip(d.message);
        mark.cursor = QTextCursor(block);
        mark.cursor.movePosition(QTextCursor::EndOfBlock, QTextCursor::KeepAnchor);
        if (!mark.cursor.hasSelection()) // an empty line: mark the line itself
            mark.format.setProperty(QTextFormat::FullWidthSelection, true);
        marks.append(mark);
    }
    setExtraSelections(marks);
}

void CodeEditor::goToLine(int line)
{
    const QTextBlock block = document()->findBlockByNumber(qMax(0, line - 1));
    if (!block.isValid())
        return;
    QTextCursor cursor(block);
    setTextCursor(cursor);
    centerCursor();
    setFocus();
}

QString CodeEditor::sectionAt(int line) const
{
    for (QTextBlock b = document()->findBlockByNumber(line - 1); b.isValid(); b = b.previous()) {
        const QString section = sectionOfLine(b.text());
        if (!section.isEmpty())
            return section;
    }
    return {};
}

QStringList CodeEditor::completionsAtCursor() const
{
    const QTextCursor cursor = textCursor();
    const QString before = cursor.block().text().left(cursor.positionInBlock());
    if (before.trimmed().startsWith(u'['))
        return SchemaHelp::sections();
    if (before.contains(u'='))
        return {};
    const QString section = sectionAt(cursor.blockNumber() + 1);
    QString call;
    static const QRegularExpression callLine(u"^\\s*call\\s*=\\s*(\\S+)"_s);
    for (QTextBlock b = document()->findBlockByNumber(cursor.blockNumber()); b.isValid();
         b = b.previous()) {
        if (!sectionOfLine(b.text()).isEmpty())
            break;
        const QRegularExpressionMatch m = callLine.match(b.text());
        if (m.hasMatch())
            call = m.captured(1);
    }
    return SchemaHelp::keys(section, call);
}

void CodeEditor::complete()
{
    const QStringList words = completionsAtCursor();
    if (words.isEmpty()) {
        m_completer->popup()->hide();
        return;
    }
    QTextCursor cursor = textCursor();
    const QString before = cursor.block().text().left(cursor.positionInBlock());
    static const QRegularExpression tail(u"[\\w.:@*-]*$"_s);
    const QString prefix = tail.match(before).captured(0);
    m_completions->setStringList(words);
    m_completer->setCompletionPrefix(prefix);
    QRect rect = cursorRect();
    rect.setWidth(m_completer->popup()->sizeHintForColumn(0) +
                  m_completer->popup()->verticalScrollBar()->sizeHint().width() + 16);
    m_completer->complete(rect);
}

void CodeEditor::insertCompletion(const QString &completion)
{
    QTextCursor cursor = textCursor();
    const int remove = int(m_completer->completionPrefix().size());
    cursor.movePosition(QTextCursor::Left, QTextCursor::KeepAnchor, remove);
    const bool section = cursor.block().text().trimmed().startsWith(u'[');
    cursor.insertText(section ? completion : completion + u" = "_s);
    setTextCursor(cursor);
}

void CodeEditor::keyPressEvent(QKeyEvent *event)
{
    if (m_completer->popup()->isVisible()) {
        switch (event->key()) {
        case Qt::Key_Enter:
        case Qt::Key_Return:
        case Qt::Key_Escape:
        case Qt::Key_Tab:
        case Qt::Key_Backtab:
            event->ignore();
            return;
        default:
            break;
        }
    }
    if (event->key() == Qt::Key_Space && event->modifiers() & Qt::ControlModifier) {
        complete();
        return;
    }
    QPlainTextEdit::keyPressEvent(event);
    const QString typed = event->text();
    if (!typed.isEmpty() && (typed.at(0).isLetter() || typed == u"["_s)) {
        const QTextCursor cursor = textCursor();
        const QString before = cursor.block().text().left(cursor.positionInBlock());
        if (!before.contains(u'=') && !before.trimmed().startsWith(u';'))
            complete();
    } else if (m_completer->popup()->isVisible() &&
               (typed.isEmpty() || !typed.at(0).isLetterOrNumber())) {
        m_completer->popup()->hide();
    }
}

QString CodeEditor::helpAt(const QPoint &pos) const
{
    const QTextCursor cursor = cursorForPosition(pos);
    const QString text = cursor.block().text();
    const QString section = sectionOfLine(text);
    if (!section.isEmpty())
        return SchemaHelp::help(section, QString());
    const qsizetype eq = text.indexOf(u'=');
    if (eq < 0 || cursor.positionInBlock() > eq)
        return {};
    return SchemaHelp::help(sectionAt(cursor.blockNumber() + 1), text.left(eq).trimmed());
}

bool CodeEditor::event(QEvent *event)
{
    if (event->type() == QEvent::ToolTip) {
        auto *help = static_cast<QHelpEvent *>(event);
        const QPoint pos = help->pos() - QPoint(viewportMargins().left(), 0);
        const int line = cursorForPosition(pos).blockNumber() + 1;
        QStringList tips;
        for (const EditorDiagnostic &d : std::as_const(m_diagnostics)) {
            if (d.line == line)
                tips.append(u"%1: %2"_s.arg(d.severity, d.message));
        }
        const QString schema = helpAt(pos);
        if (!schema.isEmpty())
            tips.append(schema);
        if (tips.isEmpty())
            QToolTip::hideText();
        else
            QToolTip::showText(help->globalPos(), tips.join(u"\n"_s), this);
        return true;
    }
    return QPlainTextEdit::event(event);
}

} // namespace Berth::Console
