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

// A member request without a client: the response cache's background refresh of a stale entry
// (stale-while-revalidate). Sends the client's GET (with the stored validators) to one member
// and feeds the response to the cache transaction, which stores it or refreshes the entry on a
// 304. No retry: a failure leaves the stale entry to run out. Owns itself.
class RefreshCall final : public Upstream::UpstreamConnection::Handler
{
public:
    // Reads `exchange`'s request now; never touches the exchange afterwards.
    static void start(std::shared_ptr<GroupRuntime> group, Http::Exchange &exchange,
                      std::unique_ptr<Cache::Transaction> transaction);

private:
    RefreshCall(std::shared_ptr<GroupRuntime> group, std::unique_ptr<Cache::Transaction> cache);
    ~RefreshCall() override;

    void upstreamConnected() override;
    void upstreamHead(const Upstream::ResponseHead &head) override;
    void upstreamData(QByteArrayView data) override;
    void upstreamEnd() override;
    void upstreamWritable() override {}
    void upstreamFailed(Upstream::UpstreamConnection::Failure failure,
                        bool responseStarted) override;
    void finish(bool failed);

    std::shared_ptr<GroupRuntime> m_group;
    std::unique_ptr<Cache::Transaction> m_cache;
    Upstream::UpstreamConnection *m_connection = nullptr; // tells us when it closes itself
    QByteArray m_head;
    int m_member = -1;
    bool m_storing = false;
    bool m_finished = false;
    qint64 m_startUs = 0;
};

} // namespace Berth::Gateway
