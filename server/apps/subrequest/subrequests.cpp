#include "subrequests.h"

#include "apps/proxy/proxyapp.h"

#include "pipeline/appregistry.h"

#include <QMetaObject>

namespace Berth::Subrequests {

std::unique_ptr<GroupTarget> GroupTarget::open(const QString &group,
                                               const Pipeline::AppSetup &setup)
{
    std::shared_ptr<Gateway::GroupRuntime> runtime = Gateway::openGroup(group, setup);
    if (!runtime)
        return nullptr;
    std::unique_ptr<GroupTarget> target(new GroupTarget);
    target->m_name = group;
    target->m_app = std::make_unique<Gateway::ProxyApp>(std::move(runtime));
    target->m_app->setName(group);
    target->m_chain = Pipeline::Pipeline({target->m_app.get()});
    return target;
}

GroupTarget::~GroupTarget() = default;

QByteArrayView Result::header(QByteArrayView name) const
{
    for (const auto &[key, value] : headers) {
        if (Http::equalsIgnoreCase(key, name))
            return value;
    }
    return {};
}

void Batch::start(Http::Exchange &parent, std::vector<Call> calls, BatchOptions options, Done done)
{
    auto *batch = new Batch(parent, std::move(options), std::move(done));
    batch->launch(calls);
}

Batch::Batch(Http::Exchange &parent, BatchOptions options, Done done)
    : m_parent(parent.handle())
    , m_options(std::move(options))
    , m_done(std::move(done))
{
    parent.setAbortHandler([this] { clientGone(); });
}

Batch::~Batch() = default;

void Batch::launch(std::vector<Call> &calls)
{
    Http::Exchange &parent = *m_parent.get();
    Http::Request &request = parent.request();
    m_slots.resize(calls.size());
    m_pending = calls.size();
    SubrequestCount &count = request.attributes.getOrSet<SubrequestCount>();
    const Http::RequestRouter *router =
        m_options.router ? m_options.router : Http::RequestRouter::forCurrentThread();
    if (m_options.deadline.count() > 0) {
        parent.runAfter(m_options.deadline.count(), [this, alive = m_alive] {
            if (!*alive)
                return;
            for (size_t i = 0; i < m_slots.size(); ++i)
                fail(i, QStringLiteral("deadline"));
        });
    }
    // Every call is created (and its clock started) before any runs: an app that answers at
    // once must not be charged for the set-up of the calls after it.
    for (size_t i = 0; i < calls.size(); ++i) {
        const Call &call = calls[i];
        LocalRequest local{call.method, call.target,  call.headers,
                           call.body,   call.inherit, call.maxBody};
        QByteArray txn = request.txnId + '-' + QByteArray::number(++count.issued);
        Slot &slot = m_slots[i];
        slot.exchange = std::make_unique<LocalExchange>(request, local, std::move(txn));
        slot.exchange->setCompletionHandler([this, i] {
            // Queued: the app that completed the call is still on the stack.
            QMetaObject::invokeMethod(
                this, [this, i] { finished(i); }, Qt::QueuedConnection);
        });
        slot.clock.start();
        if (call.timeout.count() > 0) {
            parent.runAfter(call.timeout.count(), [this, i, alive = m_alive] {
                if (*alive)
                    fail(i, QStringLiteral("timeout"));
            });
        }
    }
    for (size_t i = 0; i < calls.size(); ++i) {
        LocalExchange &exchange = *m_slots[i].exchange;
        const Http::AppChain *chain = nullptr;
        int from = 0;
        if (calls[i].group) {
            chain = calls[i].group->chain();
        } else if (calls[i].chain) {
            chain = calls[i].chain;
            from = calls[i].chainIndex;
        } else if (router && exchange.valid() && exchange.routable()) {
            Http::Request &own = exchange.request();
            Http::RequestRouter::Match match = router->resolve(own.hostName, own.path);
            own.scriptName = std::move(match.scriptName);
            own.pathInfo = std::move(match.pathInfo);
            chain = match.chain;
        }
        exchange.run(chain, from);
    }
    if (calls.empty())
        QMetaObject::invokeMethod(
            this, [this] { deliverIfDone(); }, Qt::QueuedConnection);
}

void Batch::finished(size_t index)
{
    Slot &slot = m_slots[index];
    if (slot.done || m_delivered)
        return;
    slot.done = true;
    LocalExchange &exchange = *slot.exchange;
    Result &result = slot.result;
    result.status = exchange.status();
    result.headers = exchange.headers();
    result.body = exchange.body();
    result.error = exchange.error();
    result.elapsedMs = slot.clock.elapsed();
    --m_pending;
    deliverIfDone();
}

void Batch::fail(size_t index, const QString &error)
{
    Slot &slot = m_slots[index];
    if (slot.done || m_delivered)
        return;
    if (slot.exchange->complete()) {
        finished(index); // it completed; its queued notice has not run yet
        return;
    }
    slot.exchange->cancel(error);
    slot.done = true;
    slot.result.status = slot.exchange->status();
    slot.result.headers = slot.exchange->headers();
    slot.result.error = error;
    slot.result.elapsedMs = slot.clock.elapsed();
    --m_pending;
    deliverIfDone();
}

void Batch::deliverIfDone()
{
    if (m_pending > 0 || m_delivered)
        return;
    m_delivered = true;
    *m_alive = false;
    std::vector<Result> results;
    results.reserve(m_slots.size());
    for (Slot &slot : m_slots)
        results.push_back(std::move(slot.result));
    if (Http::Exchange *parent = m_parent.get()) {
        parent->setAbortHandler({});
        if (m_done)
            m_done(results);
    }
    deleteLater();
}

void Batch::clientGone()
{
    if (m_delivered)
        return;
    m_delivered = true;
    *m_alive = false;
    for (Slot &slot : m_slots) {
        if (!slot.done && slot.exchange)
            slot.exchange->cancel(QStringLiteral("cancelled"));
    }
    if (m_options.onClientGone)
        m_options.onClientGone();
    deleteLater();
}

} // namespace Berth::Subrequests
