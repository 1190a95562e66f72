#include "exchange.h"

#include <QLoggingCategory>

Q_LOGGING_CATEGORY(lcAppFailure, "berth.pipeline")

namespace Berth::Http {

namespace {
thread_local const RequestRouter *t_router = nullptr;
} // namespace

const RequestRouter *RequestRouter::forCurrentThread()
{
    return t_router;
}

void RequestRouter::setForCurrentThread(const RequestRouter *router)
{
    t_router = router;
}

const AppChain *RequestRouter::resolveInto(QByteArrayView hostName, QByteArrayView path,
                                           QByteArray &scriptName, QByteArray &pathInfo) const
{
    Match match = resolve(hostName, path);
    scriptName = std::move(match.scriptName);
    pathInfo = std::move(match.pathInfo);
    return match.chain;
}

void respondWithError(Exchange &exchange, int status)
{
    QByteArray body = QByteArray::number(status);
    body += ' ';
    body += reasonPhrase(status);
    body += '\n';
    exchange.respond(status, "text/plain; charset=utf-8", body);
}

// An app that throws must not take the connection, the worker or other requests with it
// (server-core's error catcher): log what happened with the transaction id, answer 500 with
// only the id so the operator can find the log line, never the exception text.
void Exchange::appFailed(const QString &appName, const char *what)
{
    const Http::Request &req = request();
    qCCritical(lcAppFailure).noquote()
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
        respondWithError(*this, 404);
}

} // namespace Berth::Http
