#include "jwkssource.h"

#include <QFile>
#include <QFileInfo>
#include <QHash>
#include <QLoggingCategory>

#include <curl/curl.h>

#include <chrono>

namespace Berth::Gateway {

namespace {

Q_LOGGING_CATEGORY(lcJwks, "berth.gateway.jwks")

using namespace std::chrono;

constexpr qint64 FileCheckMs = 1000;
constexpr qint64 MaxJwksBytes = 1 << 20;
constexpr qint64 RetryMs = 10000;

qint64 steadyMs()
{
    return duration_cast<milliseconds>(steady_clock::now().time_since_epoch()).count();
}

size_t collect(char *data, size_t size, size_t count, void *userData)
{
    auto *body = static_cast<QByteArray *>(userData);
    const size_t bytes = size * count;
    if (body->size() + qint64(bytes) > MaxJwksBytes)
        return 0; // aborts the transfer
    body->append(data, qsizetype(bytes));
    return bytes;
}

int abortWhenStopping(void *stop, curl_off_t, curl_off_t, curl_off_t, curl_off_t)
{
    return static_cast<std::atomic<bool> *>(stop)->load() ? 1 : 0;
}

} // namespace

JwksSource::JwksSource(QString location, qint64 intervalMs, QString caFile, Clock clock)
    : m_location(std::move(location))
    , m_caFile(std::move(caFile))
    , m_isUrl(m_location.startsWith(QLatin1String("https://")) ||
              m_location.startsWith(QLatin1String("http://")))
    , m_intervalMs(intervalMs > 0 ? intervalMs : 300000)
    , m_clock(clock ? std::move(clock) : Clock(steadyMs))
{}

JwksSource::~JwksSource()
{
    {
        std::lock_guard lock(m_threadMutex);
        m_stopping = true;
    }
    m_abortFetch = true;
    m_wake.notify_all();
    if (m_thread.joinable())
        m_thread.join();
}

std::shared_ptr<JwksSource> JwksSource::shared(const QString &location, qint64 intervalMs,
                                               const QString &caFile)
{
    static QMutex mutex;
    static QHash<QString, std::weak_ptr<JwksSource>> sources;
    const QString key =
        location + QLatin1Char('\n') + QString::number(intervalMs) + QLatin1Char('\n') + caFile;
    QMutexLocker lock(&mutex);
    if (std::shared_ptr<JwksSource> existing = sources.value(key).lock())
        return existing;
    auto made = std::make_shared<JwksSource>(location, intervalMs, caFile);
    sources.insert(key, made);
    return made;
}

bool JwksSource::install(const QByteArray &json, QString *error, QStringList *warnings)
{
    KeySet set;
    QString why;
    const bool ok = parseJwks(json, &set, &why, warnings);
    QMutexLocker lock(&m_mutex);
    if (!ok) {
        ++m_failed;
        if (error)
            *error = why;
        return false;
    }
    ++m_good;
    m_keys = std::make_shared<const KeySet>(std::move(set));
    return true;
}

bool JwksSource::loadFile(QString *error, QStringList *warnings)
{
    if (m_isUrl)
        return true;
    QFile file(m_location);
    const QFileInfo info(m_location);
    {
        QMutexLocker lock(&m_mutex);
        m_size = info.size();
        m_modified = info.lastModified();
    }
    if (!file.open(QIODevice::ReadOnly)) {
        QMutexLocker lock(&m_mutex);
        ++m_failed;
        if (error)
            *error = QStringLiteral("can't read %1: %2").arg(m_location, file.errorString());
        return false;
    }
    QString why;
    if (!install(file.read(MaxJwksBytes), &why, warnings)) {
        if (error)
            *error = QStringLiteral("%1: %2").arg(m_location, why);
        return false;
    }
    return true;
}

std::shared_ptr<const KeySet> JwksSource::keys()
{
    if (!m_isUrl) {
        const qint64 now = m_clock();
        bool reload = false;
        {
            QMutexLocker lock(&m_mutex);
            if (m_lastCheckMs < 0 || now - m_lastCheckMs >= FileCheckMs) {
                m_lastCheckMs = now;
                const QFileInfo info(m_location);
                reload =
                    info.exists() && (info.size() != m_size || info.lastModified() != m_modified);
            }
        }
        if (reload) {
            QString error;
            if (!loadFile(&error))
                qCWarning(lcJwks).noquote() << error << "(the previous keys stay in use)";
        }
    }
    QMutexLocker lock(&m_mutex);
    return m_keys;
}

int JwksSource::goodLoads() const
{
    QMutexLocker lock(&m_mutex);
    return m_good;
}

int JwksSource::failedLoads() const
{
    QMutexLocker lock(&m_mutex);
    return m_failed;
}

void JwksSource::start()
{
    if (!m_isUrl)
        return;
    std::lock_guard lock(m_threadMutex);
    if (m_thread.joinable() || m_stopping)
        return;
    m_thread = std::thread([this] { fetchLoop(); });
}

void JwksSource::fetchLoop()
{
    for (;;) {
        QByteArray body;
        QString error;
        bool ok = fetchUrl(m_location, m_caFile, &m_abortFetch, &body, &error);
        if (!ok) {
            QMutexLocker lock(&m_mutex);
            ++m_failed;
        } else {
            ok = install(body, &error); // counts its own failure
        }
        if (!ok) {
            qCWarning(lcJwks).noquote() << "fetching" << m_location << "failed:" << error
                                        << "(the previous keys stay in use)";
        }
        const qint64 wait = ok ? m_intervalMs : std::min(m_intervalMs, RetryMs);
        std::unique_lock lock(m_threadMutex);
        if (m_wake.wait_for(lock, milliseconds(wait), [this] { return m_stopping; }))
            return;
    }
}

bool JwksSource::fetchUrl(const QString &url, const QString &caFile, const std::atomic<bool> *stop,
                          QByteArray *body, QString *error)
{
    // curl_global_init is not thread-safe: run it once, before the first handle.
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    CURL *curl = curl_easy_init();
    if (!curl) {
        *error = QStringLiteral("libcurl unavailable");
        return false;
    }
    const QByteArray address = url.toUtf8();
    curl_easy_setopt(curl, CURLOPT_URL, address.constData());
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
    // A server shutting down does not wait for a slow identity provider.
    curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(curl, CURLOPT_XFERINFODATA, const_cast<std::atomic<bool> *>(stop));
    curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, abortWhenStopping);
    const QByteArray ca = caFile.toLocal8Bit();
    if (!ca.isEmpty()) // a private identity provider's CA (jwks_ca)
        curl_easy_setopt(curl, CURLOPT_CAINFO, ca.constData());
    const CURLcode code = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(curl);
    if (code != CURLE_OK) {
        *error = QString::fromUtf8(curl_easy_strerror(code));
        return false;
    }
    if (status != 200) {
        *error = QStringLiteral("HTTP status %1").arg(status);
        return false;
    }
    return true;
}

} // namespace Berth::Gateway
