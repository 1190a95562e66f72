#pragma once

#include "diskstore.h"
#include "responsestore.h"

#include "http/exchange.h"

#include <QByteArray>

#include <functional>
#include <memory>

namespace Berth::Core {
class StatsRegistry;
}

namespace Berth::Upstream {
struct ResponseHead;
}

namespace Berth::Gateway::Cache {

// A group's cache: its settings, its shared store and its stats. One per group and process.
struct GroupCache
{
    QString group; // "@users"
    qint64 ttlMs = 0;
    qint64 maxEntry = 0;
    qint64 lockTimeoutMs = 0;
    std::unique_ptr<ResponseStore> store;
    std::unique_ptr<DiskStore> disk; // null without cache_dir

    // berth.stats entries ("cache:@users:hits"), -1 without stats.
    enum Stat { Hits, Misses, Stale, Bypass, Revalidated, Stored, Purged, StatCount };
    Core::StatsRegistry *registry = nullptr;
    int stats[StatCount] = {-1, -1, -1, -1, -1, -1, -1};
    void count(Stat stat);
    void declareStats(Core::StatsRegistry *registry);

    // Fetches the request's URL from a member without a client (stale-while-revalidate: the
    // client was served the stale entry) and feeds the transaction; set by the proxy. Reads
    // the exchange's request before returning and never touches the exchange again.
    std::function<void(std::unique_ptr<class Transaction>, Http::Exchange &)> refreshInBackground;
};

// The cache's part in one proxied request (RFC 9111 for a shared cache). begin() answers from
// the cache when it can — a fresh hit (304 when the client's validators match it), a PURGE,
// only-if-cached, a stale entry another request is refreshing — or waits for a concurrent fetch of
// the same key (request collapsing, bounded by cache_lock_timeout) and otherwise hands the request
// on to the proxy with a Transaction, which adds the stored validators to the member request and
// then sees the member's response: a 304 refreshes and serves the stored entry, a 5xx or a failure
// may serve it stale (stale-if-error), a storable response is copied into the store while it
// streams to the client (abandoned past cache_max_entry or when the response is cut short).
class Transaction
{
public:
    using Proceed = std::function<void(std::unique_ptr<Transaction>)>;
    // Calls `proceed` (now, or after waiting) unless the cache answered the exchange itself.
    static void begin(std::shared_ptr<GroupCache> cache, Http::Exchange &exchange,
                      const Proceed &proceed);
    ~Transaction();

    // Fields for the member request (If-None-Match / If-Modified-Since), "Name: value\r\n".
    QByteArray conditionalFields() const;
    // The member's head arrived, before the proxy copies it: true when the cache answered the
    // exchange instead (304 revalidation, stale-if-error); the proxy then drops the member's
    // response.
    bool answerFromHead(Http::Exchange &exchange, const Upstream::ResponseHead &head);
    // The proxy filled exchange.response() from the member's head: decides whether to store
    // and labels the response (X-Cache).
    void responseHead(Http::Exchange &exchange, const Upstream::ResponseHead &head);
    void responseData(QByteArrayView data);
    // The member's response ended completely: stores it.
    void responseEnd();
    // The proxy is about to answer 502/503/504 itself: true when a stale entry answered.
    bool answerFromError(Http::Exchange &exchange);
    // A background refresh (stale-while-revalidate, no client): a 304 refreshes the entry, a
    // storable response is to be copied in with responseData() and responseEnd() (true).
    bool backgroundHead(const Upstream::ResponseHead &head);

private:
    Transaction() = default;
    Transaction(const Transaction &) = default; // handing on from a waiting lookup
    static std::unique_ptr<Transaction> prepare(std::shared_ptr<GroupCache> cache,
                                                Http::Exchange &exchange);
    static void route(std::shared_ptr<Transaction> self, Http::Exchange &exchange,
                      const Proceed &proceed, qint64 waitUntilMs);
    void serve(Http::Exchange &exchange, const StoredResponse &entry, QByteArrayView label);
    // The client's If-None-Match / If-Modified-Since say it holds the stored representation.
    bool clientHasRepresentation(const StoredResponse &entry) const;
    // 304 Not Modified for a fresh entry the client already has (validators, no body).
    void serveNotModified(Http::Exchange &exchange, const StoredResponse &entry,
                          QByteArrayView label);
    // A 304 from the member: the stored entry with the 304's fields and new freshness, stored.
    StoredResponse refreshFrom(const Upstream::ResponseHead &head, qint64 nowMs);
    // Whether to store the member's response, whose passed-on fields are `fields`.
    void planResponse(const Upstream::ResponseHead &head, const QByteArray &fields);
    // Not storing after all: ends the claim (remember: with a pass marker).
    void giveUp(bool remember);
    Key variantKey(const QByteArray &varyNames) const;

    std::shared_ptr<GroupCache> m_cache;
    QByteArray m_primaryText; // host and target
    Key m_primary;            // where the entry, or the URL's Vary marker, lives
    Key m_tag;                // the purge tag: the target without the host
    Key m_key;                // the entry this request reads (a variant key under Vary)
    Key m_storeKey;           // where the response goes (a new variant key under a new Vary)
    std::vector<std::pair<QByteArray, QByteArray>> m_requestFields; // lower-case names
    const char *m_label = "MISS";
    bool m_claimed = false;
    bool m_storeAllowed = false; // a GET without request no-store
    bool m_invalidate = false;   // an unsafe method: a success removes the URL's entries
    bool m_clientConditional = false;
    bool m_hasAuthorization = false;
    bool m_haveEntry = false; // a stored (stale) entry: revalidate it, or serve it on error
    bool m_storing = false;
    bool m_stored = false;
    bool m_isHead = false;
    bool m_newVary = false; // the response's Vary differs from the URL's marker
    bool m_invalidateOnEnd = false;
    StoredResponse m_entry;
    StoredResponse m_pending; // the response being copied in
};

// The group's cache entries for `path` (with its query, for any host) removed; how many.
int purge(GroupCache &cache, QByteArrayView host, QByteArrayView pathAndQuery);

} // namespace Berth::Gateway::Cache
