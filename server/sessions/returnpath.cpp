#include "returnpath.h"

#include <QList>

namespace Berth::Sessions {

namespace {

// The structural checks, applied to the value and to its once-more-decoded form.
bool isLocalPath(QByteArrayView value, QByteArrayView scriptName)
{
    if (value.isEmpty() || value.front() != '/')
        return false;
    if (value.size() > 1 && (value[1] == '/' || value[1] == '\\'))
        return false;
    for (const char c : value) {
        const uchar u = uchar(c);
        if (u <= 0x20 || u == 0x7f || c == '\\')
            return false;
    }
    qsizetype end = value.size();
    for (const char stop : {'?', '#'}) {
        const qsizetype at = value.indexOf(stop);
        if (at >= 0 && at < end)
            end = at;
    }
    const QByteArrayView path = value.first(end);
    // Dot segments would climb out of the mount ("/app/../other").
    for (const QByteArrayView segment : QByteArray(path.toByteArray()).split('/')) {
        if (segment == "." || segment == "..")
            return false;
    }
    if (!scriptName.isEmpty()) {
        if (!path.startsWith(scriptName))
            return false;
        if (path.size() > scriptName.size() && path[scriptName.size()] != '/')
            return false;
    }
    return true;
}

} // namespace

QByteArray safeReturnPath(QByteArrayView decoded, QByteArrayView scriptName)
{
    if (decoded.size() > 4096 || !isLocalPath(decoded, scriptName))
        return QByteArray();
    const QByteArray again = QByteArray::fromPercentEncoding(decoded.toByteArray());
    if (again != decoded && !isLocalPath(again, scriptName))
        return QByteArray();
    QByteArray location;
    location.reserve(decoded.size());
    for (const char c : decoded) {
        const uchar u = uchar(c);
        if (u >= 0x80) {
            static const char hex[] = "0123456789ABCDEF";
            location += '%';
            location += hex[u >> 4];
            location += hex[u & 15];
        } else {
            location += c;
        }
    }
    return location;
}

} // namespace Berth::Sessions
