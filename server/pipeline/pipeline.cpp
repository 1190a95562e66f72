#include "pipeline.h"

#include "http/exchange.h"

#include <QLoggingCategory>

#include <exception>

Q_LOGGING_CATEGORY(lcPipeline, "berth.pipeline")

namespace Berth::Pipeline {

namespace {

void handleAppFailure(Http::Exchange &exchange, const App *app, const char *what)
{
    exchange.appFailed(app->name(), what);
}

} // namespace

void Pipeline::run(Http::Exchange &exchange) const
{
    runFrom(exchange, 0);
}

void Pipeline::runFrom(Http::Exchange &exchange, int index) const
{
    for (int i = index; i < int(m_apps.size()); ++i) {
        App *app = m_apps[size_t(i)];
        exchange.setPipelinePosition(this, i);
        Outcome outcome = Outcome::Answered;
        try {
            outcome = app->handle(exchange);
        } catch (const std::exception &e) {
            handleAppFailure(exchange, app, e.what());
            return;
        } catch (...) {
            handleAppFailure(exchange, app, "unknown exception");
            return;
        }
        if (outcome == Outcome::Answered)
            return;
    }
    respondWithError(exchange, 404);
}

void respondWithError(Http::Exchange &exchange, int status)
{
    QByteArray body = QByteArray::number(status);
    body += ' ';
    body += Http::reasonPhrase(status);
    body += '\n';
    exchange.respond(status, "text/plain; charset=utf-8", body);
}

} // namespace Berth::Pipeline

namespace Berth::Http {

// An app that throws must not take the connection, the worker or other requests with it
// (server-core's error catcher): log what happened with the transaction id, answer 500 with
// only the id so the operator can find the log line, never the exception text.
void Exchange::appFailed(const QString &appName, const char *what)
{
    const Http::Request &req = request();
    qCCritical(lcPipeline).noquote()
        << QStringLiteral("app '%1' failed on %2 %3 (txn %4): %5")
               .arg(appName, QString::fromLatin1(req.method()),
                    QString::fromLatin1(req.head.target), QString::fromLatin1(req.txnId),
                    QString::fromUtf8(what));
    if (responseStarted()) {
        abort();
        return;
    }
    response().clear();
    QByteArray body = QByteArrayLiteral("500 Internal Server Error\ntxn: ");
    body += req.txnId;
    body += '\n';
    respond(500, "text/plain; charset=utf-8", body);
}

void Exchange::passToNext()
{
    if (m_pipeline)
        m_pipeline->runFrom(*this, m_pipelineIndex + 1);
    else
        Pipeline::respondWithError(*this, 404);
}

} // namespace Berth::Http
