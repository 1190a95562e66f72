#include "inihighlighter.h"

#include <QGuiApplication>
#include <QPalette>
#include <QRegularExpression>

namespace Berth::Console {

using namespace Qt::StringLiterals;

IniHighlighter::IniHighlighter(QTextDocument *document)
    : QSyntaxHighlighter(document)
{
    // Colours that read on the light and the dark palette alike.
    const bool dark = QGuiApplication::palette().color(QPalette::Base).lightness() < 128;
    m_section.setForeground(dark ? QColor(0x7f, 0xb8, 0xff) : QColor(0x1f, 0x4f, 0xa0));
    m_section.setFontWeight(QFont::Bold);
    m_key.setForeground(dark ? QColor(0xe5, 0xc0, 0x7b) : QColor(0x8a, 0x4b, 0x08));
    m_value.setForeground(dark ? QColor(0x98, 0xc3, 0x79) : QColor(0x2e, 0x7d, 0x32));
    m_comment.setForeground(QColor(0x80, 0x80, 0x80));
    m_comment.setFontItalic(true);
    m_reference.setForeground(dark ? QColor(0xc6, 0x78, 0xdd) : QColor(0x8e, 0x24, 0xaa));
}

void IniHighlighter::highlightBlock(const QString &text)
{
    const QString trimmed = text.trimmed();
    if (trimmed.startsWith(u';') || trimmed.startsWith(u'#')) {
        setFormat(0, int(text.size()), m_comment);
        return;
    }
    if (trimmed.startsWith(u'[')) {
        setFormat(0, int(text.size()), m_section);
        return;
    }
    const qsizetype eq = text.indexOf(u'=');
    if (eq < 0)
        return;
    setFormat(0, int(eq), m_key);
    qsizetype comment = -1;
    for (const QString &marker : {u" ;"_s, u" #"_s}) {
        const qsizetype at = text.indexOf(marker, eq);
        if (at >= 0 && (comment < 0 || at < comment))
            comment = at;
    }
    const qsizetype valueEnd = comment < 0 ? text.size() : comment;
    setFormat(int(eq + 1), int(valueEnd - eq - 1), m_value);
    if (comment >= 0)
        setFormat(int(comment), int(text.size() - comment), m_comment);
    static const QRegularExpression reference(u"\\$\\{[^}]*\\}"_s);
    for (auto it = reference.globalMatch(text); it.hasNext();) {
        const QRegularExpressionMatch m = it.next();
        if (m.capturedStart() < valueEnd)
            setFormat(int(m.capturedStart()), int(m.capturedLength()), m_reference);
    }
}

} // namespace Berth::Console
