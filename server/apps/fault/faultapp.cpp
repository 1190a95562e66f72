#include "faultapp.h"

#include "http/exchange.h"

#include <config/config.h>

#include <QThread>
#include <QTimer>

#include <cstdlib>
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
    case Mode::Slow: {
        // The timer dies with the exchange's connection: the abort handler stops it.
        auto *timer = new QTimer;
        timer->setSingleShot(true);
        Http::Exchange *ex = &exchange;
        QObject::connect(timer, &QTimer::timeout, timer, [ex, timer] {
            ex->setAbortHandler(nullptr);
            ex->respond(200, "text/plain", QByteArrayLiteral("slow\n"));
            timer->deleteLater();
        });
        exchange.setAbortHandler([timer] { timer->deleteLater(); });
        timer->start(int(m_delayMs));
        break;
    }
    case Mode::Block:
        QThread::msleep(quint64(m_delayMs));
        exchange.respond(200, "text/plain", QByteArrayLiteral("unblocked\n"));
        break;
    case Mode::Crash:
        std::abort();
    }
    return Pipeline::Outcome::Answered;
}

void registerFaultApp(Pipeline::AppRegistry &registry)
{
    if (qEnvironmentVariable("BERTH_TEST_APPS") != QLatin1String("1"))
        return;
    registry.add(QStringLiteral("berth.fault"), [](const Pipeline::AppSetup &setup) {
        const QString mode = setup.config.getString(setup.section, QStringLiteral("mode"));
        FaultApp::Mode m = FaultApp::Mode::Throw;
        if (mode == QLatin1String("throw_after"))
            m = FaultApp::Mode::ThrowAfterStart;
        else if (mode == QLatin1String("never"))
            m = FaultApp::Mode::Never;
        else if (mode == QLatin1String("slow"))
            m = FaultApp::Mode::Slow;
        else if (mode == QLatin1String("block"))
            m = FaultApp::Mode::Block;
        else if (mode == QLatin1String("crash"))
            m = FaultApp::Mode::Crash;
        using namespace std::chrono_literals;
        const qint64 delay =
            setup.config.getDuration(setup.section, QStringLiteral("delay")).count();
        return std::unique_ptr<Pipeline::App>(std::make_unique<FaultApp>(m, delay));
    });
}

} // namespace Berth::Apps
