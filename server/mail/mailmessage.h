#pragma once

#include <QByteArray>
#include <QDateTime>
#include <QJsonObject>
#include <QList>
#include <QPair>
#include <QString>
#include <QStringList>

#include <optional>

namespace Berth::Mail {

// One attachment; with inlineId it is an inline part (Content-ID: <inlineId>) that the HTML
// refers to as cid:inlineId.
struct Attachment
{
    QString filename;
    QString contentType;
    QByteArray content; // decoded bytes
    QString inlineId;
};

// A message as apps hand it over (Skitai's was.email fields; the JSON contract in docs/mail.md).
// Addresses are "local@domain" or "Display Name <local@domain>".
struct Message
{
    QString from;
    QStringList to;
    QStringList cc;
    QStringList bcc;
    QString replyTo;
    QString subject;
    QString text;
    QString html;
    QList<QPair<QString, QString>> headers; // extra header fields, in order
    QList<Attachment> attachments;

    // Set by the spool when the message is queued; stable across every delivery attempt.
    QString id;        // spool id, also the local part of messageId
    QString messageId; // "<id@host>"
    QDateTime date;    // when it was queued (the Date header)

    // Envelope recipients: the bare addresses of to, cc and bcc, duplicates removed.
    QStringList recipients() const;
    // Bytes the message takes before MIME encoding (bodies, decoded attachments, headers).
    qint64 size() const;

    // The contract shape plus id, message_id and date; attachments as content_base64.
    QJsonObject toJson() const;
    // Reads the contract shape (`to` may be a list or a comma-separated string). Structural
    // errors only (wrong types, bad base64); validate() checks the content.
    static std::optional<Message> fromJson(const QJsonObject &object, QString *error);
};

// The address part of "Name <a@b>" or "a@b"; empty when the form is wrong.
QString envelopeAddress(const QString &address);
// A well-formed address (ASCII addr-spec, optional display name, no control characters).
bool isValidAddress(const QString &address);
// Splits "a@x, \"Doe, J\" <j@y>" at the commas outside quotes and angle brackets.
QStringList splitAddressList(const QString &list);

// Why the message must not be queued, or an empty string: no recipient, a malformed address,
// CR/LF/NUL in a header value or an address (header injection), a bad header name, or over
// maxBytes.
QString validate(const Message &message, qint64 maxBytes);

} // namespace Berth::Mail
