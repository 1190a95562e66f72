#include "mailmessage.h"

#include <QJsonArray>

namespace Berth::Mail {

using namespace Qt::StringLiterals;

namespace {

bool hasLineBreakOrNul(const QString &text)
{
    for (QChar c : text) {
        if (c == u'\r' || c == u'\n' || c == QChar(0))
            return true;
    }
    return false;
}

bool isAtext(QChar c)
{
    if (c.unicode() >= 0x80)
        return false;
    if (c.isLetterOrNumber())
        return true;
    return QStringView(u"!#$%&'*+-/=?^_`{|}~").contains(c);
}

bool isValidAddrSpec(QStringView spec)
{
    const qsizetype at = spec.lastIndexOf(u'@');
    if (at <= 0 || at == spec.size() - 1 || spec.size() > 254)
        return false;
    const QStringView local = spec.first(at);
    const QStringView domain = spec.sliced(at + 1);
    if (local.size() > 64 || local.startsWith(u'.') || local.endsWith(u'.') ||
        local.contains(u".."_s))
        return false;
    for (QChar c : local) {
        if (c != u'.' && !isAtext(c))
            return false;
    }
    if (domain.startsWith(u'[')) // address literal: [192.0.2.1]
        return domain.endsWith(u']') && domain.size() > 2;
    const auto labels = domain.split(u'.');
    for (QStringView label : labels) {
        if (label.isEmpty() || label.size() > 63 || label.startsWith(u'-') || label.endsWith(u'-'))
            return false;
        for (QChar c : label) {
            if (c.unicode() >= 0x80 || !(c.isLetterOrNumber() || c == u'-'))
                return false;
        }
    }
    return true;
}

QJsonArray toArray(const QStringList &list)
{
    return QJsonArray::fromStringList(list);
}

bool readAddressList(const QJsonValue &value, const QString &field, QStringList *out,
                     QString *error)
{
    if (value.isUndefined() || value.isNull())
        return true;
    if (value.isString()) {
        *out = splitAddressList(value.toString());
        return true;
    }
    if (!value.isArray()) {
        *error = u"%1: a list of addresses or a comma-separated string"_s.arg(field);
        return false;
    }
    for (const QJsonValue &v : value.toArray()) {
        if (!v.isString()) {
            *error = u"%1: every address is a string"_s.arg(field);
            return false;
        }
        const QString trimmed = v.toString().trimmed();
        if (!trimmed.isEmpty())
            out->append(trimmed);
    }
    return true;
}

bool readString(const QJsonObject &object, const QString &field, QString *out, QString *error)
{
    const QJsonValue value = object.value(field);
    if (value.isUndefined() || value.isNull())
        return true;
    if (!value.isString()) {
        *error = u"%1: a string"_s.arg(field);
        return false;
    }
    *out = value.toString();
    return true;
}

} // namespace

QString envelopeAddress(const QString &address)
{
    const QString trimmed = address.trimmed();
    const qsizetype open = trimmed.lastIndexOf(u'<');
    if (open < 0)
        return trimmed.contains(u'<') || trimmed.contains(u'>') || trimmed.contains(u' ')
                   ? QString()
                   : trimmed;
    if (!trimmed.endsWith(u'>'))
        return QString();
    return trimmed.mid(open + 1, trimmed.size() - open - 2).trimmed();
}

bool isValidAddress(const QString &address)
{
    if (hasLineBreakOrNul(address))
        return false;
    for (QChar c : address) {
        if (c.unicode() < 0x20 || c.unicode() == 0x7f)
            return false;
    }
    const QString spec = envelopeAddress(address);
    return !spec.isEmpty() && isValidAddrSpec(spec);
}

QStringList splitAddressList(const QString &list)
{
    QStringList out;
    QString current;
    bool quoted = false;
    bool angle = false;
    for (qsizetype i = 0; i < list.size(); ++i) {
        const QChar c = list[i];
        if (c == u'"' && !angle)
            quoted = !quoted;
        else if (c == u'<' && !quoted)
            angle = true;
        else if (c == u'>' && !quoted)
            angle = false;
        if (c == u',' && !quoted && !angle) {
            if (!current.trimmed().isEmpty())
                out.append(current.trimmed());
            current.clear();
            continue;
        }
        current += c;
    }
    if (!current.trimmed().isEmpty())
        out.append(current.trimmed());
    return out;
}

QStringList Message::recipients() const
{
    QStringList out;
    for (const QStringList *list : {&to, &cc, &bcc}) {
        for (const QString &address : *list) {
            const QString spec = envelopeAddress(address);
            if (!spec.isEmpty() && !out.contains(spec, Qt::CaseInsensitive))
                out.append(spec);
        }
    }
    return out;
}

qint64 Message::size() const
{
    qint64 total = subject.toUtf8().size() + text.toUtf8().size() + html.toUtf8().size();
    for (const auto &header : headers)
        total += header.first.size() + header.second.toUtf8().size() + 4;
    for (const Attachment &a : attachments)
        total += a.content.size() + a.filename.size() + a.contentType.size();
    for (const QStringList *list : {&to, &cc, &bcc})
        for (const QString &address : *list)
            total += address.size() + 2;
    return total;
}

QJsonObject Message::toJson() const
{
    QJsonObject o;
    o.insert(u"from"_s, from);
    o.insert(u"to"_s, toArray(to));
    o.insert(u"cc"_s, toArray(cc));
    o.insert(u"bcc"_s, toArray(bcc));
    o.insert(u"reply_to"_s, replyTo);
    o.insert(u"subject"_s, subject);
    o.insert(u"text"_s, text);
    o.insert(u"html"_s, html);
    QJsonArray headerList;
    for (const auto &header : headers)
        headerList.append(QJsonArray{header.first, header.second});
    o.insert(u"headers"_s, headerList);
    QJsonArray attachmentList;
    for (const Attachment &a : attachments) {
        attachmentList.append(QJsonObject{
            {u"filename"_s, a.filename},
            {u"content_type"_s, a.contentType},
            {u"content_base64"_s, QString::fromLatin1(a.content.toBase64())},
            {u"inline_id"_s, a.inlineId},
        });
    }
    o.insert(u"attachments"_s, attachmentList);
    o.insert(u"id"_s, id);
    o.insert(u"message_id"_s, messageId);
    o.insert(u"date"_s, date.toUTC().toString(Qt::ISODate));
    return o;
}

std::optional<Message> Message::fromJson(const QJsonObject &o, QString *error)
{
    Message m;
    QString ignored;
    QString &err = error ? *error : ignored;
    if (!readString(o, u"from"_s, &m.from, &err) ||
        !readAddressList(o.value(u"to"_s), u"to"_s, &m.to, &err) ||
        !readAddressList(o.value(u"cc"_s), u"cc"_s, &m.cc, &err) ||
        !readAddressList(o.value(u"bcc"_s), u"bcc"_s, &m.bcc, &err) ||
        !readString(o, u"reply_to"_s, &m.replyTo, &err) ||
        !readString(o, u"subject"_s, &m.subject, &err) ||
        !readString(o, u"text"_s, &m.text, &err) || !readString(o, u"html"_s, &m.html, &err) ||
        !readString(o, u"id"_s, &m.id, &err) || !readString(o, u"message_id"_s, &m.messageId, &err))
        return std::nullopt;
    m.from = m.from.trimmed();
    m.replyTo = m.replyTo.trimmed();
    const QJsonValue headers = o.value(u"headers"_s);
    if (headers.isObject()) {
        const QJsonObject h = headers.toObject();
        for (auto it = h.begin(); it != h.end(); ++it) {
            if (!it.value().isString()) {
                err = u"headers: %1: a string"_s.arg(it.key());
                return std::nullopt;
            }
            m.headers.append({it.key(), it.value().toString()});
        }
    } else if (headers.isArray()) { // the spool's own form: [[name, value], ...], in order
        for (const QJsonValue &pair : headers.toArray()) {
            const QJsonArray a = pair.toArray();
            if (a.size() != 2 || !a[0].isString() || !a[1].isString()) {
                err = u"headers: [name, value] pairs"_s;
                return std::nullopt;
            }
            m.headers.append({a[0].toString(), a[1].toString()});
        }
    } else if (!headers.isUndefined() && !headers.isNull()) {
        err = u"headers: an object of strings"_s;
        return std::nullopt;
    }
    const QJsonValue attachments = o.value(u"attachments"_s);
    if (!attachments.isUndefined() && !attachments.isNull() && !attachments.isArray()) {
        err = u"attachments: a list"_s;
        return std::nullopt;
    }
    int index = 0;
    for (const QJsonValue &value : attachments.toArray()) {
        ++index;
        if (!value.isObject()) {
            err = u"attachments[%1]: an object"_s.arg(index);
            return std::nullopt;
        }
        const QJsonObject a = value.toObject();
        Attachment attachment;
        QString encoded;
        if (!readString(a, u"filename"_s, &attachment.filename, &err) ||
            !readString(a, u"content_type"_s, &attachment.contentType, &err) ||
            !readString(a, u"inline_id"_s, &attachment.inlineId, &err) ||
            !readString(a, u"content_base64"_s, &encoded, &err)) {
            err = u"attachments[%1]: "_s.arg(index) + err;
            return std::nullopt;
        }
        QByteArray raw = encoded.toLatin1();
        raw.replace("\r", "").replace("\n", "");
        const auto decoded =
            QByteArray::fromBase64Encoding(raw, QByteArray::AbortOnBase64DecodingErrors);
        if (!decoded) {
            err = u"attachments[%1]: content_base64 is not valid base64"_s.arg(index);
            return std::nullopt;
        }
        attachment.content = *decoded;
        if (attachment.contentType.isEmpty())
            attachment.contentType = u"application/octet-stream"_s;
        m.attachments.append(attachment);
    }
    const QString date = o.value(u"date"_s).toString();
    if (!date.isEmpty())
        m.date = QDateTime::fromString(date, Qt::ISODate);
    return m;
}

QString validate(const Message &m, qint64 maxBytes)
{
    if (m.to.isEmpty() && m.cc.isEmpty() && m.bcc.isEmpty())
        return u"no recipient (to, cc or bcc)"_s;
    if (m.from.isEmpty())
        return u"from: missing"_s;
    if (hasLineBreakOrNul(m.from) || hasLineBreakOrNul(m.replyTo))
        return u"from/reply_to: line break in an address (header injection)"_s;
    if (!isValidAddress(m.from))
        return u"from: '%1' is not a valid address"_s.arg(m.from.simplified());
    if (!m.replyTo.isEmpty() && !isValidAddress(m.replyTo))
        return u"reply_to: '%1' is not a valid address"_s.arg(m.replyTo.simplified());
    const QPair<const char *, const QStringList *> lists[] = {
        {"to", &m.to}, {"cc", &m.cc}, {"bcc", &m.bcc}};
    for (const auto &[field, list] : lists) {
        for (const QString &address : *list) {
            if (hasLineBreakOrNul(address))
                return u"%1: line break in an address (header injection)"_s.arg(
                    QLatin1StringView(field));
            if (!isValidAddress(address))
                return u"%1: '%2' is not a valid address"_s.arg(QLatin1StringView(field),
                                                                address.simplified());
        }
    }
    if (hasLineBreakOrNul(m.subject))
        return u"subject: line break in a header value (header injection)"_s;
    static const QStringList reserved = {u"from"_s,         u"to"_s,
                                         u"cc"_s,           u"bcc"_s,
                                         u"subject"_s,      u"date"_s,
                                         u"message-id"_s,   u"mime-version"_s,
                                         u"content-type"_s, u"content-transfer-encoding"_s,
                                         u"reply-to"_s};
    for (const auto &[name, value] : m.headers) {
        if (name.isEmpty())
            return u"headers: empty field name"_s;
        for (QChar c : name) {
            if (c.unicode() <= 0x20 || c.unicode() >= 0x7f || c == u':')
                return u"headers: '%1' is not a valid field name"_s.arg(name.simplified());
        }
        if (reserved.contains(name.toLower()))
            return u"headers: %1 is set from the message's own fields"_s.arg(name);
        if (hasLineBreakOrNul(value))
            return u"headers: %1: line break in a header value (header injection)"_s.arg(name);
    }
    for (const Attachment &a : m.attachments) {
        if (hasLineBreakOrNul(a.filename) || hasLineBreakOrNul(a.contentType) ||
            hasLineBreakOrNul(a.inlineId))
            return u"attachments: line break in a filename, content_type or inline_id"_s;
        if (a.contentType.count(u'/') != 1 || a.contentType.contains(u' ') ||
            a.contentType.contains(u'"') || a.contentType.contains(u';'))
            return u"attachments: '%1' is not a media type"_s.arg(a.contentType);
        if (a.inlineId.contains(u'<') || a.inlineId.contains(u'>') || a.inlineId.contains(u' '))
            return u"attachments: inline_id '%1' must not contain <, > or spaces"_s.arg(a.inlineId);
    }
    if (m.size() > maxBytes)
        return u"message of %1 bytes is over max_message_bytes (%2)"_s.arg(m.size()).arg(maxBytes);
    return QString();
}

} // namespace Berth::Mail
