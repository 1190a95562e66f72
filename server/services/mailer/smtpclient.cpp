#include "smtpclient.h"

#include <config/config.h>

#include <curl/curl.h>

#include <mutex>

namespace Berth::Services {

using namespace Qt::StringLiterals;

namespace {

struct Upload
{
    const QByteArray *data = nullptr;
    qsizetype offset = 0;
};

size_t readData(char *buffer, size_t size, size_t count, void *user)
{
    auto *upload = static_cast<Upload *>(user);
    const qsizetype left = upload->data->size() - upload->offset;
    const qsizetype n = qMin<qsizetype>(left, qsizetype(size * count));
    if (n > 0) {
        memcpy(buffer, upload->data->constData() + upload->offset, size_t(n));
        upload->offset += n;
    }
    return size_t(n);
}

// Follows the conversation to learn each recipient's answer: libcurl only says whether at
// least one was accepted (CURLOPT_MAIL_RCPT_ALLOWFAILS). Commands go out one at a time
// (libcurl doesn't pipeline SMTP), so the reply after "RCPT TO:<x>" is x's.
struct Conversation
{
    QString currentRcpt;
    QByteArray pendingReply; // multi-line reply so far
    QList<QPair<QString, QByteArray>> rcptReplies;
    QByteArray lastReply;
};

int debugCallback(CURL *, curl_infotype type, char *data, size_t size, void *user)
{
    auto *c = static_cast<Conversation *>(user);
    const QByteArray text(data, qsizetype(size));
    if (type == CURLINFO_HEADER_OUT) {
        if (text.startsWith("RCPT TO:")) {
            const qsizetype open = text.indexOf('<');
            const qsizetype close = text.indexOf('>');
            c->currentRcpt = open >= 0 && close > open
                                 ? QString::fromUtf8(text.mid(open + 1, close - open - 1))
                                 : QString();
        } else {
            c->currentRcpt.clear();
        }
    } else if (type == CURLINFO_HEADER_IN) {
        for (const QByteArray &line : text.split('\n')) {
            const QByteArray l = line.trimmed();
            if (l.size() < 3)
                continue;
            // "250-..." continues, "250 ..." ends a reply.
            if (l.size() > 3 && l[3] == '-')
                continue;
            c->lastReply = l;
            if (!c->currentRcpt.isEmpty()) {
                c->rcptReplies.append({c->currentRcpt, l});
                c->currentRcpt.clear();
            }
        }
    }
    return 0;
}

int replyCode(const QByteArray &reply)
{
    bool ok = false;
    const int code = reply.left(3).toInt(&ok);
    return ok ? code : 0;
}

} // namespace

void initCurl()
{
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool SmtpSettings::parseServer(const QString &text, QString *host, int *port, QString *error)
{
    QString h = text.trimmed();
    int p = 25;
    const qsizetype colon = h.lastIndexOf(u':');
    if (colon >= 0 && !h.endsWith(u']') && h.count(u':') == 1) {
        bool ok = false;
        p = h.mid(colon + 1).toInt(&ok);
        if (!ok || p < 1 || p > 65535) {
            *error = u"'%1' is not host:port"_s.arg(text);
            return false;
        }
        h = h.left(colon);
    } else if (h.startsWith(u'[')) {
        const qsizetype close = h.indexOf(u']');
        if (close < 0) {
            *error = u"'%1' is not host:port"_s.arg(text);
            return false;
        }
        if (close + 1 < h.size()) {
            bool ok = false;
            p = h.mid(close + 2).toInt(&ok);
            if (!ok || h[close + 1] != u':' || p < 1 || p > 65535) {
                *error = u"'%1' is not host:port"_s.arg(text);
                return false;
            }
        }
        h = h.mid(1, close - 1);
    }
    if (h.isEmpty() || h.contains(u'/') || h.contains(u' ')) {
        *error = u"'%1' is not host:port"_s.arg(text);
        return false;
    }
    *host = h;
    *port = p;
    return true;
}

bool SmtpSettings::parseSsl(const QString &text, Ssl *ssl)
{
    const QString t = text.trimmed().toLower();
    if (t == "no"_L1 || t == "off"_L1 || t == "false"_L1 || t.isEmpty())
        *ssl = Ssl::No;
    else if (t == "starttls"_L1)
        *ssl = Ssl::StartTls;
    else if (t == "tls"_L1 || t == "yes"_L1 || t == "on"_L1 || t == "true"_L1)
        *ssl = Ssl::Tls;
    else
        return false;
    return true;
}

SmtpSettings SmtpSettings::fromConfig(const Config::Config &config)
{
    const QString s = u"mailer"_s;
    SmtpSettings settings;
    QString error;
    parseServer(config.getString(s, u"smtpserver"_s), &settings.host, &settings.port, &error);
    parseSsl(config.getString(s, u"ssl"_s), &settings.ssl);
    settings.verify = config.getBool(s, u"ssl_verify"_s);
    settings.caFile = config.getPath(s, u"ssl_ca"_s);
    settings.user = config.getString(s, u"user"_s);
    settings.password = config.getSecret(s, u"password"_s).toUtf8();
    settings.connectTimeoutMs = config.getDuration(s, u"connect_timeout"_s).count();
    settings.timeoutMs = config.getDuration(s, u"timeout"_s).count();
    return settings;
}

SmtpResult sendMail(const SmtpSettings &settings, const QString &from,
                    const QStringList &recipients, const QByteArray &data)
{
    SmtpResult result;
    CURL *curl = curl_easy_init();
    if (!curl) {
        result.failed = true;
        result.error = u"curl_easy_init failed"_s;
        return result;
    }
    const QString host = settings.host.contains(u':') ? u'[' + settings.host + u']' : settings.host;
    const QByteArray url = (settings.ssl == SmtpSettings::Ssl::Tls ? "smtps://" : "smtp://") +
                           host.toUtf8() + ':' + QByteArray::number(settings.port);
    curl_easy_setopt(curl, CURLOPT_URL, url.constData());
    curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, long(settings.connectTimeoutMs));
    curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, long(settings.timeoutMs));
    if (settings.ssl == SmtpSettings::Ssl::StartTls)
        curl_easy_setopt(curl, CURLOPT_USE_SSL, long(CURLUSESSL_ALL));
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, settings.verify ? 1L : 0L);
    curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, settings.verify ? 2L : 0L);
    const QByteArray ca = settings.caFile.toLocal8Bit();
    if (!ca.isEmpty())
        curl_easy_setopt(curl, CURLOPT_CAINFO, ca.constData());
    const QByteArray user = settings.user.toUtf8();
    if (!user.isEmpty()) {
        curl_easy_setopt(curl, CURLOPT_USERNAME, user.constData());
        curl_easy_setopt(curl, CURLOPT_PASSWORD, settings.password.constData());
    }
    const QByteArray fromSpec = '<' + from.toUtf8() + '>';
    curl_easy_setopt(curl, CURLOPT_MAIL_FROM, fromSpec.constData());
    curl_slist *rcpts = nullptr;
    for (const QString &r : recipients)
        rcpts = curl_slist_append(rcpts, ('<' + r.toUtf8() + '>').constData());
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT, rcpts);
#if LIBCURL_VERSION_NUM >= 0x080200
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT_ALLOWFAILS, 1L);
#else
    curl_easy_setopt(curl, CURLOPT_MAIL_RCPT_ALLLOWFAILS, 1L); // spelled so before curl 8.2
#endif
    Upload upload{&data, 0};
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, curl_off_t(data.size()));
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, readData);
    curl_easy_setopt(curl, CURLOPT_READDATA, &upload);
    Conversation conversation;
    curl_easy_setopt(curl, CURLOPT_DEBUGFUNCTION, debugCallback);
    curl_easy_setopt(curl, CURLOPT_DEBUGDATA, &conversation);
    curl_easy_setopt(curl, CURLOPT_VERBOSE, 1L);
    char errorBuffer[CURL_ERROR_SIZE] = {};
    curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errorBuffer);

    const CURLcode code = curl_easy_perform(curl);
    long response = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response);
    curl_slist_free_all(rcpts);
    curl_easy_cleanup(curl);

    QStringList answered;
    for (const auto &[rcpt, reply] : std::as_const(conversation.rcptReplies)) {
        const int c = replyCode(reply);
        if (c >= 200 && c < 300)
            continue;
        answered.append(rcpt);
        const QString line = rcpt + u": "_s + QString::fromUtf8(reply);
        (c >= 500 ? result.refusedPermanent : result.refusedTransient).append(line);
    }
    result.code = replyCode(conversation.lastReply);
    if (result.code == 0)
        result.code = int(response);
    if (code == CURLE_OK) {
        for (const QString &r : recipients) {
            if (!answered.contains(r))
                result.accepted.append(r);
        }
        return result;
    }
    result.failed = true;
    const QString reply = QString::fromUtf8(conversation.lastReply);
    const QString curlError =
        QString::fromUtf8(*errorBuffer ? errorBuffer : curl_easy_strerror(code));
    result.error = reply.isEmpty() || code == CURLE_OPERATION_TIMEDOUT
                       ? curlError
                       : curlError + u": "_s + reply;
    // A 5xx reply ends it for good; connection, TLS and timeout failures and 4xx replies are
    // worth another try.
    result.permanent = code != CURLE_OPERATION_TIMEDOUT && code != CURLE_COULDNT_CONNECT &&
                       code != CURLE_LOGIN_DENIED && result.code >= 500 && result.code < 600 &&
                       code != CURLE_SSL_CONNECT_ERROR && code != CURLE_PEER_FAILED_VERIFICATION;
    return result;
}

} // namespace Berth::Services
