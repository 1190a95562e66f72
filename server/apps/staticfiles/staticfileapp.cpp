#include "staticfileapp.h"

#include "byteranges.h"
#include "multipartsender.h"
#include "preconditions.h"

#include "config/config.h"
#include "http/exchange.h"
#include "http/httpdate.h"
#include "http/mimetypes.h"

#include <QFile>
#include <QFileInfo>
#include <QLoggingCategory>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

namespace Berth::Apps {

namespace {

Q_LOGGING_CATEGORY(lcStatic, "berth.apps.static")

// RFC 8615 well-known URIs (ACME challenges, security.txt, ...) are public by definition, so
// the one dot-directory every site needs is not hidden with the other dotfiles.
constexpr QByteArrayView wellKnown = ".well-known";

class UniqueFd
{
public:
    UniqueFd() = default;
    explicit UniqueFd(int fd)
        : m_fd(fd)
    {}
    UniqueFd(UniqueFd &&other) noexcept
        : m_fd(std::exchange(other.m_fd, -1))
    {}
    UniqueFd &operator=(UniqueFd &&other) noexcept
    {
        reset(std::exchange(other.m_fd, -1));
        return *this;
    }
    ~UniqueFd() { reset(); }

    int get() const { return m_fd; }
    int release() { return std::exchange(m_fd, -1); }
    void reset(int fd = -1)
    {
        if (m_fd >= 0)
            ::close(m_fd);
        m_fd = fd;
    }

private:
    int m_fd = -1;
};

void respondStatus(Http::Exchange &exchange, int status)
{
    QByteArray body = QByteArray::number(status);
    body += ' ';
    body += Http::reasonPhrase(status).toByteArray();
    body += '\n';
    exchange.respond(status, "text/plain; charset=utf-8", body);
}

int statusForErrno(int error)
{
    switch (error) {
    case ENOENT:
    case ENOTDIR:
    case ELOOP: // a symlink loop, or O_NOFOLLOW met a symlink swapped in after realpath
    case ENAMETOOLONG:
    case ENXIO:
    case ENODEV:
        return 404;
    case EACCES:
    case EPERM:
        return 403;
    case EMFILE:
    case ENFILE:
    case ENOMEM:
        return 503;
    default:
        qCWarning(lcStatic, "unexpected error opening a file: %s", strerror(error));
        return 500;
    }
}

enum class PathVerdict { Ok, BadRequest, NotFound };

// Defence in depth: the engine normalises paths before routing, so none of these should reach
// us. Should that ever break (a new protocol front end, a router bug), a ".." here would climb
// out of the root, so this check does not trust it.
PathVerdict checkRelativePath(QByteArrayView rel, bool allowDotfiles)
{
    if (rel.contains('\0'))
        return PathVerdict::BadRequest; // would silently truncate the name in the C API
    if (rel.isEmpty())
        return PathVerdict::Ok; // the mount point itself: redirected to "/"
    if (rel.front() != '/')
        return PathVerdict::NotFound;
    qsizetype start = 1;
    while (start <= rel.size()) {
        qsizetype end = rel.indexOf('/', start);
        if (end < 0)
            end = rel.size();
        const QByteArrayView segment = rel.sliced(start, end - start);
        const bool last = end == rel.size();
        // "//" is never normalised; and "//host" echoed into a Location would be an open
        // redirect (a protocol-relative URL).
        if (segment.isEmpty() && !last)
            return PathVerdict::NotFound;
        if (segment == "." || segment == "..")
            return PathVerdict::NotFound;
        if (segment.startsWith('.') && !allowDotfiles && segment != wellKnown)
            return PathVerdict::NotFound; // .git, .env, .htpasswd: never served by accident
        start = end + 1;
    }
    return PathVerdict::Ok;
}

bool isInside(QByteArrayView canonical, QByteArrayView root)
{
    if (root == "/")
        return true;
    // A '/' boundary: /var/www-secret is not inside /var/www.
    return canonical.startsWith(root) &&
           (canonical.size() == root.size() || canonical[root.size()] == '/');
}

QByteArray joinPath(QByteArrayView directory, QByteArrayView rel)
{
    QByteArray path = directory.toByteArray();
    if (path.endsWith('/') && rel.startsWith('/'))
        path.chop(1);
    path += rel;
    return path;
}

// openat2(2) (Linux 5.6); glibc 2.36 has no wrapper. Cleared on ENOSYS so an old kernel pays
// for the failed call once per process.
std::atomic<bool> g_haveOpenat2{true};

int openBeneath(int dirFd, const char *relative)
{
    open_how how = {};
    how.flags = O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY;
    // Symlinks are followed only while they stay below the root; an absolute one or one that
    // climbs out fails with EXDEV, and realpath decides (follow_symlinks may allow it).
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    int fd;
    do {
        fd = int(::syscall(SYS_openat2, dirFd, relative, &how, sizeof how));
    } while (fd < 0 && errno == EINTR);
    return fd;
}

QByteArray realPath(const QByteArray &path, int &error)
{
    char *resolved = ::realpath(path.constData(), nullptr);
    if (!resolved) {
        error = errno;
        return {};
    }
    QByteArray result(resolved);
    std::free(resolved);
    return result;
}

bool isLocationSafe(char c)
{
    // unreserved / sub-delims / ":" "@" "/" (RFC 3986 pchar plus '/'); everything else is
    // escaped, so a decoded path can never smuggle CR/LF or quotes into the Location field.
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    return std::strchr("-._~!$&'()*+,;=:@/", c) != nullptr && c != '\0';
}

QByteArray percentEncode(QByteArrayView bytes, bool keepQueryChars)
{
    static constexpr char hex[] = "0123456789ABCDEF";
    QByteArray out;
    out.reserve(bytes.size() + 16);
    for (const char c : bytes) {
        const auto u = static_cast<unsigned char>(c);
        if (isLocationSafe(c) || (keepQueryChars && (c == '?' || c == '%'))) {
            out += c;
        } else {
            out += '%';
            out += hex[u >> 4];
            out += hex[u & 0xf];
        }
    }
    return out;
}

QByteArrayView lastSegment(QByteArrayView path)
{
    return path.sliced(path.lastIndexOf('/') + 1);
}

} // namespace

struct StaticFileApp::Resolved
{
    int status = 0; // 0: fd and info are valid
    UniqueFd fd;
    struct stat info = {};
    QByteArray canonical;

    bool isDirectory() const { return S_ISDIR(info.st_mode); }
};

StaticFileApp::StaticFileApp(Options options)
    : m_options(std::move(options))
{
    if (!m_options.root.isEmpty()) {
        int error = 0;
        m_canonicalRoot = realPath(QFile::encodeName(m_options.root), error);
        if (m_canonicalRoot.isEmpty()) {
            qCWarning(lcStatic, "root %s: %s (serving 404 until it exists)",
                      qPrintable(m_options.root), strerror(error));
        } else {
            m_rootFd = ::open(m_canonicalRoot.constData(), O_PATH | O_DIRECTORY | O_CLOEXEC);
            struct stat info = {};
            if (m_rootFd >= 0 && ::fstat(m_rootFd, &info) == 0) {
                m_rootDev = info.st_dev;
                m_rootIno = info.st_ino;
            } else if (m_rootFd >= 0) {
                ::close(m_rootFd);
                m_rootFd = -1;
            }
        }
    }
    if (m_options.openFileCache > 0) {
        m_cache = std::make_unique<OpenFileCache>(m_options.openFileCache,
                                                  m_options.openFileCacheValidMs, m_options.clock);
    }
}

StaticFileApp::~StaticFileApp()
{
    if (m_rootFd >= 0)
        ::close(m_rootFd);
}

QByteArray StaticFileApp::canonicalRoot() const
{
    if (!m_canonicalRoot.isEmpty() || m_options.root.isEmpty())
        return m_canonicalRoot;
    // The root did not exist at startup (a deploy that creates it later): resolve per request
    // rather than caching, so the app stays immutable and thread-safe.
    int error = 0;
    return realPath(QFile::encodeName(m_options.root), error);
}

bool StaticFileApp::resolveBeneath(const QByteArray &path, const QByteArray &root,
                                   Resolved &result) const
{
    if (m_rootFd < 0 || root != m_canonicalRoot || !g_haveOpenat2.load(std::memory_order_relaxed))
        return false;
    if (!path.startsWith(root) || (path.size() > root.size() && path[root.size()] != '/'))
        return false;
    // The name must still be the directory we opened (one stat, no per-component readlink):
    // a root replaced by a rename is served from the new one, as the path-based way did.
    struct stat now = {};
    if (::stat(root.constData(), &now) != 0 || now.st_dev != m_rootDev || now.st_ino != m_rootIno)
        return false;
    qsizetype from = root.size();
    while (from < path.size() && path[from] == '/')
        ++from;
    const char *relative = from < path.size() ? path.constData() + from : ".";
    const int fd = openBeneath(m_rootFd, relative);
    if (fd < 0) {
        const int error = errno;
        if (error == ENOSYS) {
            g_haveOpenat2.store(false, std::memory_order_relaxed);
            return false;
        }
        if (error == EXDEV || error == EAGAIN)
            return false; // a symlink leaving the root, or a rename race: realpath decides
        result.status = statusForErrno(error);
        return true;
    }
    // Beneath the root with every symlink inside it: path names the file as well as the
    // canonical one would (it is only used to find index files below a directory).
    result.canonical = path;
    openFinal(fd, result);
    return true;
}

void StaticFileApp::openFinal(int fd, Resolved &result) const
{
    result.fd = UniqueFd(fd);
    // Decide on what was opened, not on what a path check saw: no window between check and use.
    if (::fstat(fd, &result.info) != 0) {
        result.status = statusForErrno(errno);
        return;
    }
    if (!S_ISREG(result.info.st_mode) && !S_ISDIR(result.info.st_mode))
        result.status = 404; // devices, sockets, FIFOs
}

StaticFileApp::Resolved StaticFileApp::resolve(const QByteArray &path, const QByteArray &root) const
{
    Resolved result;
    if (resolveBeneath(path, root, result))
        return result;
    int error = 0;
    result.canonical = realPath(path, error);
    if (result.canonical.isEmpty()) {
        result.status = statusForErrno(error);
        return result;
    }
    // realpath has resolved every symlink; whatever the request named, this is where it lands.
    if (!m_options.followSymlinks && !isInside(result.canonical, root)) {
        result.status = 404;
        return result;
    }
    // O_NOFOLLOW: the canonical path has no symlinks, so one appearing now in the last component
    // was swapped in after the check above. O_NONBLOCK: open() on a FIFO planted in the tree
    // would otherwise block the event loop until a writer shows up; the fstat below rejects it.
    const int fd = ::open(result.canonical.constData(),
                          O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        result.status = statusForErrno(errno);
        return result;
    }
    openFinal(fd, result);
    return result;
}

namespace {

OpenFileEntry statusEntry(int status)
{
    OpenFileEntry entry;
    entry.kind = OpenFileEntry::Kind::Status;
    entry.status = status;
    return entry;
}

} // namespace

OpenFileEntry StaticFileApp::lookup(const QByteArray &rel) const
{
    const QByteArray root = canonicalRoot();
    if (root.isEmpty())
        return statusEntry(404); // a deploy in progress: the root does not exist yet

    Resolved target = resolve(joinPath(root, rel), root);
    if (target.status != 0)
        return statusEntry(target.status);

    auto fileEntry = [](Resolved &file, QByteArrayView nameForType) {
        OpenFileEntry entry;
        entry.kind = OpenFileEntry::Kind::File;
        entry.status = 0;
        entry.fd = file.fd.release();
        entry.size = file.info.st_size;
        entry.device = file.info.st_dev;
        entry.inode = file.info.st_ino;
        entry.path = std::move(file.canonical);
        entry.validators = Validators::forFile(file.info.st_mtim.tv_sec, entry.size);
        entry.lastModified = Http::formatHttpDate(entry.validators.lastModified);
        entry.contentType = Http::mimeTypeForPath(nameForType).toByteArray();
        return entry;
    };

    if (!target.isDirectory()) {
        // "/file.txt/" is ENOTDIR in realpath already, so a regular file here was named as one.
        return fileEntry(target, lastSegment(rel));
    }

    target.fd.reset();
    if (!rel.endsWith('/')) {
        OpenFileEntry entry;
        entry.kind = OpenFileEntry::Kind::Directory; // answered with a redirect to "dir/"
        entry.status = 0;
        return entry;
    }

    for (const QString &index : m_options.index) {
        const QByteArray name = QFile::encodeName(index);
        // The index may itself be a symlink: it goes through the same containment check.
        Resolved candidate = resolve(joinPath(target.canonical, '/' + name), root);
        if (candidate.status == 404 || (candidate.status == 0 && candidate.isDirectory()))
            continue;
        if (candidate.status != 0)
            return statusEntry(candidate.status);
        return fileEntry(candidate, name);
    }
    // No directory listings: they leak file names the site never linked to.
    return statusEntry(404);
}

const OpenFileEntry &StaticFileApp::refresh(const QByteArray &rel)
{
    OpenFileEntry fresh = lookup(rel);
    // Only a missing file is remembered: 403 may be a permission being fixed, 503 (out of fds)
    // and 500 are the server's trouble, not the file's.
    if (fresh.kind == OpenFileEntry::Kind::Status && fresh.status != 404) {
        m_cache->remove(rel);
        m_uncacheable = std::move(fresh);
        return m_uncacheable;
    }
    fresh.checkedMs = m_cache->now();
    return m_cache->store(rel, std::move(fresh));
}

Pipeline::Outcome StaticFileApp::handle(Http::Exchange &exchange)
{
    const Http::Request &request = exchange.request();
    const QByteArrayView method = request.method();
    if (method != "GET" && method != "HEAD") {
        exchange.response().setHeader("Allow", "GET, HEAD");
        respondStatus(exchange, 405);
        return Pipeline::Outcome::Answered;
    }

    if (m_options.root.isEmpty()) {
        // No root configured is a config error `berthd check` reports. It may never fall back
        // to serving "/" or the working directory.
        respondStatus(exchange, 500);
        return Pipeline::Outcome::Answered;
    }

    const QByteArray &rel = request.pathInfo;
    switch (checkRelativePath(rel, m_options.allowDotfiles)) {
    case PathVerdict::BadRequest:
        respondStatus(exchange, 400);
        return Pipeline::Outcome::Answered;
    case PathVerdict::NotFound:
        respondStatus(exchange, 404);
        return Pipeline::Outcome::Answered;
    case PathVerdict::Ok:
        break;
    }

    if (m_cache && rel.size() <= OpenFileCache::MaxKeyLength) {
        OpenFileCache::State state;
        const OpenFileEntry *entry = m_cache->find(rel, state);
        if (state != OpenFileCache::State::Fresh)
            entry = &refresh(rel);
        if (answer(exchange, *entry, nullptr))
            return Pipeline::Outcome::Answered;
        // A metadata-only entry whose file was replaced: forget it and look once more.
        m_cache->remove(rel);
    }
    OpenFileEntry entry = lookup(rel);
    answer(exchange, entry, &entry.fd);
    closeQuietly(entry.fd); // not handed over (HEAD, 304, ...)
    return Pipeline::Outcome::Answered;
}

bool StaticFileApp::answer(Http::Exchange &exchange, const OpenFileEntry &entry, int *ownedFd) const
{
    switch (entry.kind) {
    case OpenFileEntry::Kind::Status:
        respondStatus(exchange, entry.status);
        return true;
    case OpenFileEntry::Kind::File:
        return serveFile(exchange, entry, ownedFd);
    case OpenFileEntry::Kind::Directory:
        break;
    }
    // As nginx: relative links in the index page only resolve against "dir/".
    const Http::Request &request = exchange.request();
    QByteArray location = percentEncode(request.scriptName + request.pathInfo, false);
    location += '/';
    if (!request.query().isEmpty()) {
        location += '?';
        location += percentEncode(request.query(), true);
    }
    exchange.response().setHeader("Location", location);
    respondStatus(exchange, 301);
    return true;
}

namespace {

constexpr int FileChanged = -1000000; // below every -errno

// An fd for the body of a response from a cached entry: a duplicate of the one the cache keeps
// (the exchange closes what it is given, and may still be sending when the cache drops its
// own), or, for a metadata-only entry, the file opened again, which must still be the same
// file (FileChanged otherwise). -errno on failure.
int borrowFd(const OpenFileEntry &file)
{
    if (file.fd >= 0) {
        // The duplicate shares the file offset; the engine reads with pread/sendfile at explicit
        // offsets, so interleaved responses from one file never disturb each other.
        const int fd = ::fcntl(file.fd, F_DUPFD_CLOEXEC, 0);
        return fd >= 0 ? fd : -errno;
    }
    // No O_NOFOLLOW: the path may pass in-root symlinks (openat2 allowed them); what is opened
    // is accepted only if it is the very file the lookup checked (same device and inode), so a
    // symlink swapped in since can't lead anywhere else.
    const int fd = ::open(file.path.constData(), O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0)
        return errno == EMFILE || errno == ENFILE || errno == ENOMEM ? -errno : FileChanged;
    struct stat info = {};
    if (::fstat(fd, &info) != 0 || info.st_dev != file.device || info.st_ino != file.inode ||
        info.st_size != file.size || info.st_mtim.tv_sec != file.validators.lastModified) {
        closeQuietly(fd);
        return FileChanged;
    }
    return fd;
}

} // namespace

bool StaticFileApp::serveFile(Http::Exchange &exchange, const OpenFileEntry &file,
                              int *ownedFd) const
{
    const Http::Request &request = exchange.request();
    Http::Response &response = exchange.response();
    const qint64 size = file.size;
    const Validators &validators = file.validators;

    auto setValidators = [&] {
        response.setSharedHeader("ETag", validators.entityTag);
        response.setSharedHeader("Last-Modified", file.lastModified);
        if (!m_options.cacheControl.isEmpty())
            response.setSharedHeader("Cache-Control", m_options.cacheControl);
    };

    switch (evaluatePreconditions(request.head, validators)) {
    case Precondition::PreconditionFailed:
        respondStatus(exchange, 412);
        return true;
    case Precondition::NotModified:
        // RFC 9110 §15.4.5: the validators and Cache-Control a 200 would have carried, no body.
        setValidators();
        exchange.respond(304, {}, {});
        return true;
    case Precondition::Proceed:
        break;
    }

    RangeRequest range;
    // Range is defined for GET only; RFC 9110 §14.2 says to ignore it on anything else, HEAD
    // included. A repeated Range field is not a list: ignore it rather than pick one.
    const bool head = request.isHead();
    if (!head && request.head.fieldCount("Range") == 1 &&
        ifRangeAllowsRange(request.head, validators)) {
        range = parseRangeHeader(request.header("Range"), size);
    }

    if (range.kind == RangeRequest::Kind::Unsatisfiable) {
        response.setHeader("Content-Range",
                           QByteArrayLiteral("bytes */") + QByteArray::number(size));
        respondStatus(exchange, 416);
        return true;
    }

    const bool multipart = range.kind == RangeRequest::Kind::Ranges && range.ranges.size() > 1;
    qint64 offset = 0;
    qint64 length = size;
    if (range.kind == RangeRequest::Kind::Ranges && !multipart) {
        offset = range.ranges.front().first;
        length = range.ranges.front().length();
    }

    // The descriptor the body is sent from, before any field is set: a metadata-only entry
    // whose file changed can still be looked up again and answered afresh.
    int fd = -1;
    if (!head && (multipart || length > 0)) {
        fd = ownedFd ? std::exchange(*ownedFd, -1) : borrowFd(file);
        if (fd == FileChanged)
            return false;
        if (fd < 0) {
            respondStatus(exchange, statusForErrno(-fd));
            return true;
        }
    }

    setValidators();
    response.setHeader("Accept-Ranges", "bytes");

    if (multipart) {
        MultipartSender::start(exchange, fd, size, file.contentType, std::move(range.ranges));
        return true;
    }

    response.setSharedHeader("Content-Type", file.contentType);
    if (range.kind == RangeRequest::Kind::Ranges) {
        const ByteRange &only = range.ranges.front();
        response.status = 206;
        response.setHeader("Content-Range",
                           QByteArrayLiteral("bytes ") + QByteArray::number(only.first) + '-' +
                               QByteArray::number(only.last) + '/' + QByteArray::number(size));
    } else {
        response.status = 200;
    }

    if (fd < 0) {
        // HEAD, or nothing to send: the length it would send is announced all the same.
        exchange.startResponse(length);
        exchange.finish();
        return true;
    }
    // Started explicitly so the declared length is ours whichever way the engine's sendFile
    // reads its contract; then the kernel copies the bytes (sendfile), never this process.
    exchange.startResponse(length);
    exchange.sendFile(fd, offset, length);
    return true;
}

StaticFileApp::Options StaticFileApp::optionsFromConfig(const Pipeline::AppSetup &setup)
{
    const Config::Config &config = setup.config;
    const QString &section = setup.section;
    auto report = [&](Config::Diagnostic::Severity severity, const QString &key,
                      const QString &message) {
        Config::Diagnostic diagnostic;
        diagnostic.severity = severity;
        diagnostic.location = config.has(section, key)  ? config.location(section, key)
                              : config.section(section) ? config.section(section)->location
                                                        : Config::Location{};
        diagnostic.message = QStringLiteral("[%1] %2: %3").arg(section, key, message);
        config.addDiagnostic(diagnostic);
    };

    Options options;
    options.root = config.getPath(section, QStringLiteral("root"));
    if (options.root.isEmpty()) {
        report(Config::Diagnostic::Severity::Error, QStringLiteral("root"),
               QStringLiteral("required: the directory to serve files from"));
    } else if (!QFileInfo(options.root).isDir()) {
        // Only a warning: the directory may be created by a deploy after the server starts.
        report(Config::Diagnostic::Severity::Warning, QStringLiteral("root"),
               QStringLiteral("'%1' is not a directory (requests get 404 until it exists)")
                   .arg(options.root));
    }

    const QStringList index = config.getList(section, QStringLiteral("index"));
    options.index.clear();
    for (const QString &name : index) {
        // Index names are file names inside the requested directory, never paths: a "../x"
        // here would be a way around the containment check for every directory request.
        if (name.isEmpty() || name.contains(QLatin1Char('/')) || name.contains(QChar(0)) ||
            name == QLatin1String(".") || name == QLatin1String("..")) {
            report(Config::Diagnostic::Severity::Error, QStringLiteral("index"),
                   QStringLiteral("'%1' is not a file name").arg(name));
            continue;
        }
        options.index.append(name);
    }

    options.allowDotfiles = config.getBool(section, QStringLiteral("allow_dotfiles"));
    options.followSymlinks = config.getBool(section, QStringLiteral("follow_symlinks"));

    const QString cacheControl = config.getString(section, QStringLiteral("cache_control"));
    // Sent verbatim as a header value: visible ASCII and spaces only, so a config value can
    // never split the response.
    const bool printable = std::all_of(cacheControl.begin(), cacheControl.end(), [](QChar c) {
        return c.unicode() >= 0x20 && c.unicode() < 0x7f;
    });
    if (printable) {
        options.cacheControl = cacheControl.toLatin1();
    } else {
        report(Config::Diagnostic::Severity::Error, QStringLiteral("cache_control"),
               QStringLiteral("must be printable ASCII"));
    }
    readCacheOptions(config, section, options);
    return options;
}

void StaticFileApp::readCacheOptions(const Config::Config &config, const QString &section,
                                     Options &options)
{
    const QString server = QStringLiteral("server");
    const QString entries = QStringLiteral("open_file_cache");
    const QString valid = QStringLiteral("open_file_cache_valid");
    options.openFileCache =
        config.getInt(config.isSet(section, entries) ? section : server, entries);
    options.openFileCacheValidMs =
        config.getDuration(config.isSet(section, valid) ? section : server, valid).count();
}

void registerStaticFileApp(Pipeline::AppRegistry &registry)
{
    registry.add(QStringLiteral("berth.static"), [](const Pipeline::AppSetup &setup) {
        return std::make_unique<StaticFileApp>(StaticFileApp::optionsFromConfig(setup));
    });
    registry.setDirectoryApp(
        [](const QString &root, const Pipeline::AppSetup &setup) -> std::unique_ptr<Pipeline::App> {
            StaticFileApp::Options options;
            options.root = root;
            StaticFileApp::readCacheOptions(setup.config, QStringLiteral("server"), options);
            return std::make_unique<StaticFileApp>(options);
        });
}

} // namespace Berth::Apps
