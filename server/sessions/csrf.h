#pragma once

#include <QByteArray>
#include <QByteArrayView>

namespace Berth::Sessions::Csrf {

// Where a request proves it came from one of the app's own pages.
inline constexpr QByteArrayView FormField = "csrftoken";
inline constexpr QByteArrayView Header = "X-CSRF-Token";
// The most of a form body the middleware reads to find the field (413 beyond).
inline constexpr qsizetype MaxFormBytes = 64 * 1024;

// GET, HEAD, OPTIONS and TRACE (RFC 9110 §9.2.1). Every other method, unknown ones included,
// may change state and must carry the token.
bool isSafeMethod(QByteArrayView method);
// application/x-www-form-urlencoded, with or without parameters.
bool isUrlEncodedForm(QByteArrayView contentType);
// The first value of field `name` in an application/x-www-form-urlencoded body, decoded ('+'
// is a space); a null QByteArray when there is no such field.
QByteArray formField(QByteArrayView body, QByteArrayView name);
// Whether a presented token is the session's: both non-empty and equal, compared in constant
// time so the comparison's timing tells nothing about a guess.
bool tokenMatches(QByteArrayView expected, QByteArrayView presented);

} // namespace Berth::Sessions::Csrf
