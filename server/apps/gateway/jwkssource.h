#pragma once

#include "keyset.h"

#include <QDateTime>
#include <QMutex>
#include <QString>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>

namespace Berth::Gateway {

// The keys of `jwks = FILE` or `jwks = https://...`, shared by every event-loop thread of a
// worker (shared()). A file is re-read when its size or mtime changes (looked at on use, at
// most once a second); a URL is fetched by a thread of its own with libcurl, never on an event
// loop, every interval, and a failed fetch keeps the keys of the last good one (stale keys are
// better than refusing every client while the identity provider hiccups).
//
// Thread safety: keys() and refresh() may be called from any thread; the set they hand out is
// immutable and stays valid while the caller holds it.
class JwksSource
{
public:
    using Clock = std::function<qint64()>; // milliseconds, monotonic

    // caFile: the CA bundle a https URL's certificate is checked against (empty: the system's).
    JwksSource(QString location, qint64 intervalMs, QString caFile = {}, Clock clock = {});
    ~JwksSource();
    JwksSource(const JwksSource &) = delete;
    JwksSource &operator=(const JwksSource &) = delete;

    // One source per (location, interval) per process.
    static std::shared_ptr<JwksSource> shared(const QString &location, qint64 intervalMs,
                                              const QString &caFile);

    bool isUrl() const { return m_isUrl; }
    // A file: reads it now (config checking reports its errors). A URL: does nothing.
    bool loadFile(QString *error, QStringList *warnings = nullptr);
    // A URL: starts the fetching thread (once). Called when the app starts serving.
    void start();
    // The current keys (null before the first good load); for a file, first re-reads it when it
    // changed.
    std::shared_ptr<const KeySet> keys();

    // How many fetches/reads succeeded and failed (tests, stats).
    int goodLoads() const;
    int failedLoads() const;

    // For tests and the fetch thread: installs a JWKS document as the current keys.
    bool install(const QByteArray &json, QString *error, QStringList *warnings = nullptr);

private:
    void fetchLoop();
    // Blocking (10 s at most); gives up early once *stop is set.
    static bool fetchUrl(const QString &url, const QString &caFile, const std::atomic<bool> *stop,
                         QByteArray *body, QString *error);

    const QString m_location;
    const QString m_caFile;
    const bool m_isUrl;
    const qint64 m_intervalMs;
    Clock m_clock;

    mutable QMutex m_mutex; // guards everything below
    std::shared_ptr<const KeySet> m_keys;
    qint64 m_lastCheckMs = -1;
    qint64 m_size = -1;
    QDateTime m_modified;
    int m_good = 0;
    int m_failed = 0;

    std::mutex m_threadMutex;
    std::condition_variable m_wake;
    bool m_stopping = false;
    std::atomic<bool> m_abortFetch{false}; // set with m_stopping, read by a running fetch
    std::thread m_thread;
};

} // namespace Berth::Gateway
