// The pipeline the engine tests (HTTP/1 and HTTP/2 connections) serve: a config text whose
// [app:*] sections say `call = test.app` and `mode = ...`, each built as the test's own App.
#pragma once

#include "pipeline/appregistry.h"
#include "pipeline/router.h"

#include <config/config.h>

#include <memory>

namespace Berth::Tests {

// Builds the router over `routes`; *config keeps the configuration it reads from alive.
template <typename TestApp>
std::unique_ptr<Pipeline::Router> buildTestRouter(const char *routes,
                                                  std::unique_ptr<Config::Config> *config)
{
    Pipeline::AppRegistry registry;
    registry.add(QStringLiteral("test.app"), [](const Pipeline::AppSetup &setup) {
        return std::unique_ptr<Pipeline::App>(std::make_unique<TestApp>(
            setup.config.getString(setup.section, QStringLiteral("mode"))));
    });
    *config = std::make_unique<Config::Config>(
        Config::Config::fromText(QString::fromLatin1(routes), QStringLiteral("t.conf")));
    return Pipeline::Router::build(**config, registry, nullptr);
}

} // namespace Berth::Tests
