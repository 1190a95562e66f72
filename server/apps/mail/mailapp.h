#pragma once

#include "mail/spool.h"
#include "pipeline/app.h"
#include "pipeline/appregistry.h"

#include <net/addresslist.h>

#include <memory>

namespace Berth::Core {
class OffloadPool;
}

namespace Berth::Apps {

// berth.mail: queues mail for the [mailer] agent over HTTP. POST a JSON message (the contract
// in docs/mail.md) or an application/x-www-form-urlencoded form with the same fields
// (`to`/`cc`/`bcc` comma-separated; no attachments); the body is parsed, validated and written
// to the spool on the offload pool (big bodies, fsync), then the answer is 202
// {"id": "..."}, 400 with the reason, 507 (spool full) or 503 (spool unavailable, pool busy).
// Answers only `allow`ed clients (loopback by default), others get 403.
class MailApp final : public Pipeline::App
{
public:
    MailApp(Mail::Spool spool, Net::AddressList allowed, Core::OffloadPool *pool);
    ~MailApp() override;
    Pipeline::Outcome handle(Http::Exchange &exchange) override;
    // Creates the spool's directories. A spool that can't be made is not fatal: each request
    // then answers 503 with the reason, and the rest of the server serves.
    bool start(QString *error) override;

    // The message a request body describes, or why it can't be read (400).
    static std::optional<Mail::Message> parseBody(QByteArrayView contentType,
                                                  const QByteArray &body, QString *error);
    // parseBody() then Spool::queue(): blocking, run on the offload pool.
    static Mail::QueueResult parseAndQueue(const Mail::Spool &spool, const QByteArray &contentType,
                                           const QByteArray &body);

private:
    void queue(Http::Exchange &exchange, const QByteArray &body);

    Mail::Spool m_spool;
    Net::AddressList m_allowed;
    Core::OffloadPool *m_pool = nullptr;
    std::shared_ptr<int> m_lifetime = std::make_shared<int>(0);
};

void registerMailApp(Pipeline::AppRegistry &registry);

} // namespace Berth::Apps
