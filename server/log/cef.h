#pragma once

#include <QList>
#include <QPair>
#include <QString>

namespace Berth::Http {
struct Request;
}

namespace Berth::Log {

// Security events in ArcSight CEF, Mozilla server-core's log_cef():
//   CEF:0|Mozilla|Berth|<version>|<signature>|<message>|<severity>|rt=... src=... ...
// Written to cef.log under log_dir (and to syslog when enabled). Emitted for authentication
// failures, CSRF failures, gateway denials and connections closed for bad input.
//
// message: the event name ("Authentication failure"); severity: 0-10; request: where the
// request fields (src, requestMethod, request, dhost, cs1 = txn id ...) come from, may be null;
// username: suser; signature: a short stable id ("AuthFail", "CSRFFail", "BadRequest");
// extra: further extension fields (key, value), escaped as CEF requires.
void logCef(const QString &message, int severity, const Http::Request *request,
            const QString &username, const QString &signature,
            const QList<QPair<QString, QString>> &extra = {});

} // namespace Berth::Log
