#include "faultapp.h"

#include "http/exchange.h"

#include <config/config.h>

#include <stdexcept>

namespace Berth::Apps {

Pipeline::Outcome FaultApp::handle(Http::Exchange &exchange)
{
    switch (m_mode) {
    case Mode::Throw:
        throw std::runtime_error("berth.fault: deliberate failure");
    case Mode::ThrowAfterStart:
        exchange.response().setHeader("Content-Type", "text/plain");
        exchange.startResponse(-1);
        exchange.write("partial");
        throw std::runtime_error("berth.fault: deliberate failure mid-response");
    case Mode::Never:
        break;
    }
    return Pipeline::Outcome::Answered;
}

void registerFaultApp(Pipeline::AppRegistry &registry)
{
    if (qEnvironmentVariable("BERTH_TEST_APPS") != QLatin1String("1"))
        return;
    registry.add(QStringLiteral("berth.fault"), [](const Pipeline::AppSetup &setup) {
        const QString mode =
            setup.config.getString(setup.section, QStringLiteral("mode"), QStringLiteral("throw"));
        FaultApp::Mode m = FaultApp::Mode::Throw;
        if (mode == QLatin1String("throw_after"))
            m = FaultApp::Mode::ThrowAfterStart;
        else if (mode == QLatin1String("never"))
            m = FaultApp::Mode::Never;
        return std::unique_ptr<Pipeline::App>(std::make_unique<FaultApp>(m));
    });
}

} // namespace Berth::Apps
