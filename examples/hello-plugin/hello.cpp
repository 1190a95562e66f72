// The hello plugin (docs/plugins.md walks through it):
//   [app:hello]  call = plugin:hello   greeting = Hello      -> "Hello, NAME!" for /hello?NAME
//   [tcp:shout]  call = plugin:hello                         -> echoes each byte upper-cased
//   [api-gateway] auth_handler = plugin:hello:hello-tokens  -> "hello-USER" tokens are USER's
#include <berth/config/config.h>
#include <berth/http/exchange.h>
#include <berth/plugin.h>

#include <memory>

using namespace Berth;

namespace {

// HTTP: answers every request with the configured greeting and counts them in berth.stats
// ("app:NAME.greetings").
class HelloApp final : public Pipeline::App
{
public:
    HelloApp(QByteArray greeting, SocketApps::AppStats stats)
        : m_greeting(std::move(greeting))
        , m_stats(stats)
        , m_greetings(m_stats.declare(QStringLiteral("greetings"), Core::StatType::Sum))
    {}

    Pipeline::Outcome handle(Http::Exchange &exchange) override
    {
        const QByteArrayView query = exchange.request().query();
        const QByteArray who = query.isEmpty() ? QByteArray("world") : query.toByteArray();
        m_stats.add(m_greetings);
        exchange.respond(200, "text/plain; charset=utf-8", m_greeting + ", " + who + "!\n");
        return Pipeline::Outcome::Answered;
    }

private:
    QByteArray m_greeting;
    SocketApps::AppStats m_stats;
    int m_greetings;
};

std::unique_ptr<Pipeline::App> buildHello(const Pipeline::AppSetup &setup)
{
    // brim's parse_conf: read and check our own keys; a problem is a file:line error in
    // `berthd check`, and no app is built.
    const QString key = QStringLiteral("greeting");
    QString greeting = setup.config.getString(setup.section, key);
    if (greeting.isEmpty())
        greeting = QStringLiteral("Hello");
    if (greeting.size() > 64) {
        setup.config.addDiagnostic(
            {Config::Diagnostic::Severity::Error, setup.config.location(setup.section, key),
             QStringLiteral("[%1] greeting: at most 64 characters").arg(setup.section)});
        return nullptr;
    }
    return std::make_unique<HelloApp>(greeting.toUtf8(), Plugins::appStats(setup));
}

// TCP: one session per connection, echoing what it reads upper-cased.
class ShoutSession final : public SocketApps::StreamSession
{
public:
    ShoutSession(SocketApps::AppStats &stats, int bytes)
        : m_stats(stats)
        , m_bytes(bytes)
    {}

    void onReadable(SocketApps::Stream &stream) override
    {
        while (stream.canWrite()) {
            const QByteArray chunk = stream.read(4096);
            if (chunk.isEmpty())
                break;
            m_stats.add(m_bytes, chunk.size());
            stream.write(chunk.toUpper());
        }
        if (stream.atEnd())
            stream.close();
    }

private:
    SocketApps::AppStats &m_stats;
    int m_bytes;
};

class ShoutApp final : public SocketApps::StreamApp
{
public:
    explicit ShoutApp(SocketApps::SocketAppSetup &setup)
        : m_stats(setup.stats)
        , m_bytes(m_stats.declare(QStringLiteral("shouted_bytes"), Core::StatType::Sum))
    {}

    std::unique_ptr<SocketApps::StreamSession> accept(SocketApps::Stream &) override
    {
        return std::make_unique<ShoutSession>(m_stats, m_bytes);
    }

private:
    SocketApps::AppStats m_stats;
    int m_bytes;
};

// An auth handler (berth.gateway's auth_handler, Skitai's handle_token): a bearer token
// "hello-NAME" is the user NAME with the role "hello"; "hello-" alone is refused with a reason.
// A real one would look the token up in memory (a table its daemon keeps fresh, say): it runs
// on the event loop, once per request.
Plugins::AuthVerdict helloTokens(QByteArrayView token, const Http::Request &)
{
    Plugins::AuthVerdict verdict;
    if (!token.startsWith("hello-"))
        return verdict; // refused without a reason: "refused by the auth handler"
    verdict.user = QString::fromLatin1(token.sliced(6));
    verdict.accepted = !verdict.user.isEmpty();
    verdict.roles = {QStringLiteral("hello")};
    if (!verdict.accepted)
        verdict.reason = QStringLiteral("hello- token without a name");
    return verdict;
}

void registerHello(Plugins::Registrar &registrar)
{
    registrar.addAuthHandler(QStringLiteral("hello-tokens"), helloTokens);
    registrar.addApp(QStringLiteral("hello"), buildHello);
    registrar.addStreamApp(QStringLiteral("shout"), [](SocketApps::SocketAppSetup &setup) {
        return std::make_unique<ShoutApp>(setup);
    });
}

} // namespace

BERTH_PLUGIN("hello", "1.0", registerHello)
