#pragma once

#include "mailmessage.h"

#include <QByteArray>
#include <QString>

namespace Berth::Mail {

// The RFC 5322 / MIME bytes of a message, CRLF line ends, ready for SMTP DATA (the SMTP client
// does the dot-stuffing). Pure: the same message gives the same bytes (boundaries derive from
// its id), so every retry sends the same message.
//
//   multipart/mixed                     when there are attachments
//     multipart/related                 when there are inline parts (inline_id)
//       multipart/alternative           when there are both text and html
//         text/plain; charset=utf-8     quoted-printable
//         text/html; charset=utf-8      quoted-printable
//       inline parts                    base64, Content-ID: <inline_id>
//     attachments                       base64, Content-Disposition: attachment
//
// Bcc is never written. Non-ASCII header text becomes RFC 2047 encoded-words, non-ASCII file
// names RFC 2231 parameters.
QByteArray composeMime(const Message &message);

// Building blocks, public for the tests.
QByteArray encodeQuotedPrintable(const QByteArray &utf8); // CRLF line ends, lines <= 76,
                                                          // no line end added at the end
QByteArray encodeBase64Lines(const QByteArray &bytes);    // 76-character lines, CRLF
// The field body as encoded-words (=?UTF-8?B?...?=, each at most 75 characters, folded) when
// text is not printable ASCII; else text as it is. nameLength: the field name and ": " before
// it, for the first line's length.
QByteArray encodeHeaderText(const QString &text, int nameLength);
// "Display Name <a@b>" with the name encoded when needed; "a@b" as it is.
QByteArray encodeAddress(const QString &address);
// RFC 5322 date: "Sun, 29 Nov 2026 23:10:39 +0000".
QByteArray rfc5322Date(const QDateTime &date);

} // namespace Berth::Mail
