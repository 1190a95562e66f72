#pragma once

#include "pipeline/app.h"
#include "pipeline/appregistry.h"

#include <QByteArray>
#include <QString>
#include <QStringList>

#include <sys/types.h>

namespace Berth::Apps {

// berth.static: serves files under a root directory (a directory route `/ = /var/www` or an
// [app:NAME] with `call = berth.static`). Safe path resolution (no "..", no symlink escape
// unless allowed, no dotfiles by default), Content-Type by extension, ETag / Last-Modified /
// 304, Range / 206 / 416, HEAD, index files, large files streamed with sendfile.
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
    };

    explicit StaticFileApp(Options options);
    ~StaticFileApp() override;
    // Reads root, index, allow_dotfiles, follow_symlinks, cache_control from the section.
    static Options optionsFromConfig(const Pipeline::AppSetup &setup);

    Pipeline::Outcome handle(Http::Exchange &exchange) override;

private:
    struct Resolved;
    QByteArray canonicalRoot() const;
    Resolved resolve(const QByteArray &path, const QByteArray &root) const;
    // The fast path of resolve(): openat2(RESOLVE_BENEATH) below the root opened at startup.
    // False when it can't decide (an escaping or absolute symlink, a replaced root, no openat2):
    // realpath then does, as before.
    bool resolveBeneath(const QByteArray &path, const QByteArray &root, Resolved &result) const;
    void openFinal(int fd, Resolved &result) const;
    void serveFile(Http::Exchange &exchange, Resolved &file, QByteArrayView nameForType) const;

    Options m_options;
    QByteArray m_canonicalRoot; // realpath of root, or empty if it did not exist at startup
    // The root directory (O_PATH), and which inode it was, to notice a root replaced under the
    // same name (a directory renamed into place): then the path decides, not the old fd.
    int m_rootFd = -1;
    dev_t m_rootDev = 0;
    ino_t m_rootIno = 0;
};

// Adds `call = berth.static` to the registry, and makes it the app of directory routes.
void registerStaticFileApp(Pipeline::AppRegistry &registry);

} // namespace Berth::Apps
