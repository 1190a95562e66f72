#include "faultapp.h"

#include "http/exchange.h"

#include <config/config.h>

#include <QLoggingCategory>
#include <QThread>

#include <atomic>
#include <cstdlib>
#include <stdexcept>

Q_LOGGING_CATEGORY(lcFault, "berth.app.fault")

namespace Berth::Apps {

namespace {

// Abort handler runs of read_body in this process, for the `aborts` mode to report.
std::atomic<int> &abortCount()
{
    static std::atomic<int> count{0};
    return count;
}

} // namespace

Pipeline::Outcome FaultApp::handle(Http::Exchange &exchange)
{
    switch (m_mode) {
    case Mode::Throw:
        // The exchange dies before this app finished it: the engine runs its abort handler.
        exchange.setAbortHandler([] { abortCount().fetch_add(1, std::memory_order_relaxed); });
        throw std::runtime_error("berth.fault: deliberate failure");
    case Mode::ThrowAfterStart:
        exchange.response().setHeader("Content-Type", "text/plain");
        exchange.startResponse(-1);
        exchange.write("partial");
        throw std::runtime_error("berth.fault: deliberate failure mid-response");
    case Mode::Never:
        break;
    case Mode::Slow: {
        // The exchange runs the timer, so it dies with the exchange; the handle is null by then
        // anyway if the client went away.
        Http::ExchangeHandle handle = exchange.handle();
        exchange.runAfter(m_delayMs, [handle] {
            if (Http::Exchange *ex = handle.get())
                ex->respond(200, "text/plain", QByteArrayLiteral("slow\n"));
        });
        break;
    }
    case Mode::ThrowAsync:
        exchange.runAfter(m_delayMs, [] {
            throw std::runtime_error("berth.fault: deliberate failure in a timer");
        });
        break;
    case Mode::ThrowInBody:
        exchange.readBody(
            [](QByteArrayView) {
                throw std::runtime_error("berth.fault: deliberate failure in body data");
            },
            [] {});
        break;
    case Mode::ReadBody: {
        Http::ExchangeHandle handle = exchange.handle();
        const qint64 delay = m_delayMs;
        exchange.setAbortHandler([handle] {
            const int n = abortCount().fetch_add(1, std::memory_order_relaxed) + 1;
            qCInfo(lcFault) << "abort handler ran for txn"
                            << (handle ? handle->request().txnId : QByteArray("?")) << "count" << n;
        });
        exchange.readBody(
            [handle, delay](QByteArrayView) {
                // Pause after each piece, as a slow consumer would, and resume later.
                if (Http::Exchange *ex = handle.get()) {
                    ex->pauseBody();
                    ex->runAfter(delay, [handle] {
                        if (Http::Exchange *ex = handle.get())
                            ex->resumeBody();
                    });
                }
            },
            [handle] {
                if (Http::Exchange *ex = handle.get())
                    ex->respond(200, "text/plain", QByteArrayLiteral("read\n"));
            });
        break;
    }
    case Mode::Aborts:
        exchange.respond(
            200, "text/plain",
            "aborts " + QByteArray::number(abortCount().load(std::memory_order_relaxed)) + '\n');
        break;
    case Mode::Block:
        QThread::msleep(quint64(m_delayMs));
        exchange.respond(200, "text/plain", QByteArrayLiteral("unblocked\n"));
        break;
    case Mode::Crash:
        std::abort();
    case Mode::Segv: {
        // A wild write, as a use-after-free would do; volatile so it is not optimised away.
        volatile int *nowhere = nullptr;
        *nowhere = 1;
        break;
    }
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
        else if (mode == QLatin1String("segv"))
            m = FaultApp::Mode::Segv;
        else if (mode == QLatin1String("throw_async"))
            m = FaultApp::Mode::ThrowAsync;
        else if (mode == QLatin1String("throw_in_body"))
            m = FaultApp::Mode::ThrowInBody;
        else if (mode == QLatin1String("read_body"))
            m = FaultApp::Mode::ReadBody;
        else if (mode == QLatin1String("aborts"))
            m = FaultApp::Mode::Aborts;
        using namespace std::chrono_literals;
        const qint64 delay =
            setup.config.getDuration(setup.section, QStringLiteral("delay")).count();
        return std::unique_ptr<Pipeline::App>(std::make_unique<FaultApp>(m, delay));
    });
}

} // namespace Berth::Apps
