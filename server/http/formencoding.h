#pragma once

#include <QByteArray>
#include <QByteArrayView>

namespace Berth::Http {

// application/x-www-form-urlencoded bodies and query strings, as browsers and Python's urllib
// write them. One implementation for the stats app's ?callback=, the CSRF form field and the
// log collector's records.

// 0-15 for a hex digit, -1 otherwise.
int hexDigitValue(char c);

// Python's unquote_plus: '+' is a space, %XX a byte, and a '%' not followed by two hex digits
// stays as it is (QByteArray::fromPercentEncoding would turn "%zz" into garbage).
QByteArray decodeFormComponent(QByteArrayView raw);

// Calls f(rawKey, rawValue) for each '&'-separated pair (still encoded; a pair without '='
// has a null value), in order, empty pairs skipped.
template <typename F> void forEachFormPair(QByteArrayView data, F &&f)
{
    qsizetype start = 0;
    while (start < data.size()) {
        qsizetype end = data.indexOf('&', start);
        if (end < 0)
            end = data.size();
        const QByteArrayView pair = data.sliced(start, end - start);
        start = end + 1;
        if (pair.isEmpty())
            continue;
        const qsizetype eq = pair.indexOf('=');
        f(eq < 0 ? pair : pair.first(eq), eq < 0 ? QByteArrayView() : pair.sliced(eq + 1));
    }
}

// The decoded value of the first field called name; a null QByteArray when there is none, an
// empty (not null) one for "name=" or "name".
QByteArray formValue(QByteArrayView data, QByteArrayView name);

} // namespace Berth::Http
