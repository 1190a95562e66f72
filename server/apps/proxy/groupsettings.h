#pragma once

#include "balancer.h"

#include <QByteArray>
#include <QList>
#include <QString>

#include <chrono>

namespace Berth::Config {
class Config;
}

namespace Berth::Gateway {

// A member group's [@NAME] section.
struct GroupSettings
{
    QString name; // "@users"
    QList<MemberSpec> members;
    Balancer::Method balance = Balancer::Method::RoundRobin;
    int keepalive = 32;
    std::chrono::milliseconds keepaliveTimeout{60000};
    std::chrono::milliseconds connectTimeout{5000};
    std::chrono::milliseconds responseTimeout{60000};
    std::chrono::milliseconds readTimeout{60000};
    std::chrono::milliseconds queueTimeout{5000};
    int retries = 1;
    int maxFails = 1;
    std::chrono::milliseconds failTimeout{10000};
    bool ssl = false;
    bool sslVerify = true;
    QString sslCa;
    QString sslCert;
    QString sslKey;
    QString sslName;                       // SNI and verified name; empty: the member's host
    QString host = QStringLiteral("pass"); // pass | member | a name
    bool stripPrefix = false;
    bool via = false;

    // Reads [section]; problems are recorded as diagnostics at the key's file:line. False when
    // the group can't serve.
    static bool fromConfig(const Config::Config &config, const QString &section,
                           GroupSettings *settings);
};

} // namespace Berth::Gateway
