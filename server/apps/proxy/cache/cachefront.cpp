#include "cachefront.h"

#include "cachepolicy.h"

#include "runtime/statsregistry.h"
#include "upstream/responsehead.h"

#include <QDateTime>

namespace Berth::Gateway::Cache {

namespace {

constexpr qint64 WaitPollMs = 5;       // how often a collapsed request looks for the entry
constexpr qint64 PassMarkerMs = 10000; // how long an uncacheable URL skips collapsing
constexpr qint64 VaryMarkerMs = qint64(365) * 24 * 3600 * 1000;

qint64 wallMs()
{
    return QDateTime::currentMSecsSinceEpoch();
}

bool equalsIgnoreCase(QByteArrayView a, QByteArrayView b)
{
    return a.compare(b, Qt::CaseInsensitive) == 0;
}

bool isLoopback(const Http::Request &request)
{
    if (request.unixPeer)
        return true;
    QHostAddress address = request.peerAddress;
    bool mapped = false;
    const quint32 v4 = address.toIPv4Address(&mapped);
    if (mapped)
        address = QHostAddress(v4);
    return address.isLoopback();
}

QByteArray pathAndQuery(QByteArrayView path, QByteArrayView query)
{
    QByteArray text = path.toByteArray();
    if (!query.isEmpty())
        text += '?' + query.toByteArray();
    return text;
}

// The response's fields as stored: everything the proxy passes on but our own labels.
QByteArray storedFields(const Http::Response &response)
{
    QByteArray out;
    for (const auto &[name, value] : response.headers()) {
        if (equalsIgnoreCase(name, "x-cache") || equalsIgnoreCase(name, "age"))
            continue;
        out += name + ": " + value + "\r\n";
    }
    return out;
}

Fields parseFields(const QByteArray &text)
{
    Fields fields;
    for (const QByteArray &line : text.split('\n')) {
        const qsizetype colon = line.indexOf(':');
        if (colon <= 0)
            continue;
        fields.emplace_back(line.first(colon), line.sliced(colon + 1).trimmed());
    }
    return fields;
}

QByteArray joinFields(const Fields &fields)
{
    QByteArray out;
    for (const auto &[name, value] : fields)
        out += name + ": " + value + "\r\n";
    return out;
}

// RFC 9111 §4.3.4: the 304's fields replace the stored ones of the same name.
Fields mergeFields(const Fields &stored, const Upstream::ResponseHead &head)
{
    Fields merged;
    auto fromHead = [](QByteArrayView name) {
        return !(Upstream::isHopByHopField(name) || equalsIgnoreCase(name, "content-length") ||
                 equalsIgnoreCase(name, "server") || equalsIgnoreCase(name, "x-berth-txn") ||
                 equalsIgnoreCase(name, "age"));
    };
    for (const auto &[name, value] : stored) {
        bool replaced = false;
        for (const auto &[n, v] : head.fields)
            replaced = replaced || (fromHead(n) && equalsIgnoreCase(n, name));
        if (!replaced)
            merged.emplace_back(name, value);
    }
    for (const auto &[name, value] : head.fields) {
        if (fromHead(name))
            merged.emplace_back(name.toByteArray(), value.toByteArray());
    }
    return merged;
}

// The member's fields as owned pairs, for the policy functions.
Fields ownedFields(const Upstream::ResponseHead &head)
{
    Fields fields;
    fields.reserve(head.fields.size());
    for (const auto &[name, value] : head.fields)
        fields.emplace_back(name.toByteArray(), value.toByteArray());
    return fields;
}

void fillTimes(StoredResponse *response, const StorePlan &plan, qint64 nowMs)
{
    response->storedAtMs = nowMs;
    response->initialAgeMs = plan.initialAge * 1000;
    response->freshMs = plan.freshSeconds * 1000;
    response->staleWhileRevalidateMs = plan.staleWhileRevalidate * 1000;
    response->staleIfErrorMs = plan.staleIfError * 1000;
    response->mustRevalidate = plan.mustRevalidate;
}

} // namespace

void GroupCache::count(Stat stat)
{
    if (registry && stats[stat] >= 0)
        registry->add(stats[stat]);
}

void GroupCache::declareStats(Core::StatsRegistry *r)
{
    registry = r;
    if (!registry)
        return;
    static const char *const names[StatCount] = {"hits",        "misses", "stale", "bypass",
                                                 "revalidated", "stored", "purged"};
    for (int i = 0; i < StatCount; ++i)
        stats[i] = registry->declare(
            QStringLiteral("cache:%1:%2").arg(group, QLatin1String(names[i])), Core::StatType::Sum);
}

int purge(GroupCache &cache, QByteArrayView, QByteArrayView target)
{
    const Key tag = Key::of(target);
    int removed = cache.store->purge(tag);
    if (cache.disk)
        removed = qMax(removed, cache.disk->purge(tag));
    for (int i = 0; i < removed; ++i)
        cache.count(GroupCache::Purged);
    return removed;
}

Transaction::~Transaction()
{
    if (m_claimed && !m_stored)
        m_cache->store->release(m_key);
}

std::unique_ptr<Transaction> Transaction::prepare(std::shared_ptr<GroupCache> cache,
                                                  Http::Exchange &exchange)
{
    const Http::Request &request = exchange.request();
    const Http::RequestHead &head = request.head;
    std::unique_ptr<Transaction> t(new Transaction);
    t->m_cache = std::move(cache);
    const QByteArray target = pathAndQuery(head.path, head.query);
    t->m_primaryText = head.host.toByteArray().toLower() + ' ' + target;
    t->m_primary = Key::of(t->m_primaryText);
    t->m_tag = Key::of(target);
    t->m_key = t->m_storeKey = t->m_primary;
    for (const Http::HeaderField &field : head.fields) {
        t->m_requestFields.emplace_back(field.name.toByteArray().toLower(),
                                        field.value.toByteArray());
        if (equalsIgnoreCase(field.name, "authorization"))
            t->m_hasAuthorization = true;
        if (equalsIgnoreCase(field.name, "if-none-match") ||
            equalsIgnoreCase(field.name, "if-modified-since"))
            t->m_clientConditional = true;
    }
    t->m_isHead = request.isHead();
    return t;
}

Key Transaction::variantKey(const QByteArray &varyNames) const
{
    QByteArray text = m_primaryText;
    for (const QByteArray &name : varyNames.split(',')) {
        text += '\n' + name + ':';
        for (const auto &[n, v] : m_requestFields) {
            if (n == name)
                text += v + ',';
        }
    }
    return Key::of(text);
}

void Transaction::begin(std::shared_ptr<GroupCache> cache, Http::Exchange &exchange,
                        const Proceed &proceed)
{
    const QByteArrayView method = exchange.request().method();
    if (method == "PURGE") {
        if (!isLoopback(exchange.request())) {
            Http::respondWithError(exchange, 403);
            return;
        }
        const Http::RequestHead &head = exchange.request().head;
        const int removed = purge(*cache, head.host, pathAndQuery(head.path, head.query));
        exchange.respond(removed > 0 ? 200 : 404, "text/plain",
                         removed > 0 ? QByteArrayLiteral("purged\n")
                                     : QByteArrayLiteral("not cached\n"));
        return;
    }
    if (!exchange.request().tunnelProtocol().isEmpty()) {
        proceed(nullptr); // a WebSocket handshake is never a cache matter
        return;
    }
    std::unique_ptr<Transaction> t = prepare(std::move(cache), exchange);
    if (method != "GET" && method != "HEAD") {
        // RFC 9111 §4.4: a successful unsafe request invalidates the URL.
        t->m_invalidate = method != "OPTIONS" && method != "TRACE";
        t->m_label = nullptr;
        proceed(std::move(t));
        return;
    }
    const qint64 waitUntil = wallMs() + t->m_cache->lockTimeoutMs;
    route(std::shared_ptr<Transaction>(t.release()), exchange, proceed, waitUntil);
}

void Transaction::route(std::shared_ptr<Transaction> self, Http::Exchange &exchange,
                        const Proceed &proceed, qint64 waitUntilMs)
{
    Transaction &t = *self;
    GroupCache &cache = *t.m_cache;
    auto handOn = [&] {
        std::unique_ptr<Transaction> owned(new Transaction(t));
        t.m_claimed = false; // the moved-to transaction owns the claim now
        proceed(std::move(owned));
    };
    const Http::Request &request = exchange.request();
    QList<QByteArrayView> ccValues;
    bool pragmaNoCache = false;
    for (const Http::HeaderField &field : request.head.fields) {
        if (equalsIgnoreCase(field.name, "cache-control"))
            ccValues.append(field.value);
        else if (equalsIgnoreCase(field.name, "pragma") &&
                 field.value.contains(QByteArrayView("no-cache")))
            pragmaNoCache = true;
    }
    const Directives cc = Directives::parse(ccValues);
    const bool noCache = cc.noCache || (ccValues.isEmpty() && pragmaNoCache) || cc.maxAge == 0;
    if (cc.noStore || t.m_hasAuthorization) {
        // Not served from the cache; an authorised response may still be stored when the
        // member marks it shareable (planStore decides).
        t.m_storeAllowed = !cc.noStore && !t.m_isHead;
        t.m_label = "BYPASS";
        cache.count(GroupCache::Bypass);
        handOn();
        return;
    }
    const qint64 now = wallMs();
    ResponseStore &store = *cache.store;
    StoredResponse entry;
    ResponseStore::Lookup found = store.lookup(t.m_primary, now, &entry);
    if (found == ResponseStore::Lookup::Miss && cache.disk &&
        cache.disk->read(t.m_primary, t.m_tag, &entry)) {
        store.store(t.m_primary, t.m_tag, entry, now); // back into memory
        found = ResponseStore::Lookup::Hit;
    }
    if (found == ResponseStore::Lookup::Hit && entry.varyMarker)
        t.m_key = t.m_storeKey = t.variantKey(entry.varyNames);
    const qint64 claimMs = t.m_isHead ? 0 : qMax<qint64>(1, cache.lockTimeoutMs);
    bool claimed = false;
    if (t.m_key == t.m_primary && found == ResponseStore::Lookup::Hit && entry.fresh(now) &&
        !entry.varyMarker) {
        // A fresh entry: no claim needed.
    } else {
        entry = {};
        found = store.lookup(t.m_key, now, &entry, claimMs, &claimed);
        if (found == ResponseStore::Lookup::Miss && cache.disk &&
            cache.disk->read(t.m_key, t.m_tag, &entry)) {
            store.store(t.m_key, t.m_tag, entry, now); // back into memory (ends the claim)
            found = ResponseStore::Lookup::Hit;
            claimed = false;
        }
    }
    t.m_claimed = claimed;
    t.m_storeAllowed = !t.m_isHead;
    if (found == ResponseStore::Lookup::Hit && entry.status == 0) {
        // An uncacheable URL (a "pass" marker): straight to the member, no collapsing.
        if (claimed)
            store.release(t.m_key);
        t.m_claimed = false;
        cache.count(GroupCache::Misses);
        handOn();
        return;
    }
    if (found == ResponseStore::Lookup::Hit && !entry.varyMarker) {
        t.m_haveEntry = true;
        t.m_entry = entry;
        const qint64 age = entry.ageMs(now);
        const bool fresh =
            entry.fresh(now) && !noCache && (cc.maxAge < 0 || age <= cc.maxAge * 1000);
        if (fresh) {
            cache.count(GroupCache::Hits);
            if (t.m_clientConditional && t.clientHasRepresentation(entry))
                t.serveNotModified(exchange, entry, "HIT");
            else
                t.serve(exchange, entry, "HIT");
            return;
        }
        if (cc.onlyIfCached) {
            Http::respondWithError(exchange, 504);
            return;
        }
        const bool withinSwr =
            !entry.mustRevalidate && !noCache && age < entry.freshMs + entry.staleWhileRevalidateMs;
        if (claimed && withinSwr && cache.refreshInBackground) {
            // stale-while-revalidate: this client gets the stale entry now, and the entry is
            // refreshed once, in the background.
            std::unique_ptr<Transaction> owned(new Transaction(t));
            t.m_claimed = false;
            cache.refreshInBackground(std::move(owned), exchange);
            cache.count(GroupCache::Stale);
            t.serve(exchange, entry, "STALE");
            return;
        }
        if (!claimed && withinSwr) {
            // Another request is refreshing it: this one takes the stale entry.
            cache.count(GroupCache::Stale);
            t.serve(exchange, entry, "STALE");
            return;
        }
        if (!claimed && !noCache && now < waitUntilMs) {
            exchange.runAfter(WaitPollMs,
                              [self, handle = exchange.handle(), proceed, waitUntilMs]() mutable {
                                  if (Http::Exchange *ex = handle.get())
                                      route(self, *ex, proceed, waitUntilMs);
                              });
            return;
        }
        cache.count(GroupCache::Misses);
        handOn();
        return;
    }
    if (cc.onlyIfCached) {
        Http::respondWithError(exchange, 504);
        return;
    }
    if (found == ResponseStore::Lookup::Pending && now < waitUntilMs) {
        exchange.runAfter(WaitPollMs,
                          [self, handle = exchange.handle(), proceed, waitUntilMs]() mutable {
                              if (Http::Exchange *ex = handle.get())
                                  route(self, *ex, proceed, waitUntilMs);
                          });
        return;
    }
    cache.count(GroupCache::Misses);
    handOn();
}

void Transaction::serve(Http::Exchange &exchange, const StoredResponse &entry, QByteArrayView label)
{
    Http::Response &response = exchange.response();
    response.clear();
    response.status = entry.status;
    for (const auto &[name, value] : parseFields(entry.fields))
        response.addHeader(name, value);
    response.setHeader("Age", QByteArray::number(entry.ageMs(wallMs()) / 1000));
    response.setHeader("X-Cache", label);
    exchange.startResponse(entry.body.size());
    if (!entry.body.isEmpty() && !m_isHead)
        exchange.write(entry.body);
    exchange.finish();
}

bool Transaction::clientHasRepresentation(const StoredResponse &entry) const
{
    // RFC 9110 §13.2.1: preconditions only apply to what would have been a 2xx.
    if (entry.status < 200 || entry.status > 299)
        return false;
    QList<QByteArrayView> ifNoneMatch;
    QByteArrayView ifModifiedSince;
    for (const auto &[name, value] : m_requestFields) {
        if (name == "if-none-match")
            ifNoneMatch.append(value);
        else if (name == "if-modified-since")
            ifModifiedSince = value;
    }
    return Cache::clientHasRepresentation(ifNoneMatch, ifModifiedSince, parseFields(entry.fields));
}

void Transaction::serveNotModified(Http::Exchange &exchange, const StoredResponse &entry,
                                   QByteArrayView label)
{
    // RFC 9110 §15.4.5: the fields a 200 would have carried that a 304 must repeat, and the
    // validators; no representation metadata, no body.
    static const char *const kept[] = {"cache-control", "content-location", "etag",
                                       "expires",       "last-modified",    "vary"};
    Http::Response &response = exchange.response();
    response.clear();
    response.status = 304;
    for (const auto &[name, value] : parseFields(entry.fields)) {
        for (const char *k : kept) {
            if (equalsIgnoreCase(name, k)) {
                response.addHeader(name, value);
                break;
            }
        }
    }
    response.setHeader("Age", QByteArray::number(entry.ageMs(wallMs()) / 1000));
    response.setHeader("X-Cache", label);
    exchange.startResponse(0);
    exchange.finish();
}

QByteArray Transaction::conditionalFields() const
{
    if (!m_haveEntry || m_clientConditional)
        return {};
    QByteArray out;
    const Fields fields = parseFields(m_entry.fields);
    const QList<QByteArrayView> etag = fieldValues(fields, "etag");
    const QList<QByteArrayView> modified = fieldValues(fields, "last-modified");
    if (!etag.isEmpty())
        out += "If-None-Match: " + etag.front().toByteArray() + "\r\n";
    if (!modified.isEmpty())
        out += "If-Modified-Since: " + modified.front().toByteArray() + "\r\n";
    return out;
}

bool Transaction::answerFromHead(Http::Exchange &exchange, const Upstream::ResponseHead &head)
{
    if (!m_haveEntry)
        return false;
    const qint64 now = wallMs();
    if (head.status == 304 && !m_clientConditional) {
        const StoredResponse refreshed = refreshFrom(head, now);
        m_cache->count(GroupCache::Revalidated);
        serve(exchange, refreshed, "REVALIDATED");
        return true;
    }
    if (head.status >= 500 && m_entry.ageMs(now) < m_entry.freshMs + m_entry.staleIfErrorMs) {
        m_cache->count(GroupCache::Stale);
        serve(exchange, m_entry, "STALE");
        return true;
    }
    return false;
}

StoredResponse Transaction::refreshFrom(const Upstream::ResponseHead &head, qint64 now)
{
    {
        const Fields merged = mergeFields(parseFields(m_entry.fields), head);
        const StorePlan plan = planStore(m_entry.status, merged, m_hasAuthorization,
                                         m_cache->ttlMs / 1000, now / 1000);
        StoredResponse refreshed = m_entry;
        Fields kept;
        for (const auto &field : merged) {
            if (!equalsIgnoreCase(field.first, "date"))
                kept.push_back(field);
        }
        refreshed.fields = joinFields(kept);
        if (plan.store) {
            fillTimes(&refreshed, plan, now);
            m_stored = m_cache->store->store(m_key, m_tag, refreshed, now);
            if (m_cache->disk)
                m_cache->disk->write(m_key, m_tag, refreshed);
        }
        refreshed.storedAtMs = now;
        refreshed.initialAgeMs = plan.initialAge * 1000;
        return refreshed;
    }
}

bool Transaction::answerFromError(Http::Exchange &exchange)
{
    if (!m_haveEntry || exchange.responseStarted())
        return false;
    if (m_entry.ageMs(wallMs()) >= m_entry.freshMs + m_entry.staleIfErrorMs)
        return false;
    m_cache->count(GroupCache::Stale);
    serve(exchange, m_entry, "STALE");
    return true;
}

void Transaction::responseHead(Http::Exchange &exchange, const Upstream::ResponseHead &head)
{
    if (m_invalidate) {
        m_invalidateOnEnd = head.status < 400;
        return;
    }
    Http::Response &response = exchange.response();
    const QByteArray fields = storedFields(response);
    if (m_label)
        response.setHeader("X-Cache", m_label);
    planResponse(head, fields);
}

bool Transaction::backgroundHead(const Upstream::ResponseHead &head)
{
    if (head.status == 304 && m_haveEntry) {
        refreshFrom(head, wallMs());
        m_cache->count(GroupCache::Revalidated);
        return false;
    }
    if (head.status >= 500)
        return false; // the stale entry stays until it runs out
    // The fields as the proxy would pass them on.
    QList<QByteArrayView> connectionValues;
    for (const auto &[name, value] : head.fields) {
        if (equalsIgnoreCase(name, "connection"))
            connectionValues.append(value);
    }
    QByteArray fields;
    for (const auto &[name, value] : head.fields) {
        bool named = false;
        for (QByteArrayView listed : connectionValues)
            named = named || Http::listContainsToken(listed, name);
        if (named || Upstream::isHopByHopField(name) || equalsIgnoreCase(name, "content-length") ||
            equalsIgnoreCase(name, "date") || equalsIgnoreCase(name, "server") ||
            equalsIgnoreCase(name, "x-berth-txn") || equalsIgnoreCase(name, "age"))
            continue;
        fields += name;
        fields += ": ";
        fields += value;
        fields += "\r\n";
    }
    planResponse(head, fields);
    return m_storing;
}

void Transaction::planResponse(const Upstream::ResponseHead &head, const QByteArray &fields)
{
    if (!m_storeAllowed)
        return;
    const qint64 now = wallMs();
    const Fields memberFields = ownedFields(head);
    const StorePlan plan =
        planStore(head.status, memberFields, m_hasAuthorization, m_cache->ttlMs / 1000, now / 1000);
    const QList<QByteArray> vary = varyNames(memberFields);
    const QByteArray varyText = vary.join(',');
    if (!plan.store || (head.contentLength > m_cache->maxEntry)) {
        giveUp(head.status != 304 && head.status != 206);
        return;
    }
    m_storeKey = vary.isEmpty() ? m_primary : variantKey(varyText);
    m_newVary = !vary.isEmpty() && m_storeKey != m_key;
    if (vary.isEmpty() && m_key != m_primary)
        m_newVary = true; // the URL stopped varying: its marker goes
    m_storing = true;
    m_pending.status = head.status;
    m_pending.fields = fields;
    fillTimes(&m_pending, plan, now);
    m_pending.varyNames = varyText;
}

void Transaction::giveUp(bool remember)
{
    // Remembered for a while so concurrent requests for it go straight to the member instead
    // of queueing behind each other (Varnish's hit-for-miss); otherwise the claim just ends.
    const qint64 now = wallMs();
    if (remember && !m_hasAuthorization && !m_haveEntry && m_key == m_primary) {
        StoredResponse pass;
        pass.storedAtMs = now;
        pass.freshMs = PassMarkerMs;
        if (m_cache->store->store(m_key, m_tag, pass, now)) {
            m_claimed = false;
            return;
        }
    }
    if (m_claimed) {
        m_cache->store->release(m_key);
        m_claimed = false;
    }
}

void Transaction::responseData(QByteArrayView data)
{
    if (!m_storing)
        return;
    if (m_pending.body.size() + data.size() > m_cache->maxEntry) {
        m_storing = false;
        m_pending = {};
        giveUp(true);
        return;
    }
    m_pending.body.append(data);
}

void Transaction::responseEnd()
{
    ResponseStore &store = *m_cache->store;
    const qint64 now = wallMs();
    if (m_invalidateOnEnd) {
        store.purge(m_tag);
        if (m_cache->disk)
            m_cache->disk->purge(m_tag);
        return;
    }
    if (!m_storing)
        return;
    m_storing = false;
    const QByteArray varyText = m_pending.varyNames;
    m_pending.varyNames.clear();
    if (!store.store(m_storeKey, m_tag, m_pending, now))
        return;
    if (m_cache->disk)
        m_cache->disk->write(m_storeKey, m_tag, m_pending);
    m_cache->count(GroupCache::Stored);
    if (m_storeKey != m_primary) {
        StoredResponse marker;
        marker.status = 1;
        marker.varyMarker = true;
        marker.varyNames = varyText;
        marker.storedAtMs = now;
        marker.freshMs = VaryMarkerMs;
        store.store(m_primary, m_tag, marker, now);
        if (m_cache->disk)
            m_cache->disk->write(m_primary, m_tag, marker);
    }
    if (m_claimed && m_key != m_storeKey)
        store.release(m_key);
    m_stored = true;
    m_pending = {};
}

} // namespace Berth::Gateway::Cache
