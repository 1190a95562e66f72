#include "csrf.h"

#include "http/formencoding.h"

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
    return Http::formValue(body, name);
}

bool tokenMatches(QByteArrayView expected, QByteArrayView presented)
{
    return !expected.isEmpty() && !presented.isEmpty() &&
           Crypto::constantTimeEquals(expected, presented);
}

} // namespace Berth::Sessions::Csrf
