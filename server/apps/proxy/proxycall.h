#pragma once

#include "upstream/upstreamconnection.h"

#include "http/exchange.h"

#include <QByteArray>

#include <memory>

namespace Berth::Gateway {

struct GroupRuntime;
namespace Cache {
class Transaction;
}

// One proxied request: picks a member, sends the normalised request on a pooled connection,
// streams the body up (pausing the client when the member is slow) and the response down
// (pausing the member when the client is slow), retries on another member while that is safe,
// and answers 502/503/504 itself when no member answers. Owns itself: deleted when the exchange
// ends, either way.
class ProxyCall final : public Upstream::UpstreamConnection::Handler
{
public:
    // `cache`: the response cache's part in the request (a group with `cache`), or null.
    static void start(std::shared_ptr<GroupRuntime> group, Http::Exchange &exchange,
                      std::unique_ptr<Cache::Transaction> cache = {});

private:
    ProxyCall(std::shared_ptr<GroupRuntime> group, Http::Exchange &exchange);
    ~ProxyCall() override;

    void attempt();
    void waitForCapacity();
    void connectMember();
    void startBody(Http::Exchange &exchange);

    void upstreamConnected() override;
    void upstreamHead(const Upstream::ResponseHead &head) override;
    void upstreamData(QByteArrayView data) override;
    void upstreamEnd() override;
    void upstreamWritable() override;
    void upstreamFailed(Upstream::UpstreamConnection::Failure failure,
                        bool responseStarted) override;

    void memberFailed();
    void answer(int status, QByteArrayView retryAfter = {});
    void clientGone();
    void done();
    static void deleteSoon(ProxyCall *call);
    qint64 nowMs() const;

    std::shared_ptr<GroupRuntime> m_group;
    std::unique_ptr<Cache::Transaction> m_cache;
    Http::ExchangeHandle m_exchange;
    Upstream::UpstreamConnection *m_connection = nullptr; // tells us when it closes itself
    int m_member = -1;
    quint64 m_tried = 0;
    int m_attempts = 0;
    bool m_idempotent = false;
    bool m_hasBody = false;
    bool m_chunkedUp = false;   // the body goes up re-chunked (its length is unknown)
    bool m_bodyStarted = false; // readBody() was called: the body can't be replayed
    bool m_bodyDone = false;
    bool m_bodyPaused = false;
    bool m_responseStarted = false;
    bool m_reusedConnection = false;
    bool m_lastFailureTimeout = false;
    bool m_finished = false;
    bool m_upgrade = false; // a WebSocket handshake, proxied as a tunnel once the member agrees
    bool m_tunnel = false;
    // Cleared when the call is done: the body handlers given to the exchange may still run.
    std::shared_ptr<bool> aliveFlag();
    std::shared_ptr<bool> m_alive;
    qint64 m_startedMs = 0;
    qint64 m_memberStartUs = 0;
    qint64 m_queueDeadlineMs = 0;
};

} // namespace Berth::Gateway
