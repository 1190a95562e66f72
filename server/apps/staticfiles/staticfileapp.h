#pragma once

#include "pipeline/app.h"
#include "pipeline/appregistry.h"

#include <QByteArray>
#include <QString>
#include <QStringList>

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
        QString root;                    // absolute directory
        QStringList index = {QStringLiteral("index.html")};
        bool allowDotfiles = false;      // serve names starting with '.'
        bool followSymlinks = false;     // allow symlinks that point outside root
        QByteArray cacheControl;         // sent as Cache-Control when set
    };

    explicit StaticFileApp(Options options);
    // Reads root, index, allow_dotfiles, follow_symlinks, cache_control from the section.
    static Options optionsFromConfig(const Pipeline::AppSetup &setup);

    Pipeline::Outcome handle(Http::Exchange &exchange) override;

private:
    Options m_options;
    QByteArray m_canonicalRoot;
};

} // namespace Berth::Apps
