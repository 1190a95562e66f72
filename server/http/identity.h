#pragma once

#include "request.h"

#include <QString>

namespace Berth::Http {

// Who made the request, as an auth app found out: a request attribute (see RequestAttributes)
// that request.log and cef.log read, so it is declared here rather than by one auth app.
// Absent until an app sets it; request.log then writes "-" for both fields.
struct Identity
{
    QString user;  // set by an auth app (berth.basic_auth)
    QString token; // an API token, when a gateway app found one
};

// The request's user, empty when no app identified one.
inline QString userOf(const Request &request)
{
    const Identity *identity = request.attributes.get<Identity>();
    return identity ? identity->user : QString();
}

} // namespace Berth::Http
