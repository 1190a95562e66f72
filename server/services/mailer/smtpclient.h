#pragma once

#include <QByteArray>
#include <QString>
#include <QStringList>

namespace Berth::Config {
class Config;
}

namespace Berth::Services {

// How the agent reaches its SMTP server ([mailer] keys).
struct SmtpSettings
{
    enum class Ssl { No, StartTls, Tls };

    QString host;
    int port = 25;
    Ssl ssl = Ssl::No;
    bool verify = true;
    QString caFile;
    QString user;
    QByteArray password;
    qint64 connectTimeoutMs = 30'000;
    qint64 timeoutMs = 300'000;

    // Parses `host:port` and `ssl`; false with a reason for a bad value.
    static bool parseServer(const QString &text, QString *host, int *port, QString *error);
    static bool parseSsl(const QString &text, Ssl *ssl);
    // Everything but the password file, which the caller reads.
    static SmtpSettings fromConfig(const Config::Config &config);
};

// The outcome of one SMTP conversation.
struct SmtpResult
{
    QStringList accepted;         // recipients the server took the message for
    QStringList refusedTransient; // "addr: 450 ..." (retry later)
    QStringList refusedPermanent; // "addr: 550 ..." (never)
    // The conversation failed for every recipient not listed above: transient (4xx,
    // connection, TLS, timeout) unless permanent (5xx).
    bool failed = false;
    bool permanent = false;
    int code = 0;  // last SMTP reply code, 0 when none came
    QString error; // what failed, for smtpda.log
};

// Sends data (the composed message) from `from` to `recipients` with libcurl. Blocking: the
// agent calls it on a thread of its own, never on its event loop.
SmtpResult sendMail(const SmtpSettings &settings, const QString &from,
                    const QStringList &recipients, const QByteArray &data);

// Curl's global state, once per process before any thread uses curl.
void initCurl();

} // namespace Berth::Services
