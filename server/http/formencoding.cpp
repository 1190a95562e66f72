#include "formencoding.h"

namespace Berth::Http {

int hexDigitValue(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

QByteArray decodeFormComponent(QByteArrayView raw)
{
    QByteArray bytes;
    bytes.reserve(raw.size());
    for (qsizetype i = 0; i < raw.size(); ++i) {
        const char c = raw[i];
        if (c == '+') {
            bytes += ' ';
        } else if (c == '%' && i + 2 < raw.size() && hexDigitValue(raw[i + 1]) >= 0 &&
                   hexDigitValue(raw[i + 2]) >= 0) {
            bytes += char(hexDigitValue(raw[i + 1]) * 16 + hexDigitValue(raw[i + 2]));
            i += 2;
        } else {
            bytes += c;
        }
    }
    return bytes;
}

QByteArray formValue(QByteArrayView data, QByteArrayView name)
{
    QByteArray found;
    bool done = false;
    forEachFormPair(data, [&](QByteArrayView key, QByteArrayView value) {
        if (done || decodeFormComponent(key) != name)
            return;
        done = true;
        found = decodeFormComponent(value);
        if (found.isNull())
            found = QByteArray("");
    });
    return found;
}

} // namespace Berth::Http
