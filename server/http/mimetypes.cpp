#include "mimetypes.h"

#include <config/config.h>

#include <QFile>

#include <algorithm>
#include <array>
#include <atomic>
#include <memory>
#include <mutex>
#include <string_view>
#include <vector>

namespace Berth::Http {

namespace {

struct MimeEntry
{
    std::string_view extension; // lower case, without the dot
    std::string_view type;
};

// Sorted by extension (checked at compile time below) for a binary search: no allocation, no
// static-initialisation order issues, no locking between threads.
constexpr std::array mimeTable = {
    MimeEntry{"7z", "application/x-7z-compressed"},
    MimeEntry{"aac", "audio/aac"},
    MimeEntry{"apng", "image/apng"},
    MimeEntry{"atom", "application/atom+xml"},
    MimeEntry{"avi", "video/x-msvideo"},
    MimeEntry{"avif", "image/avif"},
    MimeEntry{"bin", "application/octet-stream"},
    MimeEntry{"bmp", "image/bmp"},
    MimeEntry{"bz2", "application/x-bzip2"},
    MimeEntry{"cjs", "text/javascript; charset=utf-8"},
    MimeEntry{"css", "text/css; charset=utf-8"},
    MimeEntry{"csv", "text/csv; charset=utf-8"},
    MimeEntry{"doc", "application/msword"},
    MimeEntry{"docx", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
    MimeEntry{"eot", "application/vnd.ms-fontobject"},
    MimeEntry{"epub", "application/epub+zip"},
    MimeEntry{"flac", "audio/flac"},
    MimeEntry{"gif", "image/gif"},
    MimeEntry{"gz", "application/gzip"},
    MimeEntry{"htm", "text/html; charset=utf-8"},
    MimeEntry{"html", "text/html; charset=utf-8"},
    MimeEntry{"ico", "image/x-icon"},
    MimeEntry{"ics", "text/calendar; charset=utf-8"},
    MimeEntry{"jpeg", "image/jpeg"},
    MimeEntry{"jpg", "image/jpeg"},
    MimeEntry{"js", "text/javascript; charset=utf-8"},
    MimeEntry{"json", "application/json"},
    MimeEntry{"jsonld", "application/ld+json"},
    MimeEntry{"m4a", "audio/mp4"},
    MimeEntry{"m4v", "video/mp4"},
    MimeEntry{"map", "application/json"},
    MimeEntry{"md", "text/markdown; charset=utf-8"},
    MimeEntry{"mjs", "text/javascript; charset=utf-8"},
    MimeEntry{"mov", "video/quicktime"},
    MimeEntry{"mp3", "audio/mpeg"},
    MimeEntry{"mp4", "video/mp4"},
    MimeEntry{"mpeg", "video/mpeg"},
    MimeEntry{"oga", "audio/ogg"},
    MimeEntry{"ogg", "audio/ogg"},
    MimeEntry{"ogv", "video/ogg"},
    MimeEntry{"opus", "audio/ogg"},
    MimeEntry{"otf", "font/otf"},
    MimeEntry{"pdf", "application/pdf"},
    MimeEntry{"png", "image/png"},
    MimeEntry{"rss", "application/rss+xml"},
    MimeEntry{"rtf", "application/rtf"},
    MimeEntry{"svg", "image/svg+xml"},
    MimeEntry{"tar", "application/x-tar"},
    MimeEntry{"tgz", "application/gzip"},
    MimeEntry{"tif", "image/tiff"},
    MimeEntry{"tiff", "image/tiff"},
    MimeEntry{"ttf", "font/ttf"},
    MimeEntry{"txt", "text/plain; charset=utf-8"},
    MimeEntry{"vtt", "text/vtt; charset=utf-8"},
    MimeEntry{"wasm", "application/wasm"},
    MimeEntry{"wav", "audio/wav"},
    MimeEntry{"weba", "audio/webm"},
    MimeEntry{"webm", "video/webm"},
    MimeEntry{"webmanifest", "application/manifest+json"},
    MimeEntry{"webp", "image/webp"},
    MimeEntry{"woff", "font/woff"},
    MimeEntry{"woff2", "font/woff2"},
    MimeEntry{"xhtml", "application/xhtml+xml"},
    MimeEntry{"xlsx", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
    MimeEntry{"xml", "application/xml"},
    MimeEntry{"xz", "application/x-xz"},
    MimeEntry{"yaml", "application/yaml"},
    MimeEntry{"yml", "application/yaml"},
    MimeEntry{"zip", "application/zip"},
    MimeEntry{"zst", "application/zstd"},
};

constexpr bool extensionLess(const MimeEntry &a, const MimeEntry &b)
{
    return a.extension < b.extension;
}
static_assert(std::is_sorted(mimeTable.begin(), mimeTable.end(), extensionLess),
              "mimeTable must stay sorted by extension for the binary search");

// Longer than any in the table and in /etc/mime.types; installed longer ones are not found.
constexpr std::size_t maxExtensionLength = 32;
constexpr QByteArrayView defaultType = "application/octet-stream";

// What installMimeTypes() installed.
struct InstalledTable
{
    MimeTypeMap entries;
    bool builtin = true; // the built-in table is looked in after entries
};
// The installed table; nullptr: none (the built-in table alone).
std::atomic<const InstalledTable *> installed{nullptr};
// Every table ever installed, kept for the life of the process: a thread may still hold a view
// into the table a later install replaced (installs happen once per process start, and in tests).
std::mutex tablesMutex;
std::vector<std::unique_ptr<const InstalledTable>> &tables()
{
    // Never destroyed either: threads may look up types while the process exits.
    static auto *all = new std::vector<std::unique_ptr<const InstalledTable>>;
    return *all;
}

QByteArrayView toView(std::string_view s)
{
    return QByteArrayView(s.data(), qsizetype(s.size()));
}

} // namespace

QByteArrayView mimeTypeForPath(QByteArrayView path)
{
    const qsizetype slash = path.lastIndexOf('/');
    const QByteArrayView name = path.sliced(slash + 1);
    const qsizetype dot = name.lastIndexOf('.');
    // dot == 0 is a dotfile name (".bashrc"), not an extension, as in Python's splitext.
    if (dot <= 0)
        return defaultType;
    const QByteArrayView extension = name.sliced(dot + 1);
    if (extension.isEmpty() || std::size_t(extension.size()) > maxExtensionLength)
        return defaultType;

    // Lower-case into a stack buffer: no allocation per request.
    char lower[maxExtensionLength];
    for (qsizetype i = 0; i < extension.size(); ++i) {
        const char c = extension[i];
        lower[i] = (c >= 'A' && c <= 'Z') ? char(c - 'A' + 'a') : c;
    }
    const std::string_view key(lower, std::size_t(extension.size()));
    // Acquire: pairs with the release in installMimeTypes, so the map's contents are visible.
    if (const InstalledTable *extra = installed.load(std::memory_order_acquire)) {
        const auto found =
            extra->entries.constFind(QByteArray::fromRawData(lower, extension.size()));
        if (found != extra->entries.cend())
            return QByteArrayView(*found);
        if (!extra->builtin)
            return defaultType;
    }
    const auto it = std::lower_bound(
        mimeTable.begin(), mimeTable.end(), key,
        [](const MimeEntry &entry, std::string_view k) { return entry.extension < k; });
    if (it == mimeTable.end() || it->extension != key)
        return defaultType;
    return toView(it->type);
}

MimeTypeMap parseMimeTypes(QByteArrayView text, int *badLine)
{
    MimeTypeMap map;
    if (badLine)
        *badLine = 0;
    int number = 0;
    for (QByteArray line : text.toByteArray().split('\n')) {
        ++number;
        const qsizetype hash = line.indexOf('#');
        if (hash >= 0)
            line.truncate(hash);
        const QList<QByteArray> words = line.simplified().split(' ');
        if (words.isEmpty() || words.front().isEmpty())
            continue;
        QByteArray type = words.front().toLower();
        const qsizetype slash = type.indexOf('/');
        if (slash <= 0 || slash == type.size() - 1 || type.indexOf('/', slash + 1) >= 0) {
            if (badLine && *badLine == 0)
                *badLine = number;
            continue;
        }
        if (type.startsWith("text/") && !type.contains(';'))
            type += "; charset=utf-8";
        for (qsizetype i = 1; i < words.size(); ++i) {
            const QByteArray extension = words[i].toLower();
            if (extension.startsWith('.'))
                map.insert(extension.mid(1), type);
            else
                map.insert(extension, type);
        }
    }
    return map;
}

void installMimeTypes(const MimeTypeMap &entries, bool builtin)
{
    const InstalledTable *table = nullptr;
    if (!entries.isEmpty() || !builtin) {
        const std::lock_guard lock(tablesMutex);
        tables().push_back(
            std::make_unique<const InstalledTable>(InstalledTable{entries, builtin}));
        table = tables().back().get();
    }
    installed.store(table, std::memory_order_release);
}

bool loadMimeTypes(const Config::Config &config, bool install)
{
    using namespace Qt::StringLiterals;
    const QString section = u"server"_s;
    const QString key = u"mime_types"_s;
    const QString path = config.getPath(section, key);
    const bool builtin = config.getBool(section, u"mime_types_builtin"_s);
    if (path.isEmpty()) {
        if (install)
            installMimeTypes({}, builtin);
        return true;
    }
    const Config::Location at = config.location(section, key);
    QFile file(path);
    if (!file.open(QIODevice::ReadOnly)) {
        config.addDiagnostic(
            {Config::Diagnostic::Severity::Error, at,
             u"[server] mime_types: cannot read '%1': %2"_s.arg(path, file.errorString())});
        return false;
    }
    int badLine = 0;
    const MimeTypeMap map = parseMimeTypes(file.read(4 * 1024 * 1024), &badLine);
    if (badLine > 0) {
        config.addDiagnostic({Config::Diagnostic::Severity::Error, Config::Location{path, badLine},
                              u"expected 'type/subtype extension...' (mime.types format)"_s});
        return false;
    }
    if (install)
        installMimeTypes(map, builtin);
    return true;
}

} // namespace Berth::Http
