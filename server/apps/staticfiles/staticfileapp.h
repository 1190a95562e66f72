#pragma once

#include "openfilecache.h"

#include "pipeline/app.h"
#include "pipeline/appregistry.h"

#include <QByteArray>
#include <QString>
#include <QStringList>

#include <cstdint>
#include <memory>

#include <sys/types.h>

namespace Berth::Config {
class Config;
}

namespace Berth::Apps {

// berth.static: serves files under a root directory (a directory route `/ = /var/www` or an
// [app:NAME] with `call = berth.static`). Safe path resolution (no "..", no symlink escape
// unless allowed, no dotfiles by default), Content-Type by extension, ETag / Last-Modified /
// 304, Range / 206 / 416, HEAD, index files, large files streamed with sendfile. With an open-file
// cache (open_file_cache), what a path leads to is looked up at most once per
// open_file_cache_valid: a hit costs no path resolution, open, stat or formatting (one dup of the
// cached fd, which the exchange owns and closes).
class StaticFileApp final : public Pipeline::App
{
public:
    struct Options
    {
        QString root; // absolute directory
        QStringList index = {QStringLiteral("index.html")};
        bool allowDotfiles = false;  // serve names starting with '.'
        bool followSymlinks = false; // allow symlinks that point outside root
        QByteArray cacheControl;     // sent as Cache-Control when set
        // Open-file cache entries (per event-loop thread); 0, the default here, looks every
        // path up on every request. The config default is in the schema ([server]).
        qsizetype openFileCache = 0;
        std::int64_t openFileCacheValidMs = 1000; // how long a lookup is trusted
        OpenFileCache::Clock clock;               // the cache's clock; tests inject one
    };

    explicit StaticFileApp(Options options);
    ~StaticFileApp() override;
    // Reads root, index, allow_dotfiles, follow_symlinks, cache_control from the section, and
    // open_file_cache / open_file_cache_valid from it or, unset there, from [server].
    static Options optionsFromConfig(const Pipeline::AppSetup &setup);
    // The cache keys alone (a directory route has no section of its own: [server]'s apply).
    static void readCacheOptions(const Config::Config &config, const QString &section,
                                 Options &options);

    Pipeline::Outcome handle(Http::Exchange &exchange) override;
    // Null when open_file_cache is 0 (for tests).
    const OpenFileCache *openFileCache() const { return m_cache.get(); }

private:
    struct Resolved;
    QByteArray canonicalRoot() const;
    Resolved resolve(const QByteArray &path, const QByteArray &root) const;
    // The fast path of resolve(): openat2(RESOLVE_BENEATH) below the root opened at startup.
    // False when it can't decide (an escaping or absolute symlink, a replaced root, no openat2):
    // realpath then does, as before.
    bool resolveBeneath(const QByteArray &path, const QByteArray &root, Resolved &result) const;
    void openFinal(int fd, Resolved &result) const;
    // The whole resolution of a path relative to the root: the file (opened), the directory or
    // the status it leads to, with the response fields formatted.
    OpenFileEntry lookup(const QByteArray &rel) const;
    // lookup() for a cache miss or a stale entry, stored unless the answer must not be cached.
    const OpenFileEntry &refresh(const QByteArray &rel);
    // False only when a cached metadata-only entry no longer names the file it describes
    // (nothing was sent: look the path up again). ownedFd: the entry's fd is ours to hand over
    // (an uncached lookup); otherwise the cache keeps it and a duplicate is sent.
    bool answer(Http::Exchange &exchange, const OpenFileEntry &entry, int *ownedFd) const;
    bool serveFile(Http::Exchange &exchange, const OpenFileEntry &file, int *ownedFd) const;

    Options m_options;
    QByteArray m_canonicalRoot; // realpath of root, or empty if it did not exist at startup
    // The root directory (O_PATH), and which inode it was, to notice a root replaced under the
    // same name (a directory renamed into place): then the path decides, not the old fd.
    int m_rootFd = -1;
    dev_t m_rootDev = 0;
    ino_t m_rootIno = 0;
    std::unique_ptr<OpenFileCache> m_cache;
    OpenFileEntry m_uncacheable; // a 403/500/503 answer a refresh() did not store (no fd)
};

// Adds `call = berth.static` to the registry, and makes it the app of directory routes.
void registerStaticFileApp(Pipeline::AppRegistry &registry);

} // namespace Berth::Apps
