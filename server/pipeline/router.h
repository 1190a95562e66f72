#pragma once

#include "http/exchange.h"
#include "pipeline.h"

#include <QByteArray>
#include <QList>

#include <memory>
#include <vector>

namespace Berth::Config {
class Config;
}

namespace Berth::Core {
class ServerContext;
}

namespace Berth::Pipeline {

class AppRegistry;

// Maps (host, path) to the pipeline mounted there, from [routes:line] (Skitai's syntax):
//   /path = /a/dir        static files under a directory
//   /path = name [name]   the [app:NAME] apps, as a pipeline in that order
//   @ host1 host2         starts a virtual-host block: exact names
//   @ .example.org        example.org and every subdomain
//   @ *.example.org       subdomains only
// Mount points match on whole path segments, longest first. Routes before the first `@` line
// serve requests whose host matches no block. A Router owns its apps; each event-loop thread
// has its own Router, so apps never need locks.
class Router final : public Http::RequestRouter
{
public:
    struct Match
    {
        const Pipeline *pipeline = nullptr;
        QByteArray scriptName; // the mount point ("" for "/")
        QByteArray pathInfo;   // the rest of the path, starting with '/'
    };

    // Builds the routes and their apps. Problems (unknown app, missing directory, bad line) are
    // reported as diagnostics on config naming the routes file:line; the router is still
    // returned, without the broken routes. Building has no side effect (no file is created),
    // so `berthd check` and the master's pre-flight can build routers to validate them.
    static std::unique_ptr<Router> build(const Config::Config &config, const AppRegistry &registry,
                                         Core::ServerContext *server);
    // Starts every app (App::start), once the process runs as the configured user; stops at
    // the first that fails, with *error.
    bool start(QString *error);

    // hostName: lower-case, no port. path: decoded and normalised.
    Match route(QByteArrayView hostName, QByteArrayView path) const;
    // The same, as the engine sees it.
    Http::RequestRouter::Match resolve(QByteArrayView hostName, QByteArrayView path) const override;
    const Http::AppChain *resolveInto(QByteArrayView hostName, QByteArrayView path,
                                      QByteArray &scriptName, QByteArray &pathInfo) const override;

    int routeCount() const;
    ~Router();

private:
    struct Mount
    {
        QByteArray prefix; // "/echo"; "" for the root
        Pipeline pipeline;
    };
    struct HostBlock
    {
        std::vector<QByteArray> exact;          // "www.example.com"
        std::vector<QByteArray> domains;        // ".example.org": the domain and its subdomains
        std::vector<QByteArray> subdomainsOnly; // "*.example.org" stored as ".example.org"
        std::vector<Mount> mounts;              // sorted longest prefix first
    };

    const HostBlock *findHost(QByteArrayView hostName) const;
    const Mount *findMount(QByteArrayView hostName, QByteArrayView path) const;

    HostBlock m_default;
    std::vector<HostBlock> m_hosts;
    std::vector<std::unique_ptr<App>> m_apps;
};

} // namespace Berth::Pipeline
