#pragma once

#include <QByteArray>
#include <QString>

#include <functional>
#include <optional>

namespace Berth::Compose {

// One `call_NAME = [METHOD] [@group] /path?query` line of a berth.compose section, with
// `{placeholder}`s in the target still unfilled.
struct CallTemplate
{
    QString name; // "users" (the key after call_)
    QByteArray method = QByteArrayLiteral("GET");
    QString group;     // "@users"; empty: a route of this server
    QByteArray target; // "/v1/users/{user}"

    // False with *error (for a file:line diagnostic) when the line can't be a call.
    static bool parse(const QString &name, const QString &value, CallTemplate *out, QString *error);
};

// The value of a placeholder ("user", "1"), decoded; nullopt when the request has none.
using PlaceholderLookup = std::function<std::optional<QByteArray>(const QByteArray &name)>;

// Fills target's placeholders with their values percent-encoded (everything but RFC 3986
// unreserved bytes), so no value can add a field, a query parameter or a line. In the path a
// value that is empty, "." or "..", or holds '/' or '\' is refused (it would change which
// resource the path names, as "../admin" would). False with *error ("no value for {user}",
// "bad value for {user}").
bool expandTarget(const QByteArray &target, const PlaceholderLookup &lookup, QByteArray *out,
                  QString *error);

// RFC 3986 percent-encoding of every byte but ALPHA / DIGIT / "-" / "." / "_" / "~".
QByteArray percentEncode(QByteArrayView value);

} // namespace Berth::Compose
