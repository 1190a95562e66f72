#pragma once

// Building blocks of the built-in schema (schema.cpp and the schema*.cpp files beside it, one per
// feature area, so that each area's sections and keys live in one place). Internal to
// common/config.

#include "schema.h"

#include <optional>

namespace Berth::Config::SchemaBuilder {

using namespace Qt::StringLiterals;

inline KeySpec key(const QString &name, ValueType type, const QString &defaultValue,
                   const QString &description)
{
    KeySpec spec;
    spec.name = name;
    spec.type = type;
    spec.defaultValue = defaultValue;
    spec.description = description;
    return spec;
}

inline KeySpec required(KeySpec spec)
{
    spec.required = true;
    return spec;
}

inline KeySpec range(KeySpec spec, qint64 minimum, std::optional<qint64> maximum = std::nullopt)
{
    spec.minimum = minimum;
    spec.maximum = maximum;
    return spec;
}

inline KeySpec secret(KeySpec spec)
{
    spec.secret = true;
    return spec;
}

inline SectionSpec section(const QString &pattern, const QString &description,
                           const QList<KeySpec> &keys)
{
    SectionSpec spec;
    spec.pattern = pattern;
    spec.description = description;
    spec.keys = keys;
    return spec;
}

inline SectionSpec rawLines(SectionSpec spec)
{
    spec.rawLines = true;
    return spec;
}

} // namespace Berth::Config::SchemaBuilder

namespace Berth::Config {

// Each feature area adds its sections (and built-in apps) to the schema, in documentation order.
void addSocketAppSchema(Schema &schema); // [tcp:*], [udp:*]     (schemasocketapps.cpp)
void addDaemonSchema(Schema &schema);    // [daemon:*]           (schemadaemons.cpp)
void addCronSchema(Schema &schema);      // [crontab:line], [cron] (schemacron.cpp)
void addMailSchema(Schema &schema);      // [mailer], berth.mail (schemamail.cpp)
void addGatewaySchema(Schema &schema);   // [@*], [api-gateway]  (schemagateway.cpp)
void addWsgiSchema(Schema &schema);      // berth.wsgi           (schemawsgi.cpp)
void addAdminSchema(Schema &schema);     // [admin]              (schemaadmin.cpp)
void addComposeSchema(Schema &schema);   // berth.compose        (schemacompose.cpp)
void addRateLimitSchema(Schema &schema); // berth.rate_limit     (schemaratelimit.cpp)
// `rate` and `rate_key`, for every section that limits requests (schemaratelimit.cpp).
QList<KeySpec> rateLimitKeys(bool rateRequired);

} // namespace Berth::Config
