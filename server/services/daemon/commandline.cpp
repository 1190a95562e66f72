#include "commandline.h"

#include <csignal>

namespace Berth::Daemons {

std::optional<QStringList> splitCommandLine(const QString &input, int instance, QString *error)
{
    QString text = input;
    text.replace(QLatin1String("%(n)"), QString::number(instance));
    QStringList words;
    QString word;
    bool inWord = false; // "" is a word of its own, so presence is tracked apart from content
    enum class Quote { None, Single, Double } quote = Quote::None;
    for (qsizetype i = 0; i < text.size(); ++i) {
        const QChar c = text[i];
        if (quote == Quote::Single) {
            if (c == u'\'')
                quote = Quote::None;
            else
                word += c;
            continue;
        }
        if (quote == Quote::Double) {
            if (c == u'"') {
                quote = Quote::None;
            } else if (c == u'\\' && i + 1 < text.size() &&
                       QStringView(u"\"\\$`").contains(text[i + 1])) {
                word += text[++i];
            } else {
                word += c;
            }
            continue;
        }
        if (c.isSpace()) {
            if (inWord)
                words.append(word);
            word.clear();
            inWord = false;
        } else if (c == u'\'') {
            quote = Quote::Single;
            inWord = true;
        } else if (c == u'"') {
            quote = Quote::Double;
            inWord = true;
        } else if (c == u'\\') {
            if (i + 1 >= text.size()) {
                *error = QStringLiteral("a backslash ends the command line");
                return std::nullopt;
            }
            word += text[++i];
            inWord = true;
        } else {
            word += c;
            inWord = true;
        }
    }
    if (quote != Quote::None) {
        *error = quote == Quote::Single ? QStringLiteral("unterminated ' quote")
                                        : QStringLiteral("unterminated \" quote");
        return std::nullopt;
    }
    if (inWord)
        words.append(word);
    if (words.isEmpty()) {
        *error = QStringLiteral("the command line is empty");
        return std::nullopt;
    }
    return words;
}

namespace {

bool validName(const QString &name)
{
    if (name.isEmpty() || name[0].isDigit())
        return false;
    for (QChar c : name) {
        if (!(c.isLetterOrNumber() && c.unicode() < 128) && c != u'_')
            return false;
    }
    return true;
}

} // namespace

std::optional<QList<QPair<QString, QString>>> parseEnvironment(const QString &text, QString *error)
{
    QList<QPair<QString, QString>> pairs;
    qsizetype i = 0;
    const qsizetype n = text.size();
    while (i < n) {
        while (i < n && (text[i].isSpace() || text[i] == u','))
            ++i;
        if (i >= n)
            break;
        const qsizetype eq = text.indexOf(u'=', i);
        const qsizetype comma = text.indexOf(u',', i);
        if (eq < 0 || (comma >= 0 && comma < eq)) {
            *error = QStringLiteral("'%1' is not NAME=VALUE")
                         .arg(text.mid(i, comma < 0 ? -1 : comma - i).trimmed());
            return std::nullopt;
        }
        const QString name = text.mid(i, eq - i).trimmed();
        if (!validName(name)) {
            *error = QStringLiteral("'%1' is not a variable name").arg(name);
            return std::nullopt;
        }
        i = eq + 1;
        while (i < n && text[i] == u' ')
            ++i;
        QString value;
        if (i < n && text[i] == u'"') {
            ++i;
            bool closed = false;
            while (i < n) {
                const QChar c = text[i++];
                if (c == u'\\' && i < n && (text[i] == u'"' || text[i] == u'\\')) {
                    value += text[i++];
                } else if (c == u'"') {
                    closed = true;
                    break;
                } else {
                    value += c;
                }
            }
            if (!closed) {
                *error = QStringLiteral("unterminated \" quote in the value of %1").arg(name);
                return std::nullopt;
            }
            while (i < n && text[i].isSpace())
                ++i;
            if (i < n && text[i] != u',') {
                *error = QStringLiteral("unexpected text after the quoted value of %1").arg(name);
                return std::nullopt;
            }
        } else {
            const qsizetype end = comma < 0 ? n : comma;
            value = text.mid(i, end - i).trimmed();
            i = end;
        }
        pairs.append({name, value});
    }
    return pairs;
}

int signalNumber(const QString &text)
{
    QString name = text.trimmed().toUpper();
    if (name.startsWith(QLatin1String("SIG")))
        name = name.mid(3);
    static const QList<QPair<QString, int>> known = {
        {QStringLiteral("TERM"), SIGTERM}, {QStringLiteral("INT"), SIGINT},
        {QStringLiteral("QUIT"), SIGQUIT}, {QStringLiteral("HUP"), SIGHUP},
        {QStringLiteral("KILL"), SIGKILL}, {QStringLiteral("USR1"), SIGUSR1},
        {QStringLiteral("USR2"), SIGUSR2},
    };
    for (const auto &[n, number] : known) {
        if (n == name)
            return number;
    }
    return -1;
}

} // namespace Berth::Daemons
