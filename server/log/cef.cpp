#include "cef.h"

#include "http/request.h"
#include "logging.h"
#include "logsink.h"
#include "syslogclient.h"

#include <QDateTime>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <syslog.h>

namespace Berth::Log {

namespace {

std::atomic<bool> g_syslog{false};

// ArcSight caps most string extension fields at 1023 characters; a longer value is cut rather
// than letting one hostile request target fill the log.
constexpr qsizetype MaxValueChars = 1023;
constexpr qsizetype MaxHeaderChars = 512;

// Header fields (signature, name): '\' and '|' are escaped, line breaks can't be escaped there
// and would let a caller forge a second record, so every control character becomes a space.
void appendHeaderField(QString &out, const QString &value)
{
    const QString text = value.left(MaxHeaderChars);
    for (const QChar c : text) {
        if (c == u'\\' || c == u'|') {
            out += u'\\';
            out += c;
        } else if (c.unicode() < 0x20 || c.unicode() == 0x7f) {
            out += u' ';
        } else {
            out += c;
        }
    }
}

// Extension values: '\' and '=' are escaped, CR and LF written as \r and \n (the spec's
// escapes), so a value can hold anything without breaking the one-line-per-event format. Other
// control characters (ESC sequences aimed at the terminal of whoever tails the log) become
// spaces.
void appendExtensionValue(QString &out, const QString &value)
{
    const QString text = value.left(MaxValueChars);
    for (const QChar c : text) {
        switch (c.unicode()) {
        case u'\\':
            out += u"\\\\";
            break;
        case u'=':
            out += u"\\=";
            break;
        case u'\n':
            out += u"\\n";
            break;
        case u'\r':
            out += u"\\r";
            break;
        default:
            if (c.unicode() < 0x20 || c.unicode() == 0x7f)
                out += u' ';
            else
                out += c;
        }
    }
}

// Extension keys are fixed identifiers in the spec; a caller-supplied key keeps only letters
// and digits so it can't smuggle '=' or spaces into the record.
QString sanitizedKey(const QString &key)
{
    QString out;
    for (const QChar c : key) {
        if ((c >= u'a' && c <= u'z') || (c >= u'A' && c <= u'Z') || (c >= u'0' && c <= u'9'))
            out += c;
    }
    return out;
}

void appendExtension(QString &out, const QString &key, const QString &value)
{
    const QString cleanKey = sanitizedKey(key);
    if (cleanKey.isEmpty() || value.isEmpty())
        return;
    if (!out.isEmpty())
        out += u' ';
    out += cleanKey;
    out += u'=';
    appendExtensionValue(out, value);
}

QString addressText(const QHostAddress &address)
{
    bool mapped = false;
    const quint32 v4 = address.toIPv4Address(&mapped);
    return mapped ? QHostAddress(v4).toString() : address.toString();
}

QString utf8(QByteArrayView bytes)
{
    return QString::fromUtf8(bytes);
}

} // namespace

void setCefSyslog(bool enabled)
{
    // Connect now, before a privilege drop or chroot could make /dev/log unreachable.
    if (enabled)
        SyslogClient::process();
    g_syslog.store(enabled, std::memory_order_relaxed);
}

void logCef(const QString &message, int severity, const Http::Request *request,
            const QString &username, const QString &signature,
            const QList<QPair<QString, QString>> &extra)
{
    QString line = QStringLiteral("CEF:0|Mozilla|Berth|") + QStringLiteral(BERTH_VERSION) + u'|';
    appendHeaderField(line, signature.isEmpty() ? QStringLiteral("AuthFail") : signature);
    line += u'|';
    appendHeaderField(line, message);
    line += u'|';
    line += QString::number(qBound(0, severity, 10));
    line += u'|';

    QString ext;
    appendExtension(ext, QStringLiteral("rt"),
                    QString::number(QDateTime::currentMSecsSinceEpoch()));
    if (request) {
        if (!request->peerAddress.isNull()) {
            appendExtension(ext, QStringLiteral("src"), addressText(request->peerAddress));
            appendExtension(ext, QStringLiteral("spt"), QString::number(request->peerPort));
        }
        appendExtension(ext, QStringLiteral("requestMethod"), utf8(request->head.method));
        appendExtension(ext, QStringLiteral("request"), utf8(request->head.target));
        appendExtension(ext, QStringLiteral("dhost"), utf8(request->head.host));
    }
    appendExtension(ext, QStringLiteral("suser"), username);
    if (request && !request->txnId.isEmpty()) {
        appendExtension(ext, QStringLiteral("cs1Label"), QStringLiteral("txn"));
        appendExtension(ext, QStringLiteral("cs1"), utf8(request->txnId));
    }
    if (request) {
        appendExtension(ext, QStringLiteral("requestClientApplication"),
                        utf8(request->header("User-Agent")));
    }
    for (const auto &[key, value] : extra)
        appendExtension(ext, key, value);

    line += ext;
    const QByteArray bytes = line.toUtf8();
    if (LogSink *sink = Logging::cefLog()) {
        sink->append(bytes);
        // Security events reach the disk at once: they are what an investigation starts from,
        // and they are rare enough (one per refused request) not to need batching.
        sink->flush();
    } else {
        std::fprintf(stderr, "%s\n", bytes.constData());
    }
    if (g_syslog.load(std::memory_order_relaxed))
        SyslogClient::process().send(LOG_AUTH | LOG_WARNING, bytes);
}

} // namespace Berth::Log
