#include "mimecomposer.h"

#include <QCryptographicHash>
#include <QDateTime>
#include <QTimeZone>

namespace Berth::Mail {

using namespace Qt::StringLiterals;

namespace {

constexpr int MaxLine = 76;

bool isPrintableAscii(const QString &text)
{
    for (QChar c : text) {
        if (c.unicode() < 0x20 || c.unicode() > 0x7e)
            return false;
    }
    return true;
}

// The first byte of a UTF-8 sequence (not a continuation byte).
bool startsCharacter(char c)
{
    return (static_cast<unsigned char>(c) & 0xc0) != 0x80;
}

QByteArray quotedParameter(const QByteArray &value)
{
    QByteArray out = "\"";
    for (char c : value) {
        if (c == '"' || c == '\\')
            out += '\\';
        out += c;
    }
    return out + '"';
}

// filename="x" for printable ASCII, filename*=UTF-8''%xx (RFC 2231) otherwise.
QByteArray filenameParameter(const char *name, const QString &filename)
{
    if (isPrintableAscii(filename))
        return QByteArray("; ") + name + '=' + quotedParameter(filename.toLatin1());
    return QByteArray("; ") + name + "*=UTF-8''" +
           filename.toUtf8().toPercentEncoding(); // RFC 2231: all but ALPHA DIGIT - . _ ~
}

struct Part
{
    QByteArray headers; // CRLF-terminated lines
    QByteArray body;
};

Part textPart(const QString &text, const char *subtype)
{
    return {QByteArray("Content-Type: text/") + subtype +
                "; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n",
            encodeQuotedPrintable(text.toUtf8())};
}

Part attachmentPart(const Attachment &a)
{
    QByteArray headers = "Content-Type: " + a.contentType.toLatin1();
    if (!a.filename.isEmpty())
        headers += filenameParameter("name", a.filename);
    headers += "\r\nContent-Transfer-Encoding: base64\r\n";
    if (!a.inlineId.isEmpty()) {
        headers += "Content-ID: <" + a.inlineId.toUtf8() + ">\r\nContent-Disposition: inline";
    } else {
        headers += "Content-Disposition: attachment";
    }
    if (!a.filename.isEmpty())
        headers += filenameParameter("filename", a.filename);
    headers += "\r\n";
    return {headers, encodeBase64Lines(a.content)};
}

Part multipart(const char *subtype, const QByteArray &boundary, const QList<Part> &parts)
{
    Part out;
    out.headers = QByteArray("Content-Type: multipart/") + subtype + ";\r\n boundary=\"" +
                  boundary + "\"\r\n";
    for (const Part &p : parts) {
        // The CRLF before a delimiter belongs to the delimiter (RFC 2046 5.1.1): a body that
        // ends with a line break keeps it.
        out.body += "--" + boundary + "\r\n" + p.headers + "\r\n" + p.body + "\r\n";
    }
    out.body += "--" + boundary + "--\r\n";
    return out;
}

QByteArray addressList(const QStringList &list, int nameLength)
{
    QByteArray out;
    int lineLength = nameLength;
    for (qsizetype i = 0; i < list.size(); ++i) {
        const QByteArray one = encodeAddress(list[i]);
        if (i > 0) {
            out += ',';
            ++lineLength;
            if (lineLength + 1 + one.size() > MaxLine) {
                out += "\r\n";
                lineLength = 0;
            }
            out += ' ';
            ++lineLength;
        }
        out += one;
        lineLength += int(one.size());
    }
    return out;
}

} // namespace

QByteArray encodeQuotedPrintable(const QByteArray &utf8)
{
    QByteArray text = utf8;
    text.replace("\r\n", "\n").replace('\r', '\n');
    static const char hex[] = "0123456789ABCDEF";
    QByteArray out;
    out.reserve(text.size() * 11 / 10);
    const QList<QByteArray> lines = text.split('\n');
    for (qsizetype l = 0; l < lines.size(); ++l) {
        const QByteArray &line = lines[l];
        int length = 0;
        for (qsizetype i = 0; i < line.size(); ++i) {
            const auto c = static_cast<unsigned char>(line[i]);
            const bool last = i == line.size() - 1;
            QByteArray piece;
            // A space or tab at a line's end would be stripped in transit; '.' at a line's
            // start is escaped too, for MTAs that mishandle dot-stuffing.
            const bool plain = (c >= 33 && c <= 126 && c != '=' && !(c == '.' && length == 0)) ||
                               ((c == ' ' || c == '\t') && !last);
            if (plain) {
                piece = QByteArray(1, char(c));
            } else {
                piece = "=";
                piece += hex[c >> 4];
                piece += hex[c & 15];
            }
            // Room for a soft break "=" unless this piece ends the line.
            const int limit = last ? MaxLine : MaxLine - 1;
            if (length + piece.size() > limit) {
                out += "=\r\n";
                length = 0;
            }
            out += piece;
            length += int(piece.size());
        }
        if (l < lines.size() - 1)
            out += "\r\n";
    }
    return out; // no line end of its own after the last line: see multipart()
}

QByteArray encodeBase64Lines(const QByteArray &bytes)
{
    const QByteArray encoded = bytes.toBase64();
    QByteArray out;
    out.reserve(encoded.size() + encoded.size() / MaxLine * 2 + 2);
    for (qsizetype i = 0; i < encoded.size(); i += MaxLine)
        out += encoded.mid(i, MaxLine) + "\r\n";
    return out;
}

QByteArray encodeHeaderText(const QString &text, int nameLength)
{
    if (isPrintableAscii(text)) {
        const QByteArray ascii = text.toLatin1();
        if (nameLength + ascii.size() <= 78)
            return ascii;
        // Fold at spaces (RFC 5322 2.2.3) so that no line passes 78 characters when the words
        // allow it; a word too long for a line of 998 goes out as encoded-words instead.
        QByteArray out;
        int lineLength = nameLength;
        bool fits = true;
        const QList<QByteArray> words = ascii.split(' ');
        for (qsizetype i = 0; i < words.size(); ++i) {
            const QByteArray &word = words[i];
            if (word.size() > 900) {
                fits = false;
                break;
            }
            if (i > 0) {
                if (lineLength + 1 + word.size() > 78 && lineLength > 1) {
                    out += "\r\n";
                    lineLength = 0;
                }
                out += ' ';
                ++lineLength;
            }
            out += word;
            lineLength += int(word.size());
        }
        if (fits)
            return out;
    }
    const QByteArray utf8 = text.toUtf8();
    // Each word at most 75 characters: "=?UTF-8?B?" + base64 + "?=" leaves 63 for base64,
    // that is 45 bytes of text (a multiple of 3); cut at character boundaries only.
    constexpr int MaxBytes = 45;
    QByteArray out;
    qsizetype start = 0;
    int lineLength = nameLength;
    while (start < utf8.size()) {
        qsizetype end = qMin(start + MaxBytes, utf8.size());
        while (end < utf8.size() && end > start + 1 && !startsCharacter(utf8[end]))
            --end;
        const QByteArray word = "=?UTF-8?B?" + utf8.mid(start, end - start).toBase64() + "?=";
        if (start > 0) {
            if (lineLength + 1 + word.size() > MaxLine) {
                out += "\r\n ";
                lineLength = 1;
            } else {
                out += ' ';
                ++lineLength;
            }
        }
        out += word;
        lineLength += int(word.size());
        start = end;
    }
    return out;
}

QByteArray encodeAddress(const QString &address)
{
    const QString trimmed = address.trimmed();
    const qsizetype open = trimmed.lastIndexOf(u'<');
    if (open <= 0)
        return trimmed.toUtf8();
    QString name = trimmed.first(open).trimmed();
    const QByteArray spec = trimmed.sliced(open).toUtf8();
    if (name.size() >= 2 && name.startsWith(u'"') && name.endsWith(u'"'))
        name = name.mid(1, name.size() - 2);
    if (name.isEmpty())
        return spec;
    if (!isPrintableAscii(name))
        return encodeHeaderText(name, 6) + ' ' + spec;
    return quotedParameter(name.toLatin1()) + ' ' + spec;
}

QByteArray rfc5322Date(const QDateTime &date)
{
    static const char *const days[] = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
    static const char *const months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    const QDateTime local = date.isValid() ? date : QDateTime::currentDateTime();
    const int offset = local.offsetFromUtc() / 60;
    const QDate d = local.date();
    const QTime t = local.time();
    return QByteArray(days[d.dayOfWeek() - 1]) + ", " + QByteArray::number(d.day()) + ' ' +
           months[d.month() - 1] + ' ' + QByteArray::number(d.year()) + ' ' +
           t.toString(u"HH:mm:ss"_s).toLatin1() + ' ' + (offset < 0 ? '-' : '+') +
           QByteArray::number(qAbs(offset) / 60).rightJustified(2, '0') +
           QByteArray::number(qAbs(offset) % 60).rightJustified(2, '0');
}

QByteArray composeMime(const Message &m)
{
    // Boundaries begin with "=_": neither base64 nor quoted-printable output can contain that,
    // so no body can end a part early.
    const QByteArray seed =
        QCryptographicHash::hash(m.id.toUtf8() + m.messageId.toUtf8(), QCryptographicHash::Sha1)
            .toHex()
            .left(24);
    int boundaryCount = 0;
    const auto boundary = [&] {
        return "=_berth_" + seed + '_' + QByteArray::number(++boundaryCount);
    };

    QList<Part> bodies;
    if (!m.text.isEmpty() || m.html.isEmpty())
        bodies.append(textPart(m.text, "plain"));
    if (!m.html.isEmpty())
        bodies.append(textPart(m.html, "html"));
    Part content =
        bodies.size() == 1 ? bodies.first() : multipart("alternative", boundary(), bodies);

    QList<Part> inlines;
    QList<Part> attached;
    for (const Attachment &a : m.attachments)
        (a.inlineId.isEmpty() ? attached : inlines).append(attachmentPart(a));
    if (!inlines.isEmpty()) {
        inlines.prepend(content);
        content = multipart("related", boundary(), inlines);
    }
    if (!attached.isEmpty()) {
        attached.prepend(content);
        content = multipart("mixed", boundary(), attached);
    }

    QByteArray head;
    head += "From: " + encodeAddress(m.from) + "\r\n";
    if (!m.to.isEmpty())
        head += "To: " + addressList(m.to, 4) + "\r\n";
    if (!m.cc.isEmpty())
        head += "Cc: " + addressList(m.cc, 4) + "\r\n";
    if (!m.replyTo.isEmpty())
        head += "Reply-To: " + encodeAddress(m.replyTo) + "\r\n";
    head += "Subject: " + encodeHeaderText(m.subject, 9) + "\r\n";
    head += "Date: " + rfc5322Date(m.date) + "\r\n";
    head += "Message-ID: " + m.messageId.toUtf8() + "\r\n";
    for (const auto &[name, value] : m.headers)
        head += name.toLatin1() + ": " + encodeHeaderText(value, int(name.size()) + 2) + "\r\n";
    head += "MIME-Version: 1.0\r\n";
    QByteArray mime = head + content.headers + "\r\n" + content.body;
    if (!mime.endsWith("\r\n"))
        mime += "\r\n";
    return mime;
}

} // namespace Berth::Mail
