#pragma once

#include "admintokens.h"

#include <QByteArray>
#include <QList>
#include <QString>
#include <QStringList>

namespace Berth::Admin {

// Which AdminApi member serves an endpoint.
enum class Endpoint {
    Info,
    Children,
    Stats,
    StatsStream,
    Logs,
    Log,
    Config,
    ConfigValidate,
    ConfigPut,
    ConfigHistory,
    ConfigCanary,
    ConfigRollback,
    Reload,
    Stop,
    ChildRestart,
    DaemonAction,
    CronList,
    CronRun,
    MailList,
    MailRetry,
    KeysRotate,
    Groups,
    GroupMembers,
    GroupDrain,
    GroupPurge,
    OpenApi,
};

// One admin endpoint, as Envoy's admin handlers declare themselves: the table is the one
// source of the router, GET /api/v1/openapi.json and docs/admin-api.md.
struct HandlerSpec
{
    QByteArray method;
    QString path; // under /api/v1; {name} matches one path segment
    Scope scope;
    bool mutates; // audited in server.log and admin-audit.log
    QString help;
    Endpoint endpoint;
};

const QList<HandlerSpec> &handlerSpecs();

// The handler for method and path (path without the /api/v1 prefix), its {parameters} in
// *params. *pathKnown tells a 405 (path exists for another method) from a 404.
const HandlerSpec *findHandler(QByteArrayView method, const QString &path, QStringList *params,
                               bool *pathKnown);

// OpenAPI 3 description of the table (GET /api/v1/openapi.json).
QByteArray openApiJson();
// docs/admin-api.md, generated from the table (tst_admin checks the committed file).
QString adminApiMarkdown();

} // namespace Berth::Admin
