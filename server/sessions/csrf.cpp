#include "csrf.h"

#include "http/requesthead.h"

#include <crypto/cryptoutil.h>

namespace Berth::Sessions::Csrf {

bool isSafeMethod(QByteArrayView method)
{
    return method == "GET" || method == "HEAD" || method == "OPTIONS" || method == "TRACE";
}

bool isUrlEncodedForm(QByteArrayView contentType)
{
    const qsizetype semicolon = contentType.indexOf(';');
    const QByteArrayView type =
        (semicolon < 0 ? contentType : contentType.first(semicolon)).trimmed();
    return Http::equalsIgnoreCase(type, "application/x-www-form-urlencoded");
}

QByteArray formField(QByteArrayView body, QByteArrayView name)
{
    auto decode = [](QByteArrayView text) {
        QByteArray bytes = text.toByteArray();
        bytes.replace('+', ' ');
        return QByteArray::fromPercentEncoding(bytes);
    };
    QByteArrayView rest = body;
    while (!rest.isEmpty()) {
        const qsizetype amp = rest.indexOf('&');
        const QByteArrayView pair = amp < 0 ? rest : rest.first(amp);
        rest = amp < 0 ? QByteArrayView() : rest.sliced(amp + 1);
        const qsizetype equals = pair.indexOf('=');
        const QByteArrayView key = equals < 0 ? pair : pair.first(equals);
        if (decode(key) != name)
            continue;
        QByteArray value = equals < 0 ? QByteArray("") : decode(pair.sliced(equals + 1));
        if (value.isNull())
            value = QByteArray("");
        return value;
    }
    return QByteArray();
}

bool tokenMatches(QByteArrayView expected, QByteArrayView presented)
{
    return !expected.isEmpty() && !presented.isEmpty() &&
           Crypto::constantTimeEquals(expected, presented);
}

} // namespace Berth::Sessions::Csrf
