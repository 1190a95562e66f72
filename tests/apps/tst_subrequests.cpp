// Subrequests (server/apps/subrequest/) and berth.compose (server/apps/compose/): local calls
// through a fake router to fake apps, group calls to a real loopback member, the clocks driven
// by the parent FakeExchange's timers.

#include "apps/compose/calltemplate.h"
#include "apps/compose/composeapp.h"
#include "apps/subrequest/localexchange.h"
#include "apps/subrequest/subrequests.h"
#include "fakeexchange.h"
#include "http/identity.h"
#include "pipeline/appregistry.h"
#include "pipeline/pipeline.h"

#include <config/config.h>

#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QTcpServer>
#include <QTcpSocket>
#include <QtTest>

#include <map>

using namespace Berth;
using Subrequests::Batch;
using Subrequests::Call;
using Subrequests::Result;
using Tests::FakeExchange;
using namespace Qt::StringLiterals;

namespace {

// A test app: answers by what the test tells it, records what it saw.
class ScriptedApp final : public Pipeline::App
{
public:
    enum class Mode { Json, Later, Never, Big, Throw };
    explicit ScriptedApp(Mode mode)
        : m_mode(mode)
    {}
    Pipeline::Outcome handle(Http::Exchange &exchange) override
    {
        ++calls;
        const Http::Request &request = exchange.request();
        lastTxn = request.txnId;
        lastUser = Http::userOf(request);
        lastCookie = request.header("cookie").toByteArray();
        lastPathInfo = request.pathInfo;
        inheritedCount = request.attributes.get<Subrequests::SubrequestCount>() != nullptr;
        exchange.setAbortHandler([this] { ++aborts; });
        switch (m_mode) {
        case Mode::Json:
            exchange.respond(200, "application/json", "{\"n\": 12345678901234567890}");
            break;
        case Mode::Later:
            exchange.runAfter(5, [&exchange] { exchange.respond(201, "text/plain", "later"); });
            break;
        case Mode::Never:
            break;
        case Mode::Big:
            exchange.startResponse(-1);
            for (int i = 0; i < 10; ++i)
                exchange.write(QByteArray(100, 'x'));
            exchange.finish();
            break;
        case Mode::Throw:
            throw std::runtime_error("boom");
        }
        return Pipeline::Outcome::Answered;
    }
    int calls = 0;
    int aborts = 0;
    QByteArray lastTxn;
    QString lastUser;
    QByteArray lastCookie;
    QByteArray lastPathInfo;
    bool inheritedCount = false;

private:
    Mode m_mode;
};

// Routes "/json", "/later", "/never", "/big", "/throw" to their apps.
class FakeRouter final : public Http::RequestRouter
{
public:
    FakeRouter()
    {
        using M = ScriptedApp::Mode;
        for (auto [path, mode] :
             std::initializer_list<std::pair<const char *, M>>{{"/json", M::Json},
                                                               {"/later", M::Later},
                                                               {"/never", M::Never},
                                                               {"/big", M::Big},
                                                               {"/throw", M::Throw}}) {
            auto app = std::make_unique<ScriptedApp>(mode);
            app->setName(QString::fromLatin1(path));
            m_chains.emplace(QByteArray(path), Pipeline::Pipeline({app.get()}));
            m_apps.emplace(QByteArray(path), std::move(app));
        }
    }
    Match resolve(QByteArrayView, QByteArrayView path) const override
    {
        for (const auto &[prefix, chain] : m_chains) {
            if (path.startsWith(prefix))
                return {&chain, prefix, path.sliced(prefix.size()).toByteArray()};
        }
        return {};
    }
    ScriptedApp &app(const char *path) { return *m_apps.at(QByteArray(path)); }

private:
    std::map<QByteArray, std::unique_ptr<ScriptedApp>> m_apps;
    std::map<QByteArray, Pipeline::Pipeline> m_chains;
};

Call local(const QByteArray &target)
{
    Call call;
    call.target = target;
    return call;
}

struct Outcome
{
    bool done = false;
    std::vector<Result> results;
};

void startBatch(FakeExchange &parent, std::vector<Call> calls, const FakeRouter &router,
                Outcome &outcome, std::chrono::milliseconds deadline = {})
{
    Subrequests::BatchOptions options;
    options.router = &router;
    options.deadline = deadline;
    Batch::start(parent, std::move(calls), options, [&outcome](std::vector<Result> &results) {
        outcome.done = true;
        outcome.results = std::move(results);
    });
}

// A loopback member answering every request with a fixed JSON body, unless told to stall.
class LoopbackMember : public QObject
{
public:
    LoopbackMember()
    {
        QVERIFY(server.listen(QHostAddress::LocalHost));
        connect(&server, &QTcpServer::newConnection, this, [this] {
            while (QTcpSocket *socket = server.nextPendingConnection()) {
                ++connections;
                connect(socket, &QTcpSocket::disconnected, this, [this] { ++disconnects; });
                connect(socket, &QTcpSocket::readyRead, this, [this, socket] {
                    received += socket->readAll();
                    if (!received.contains("\r\n\r\n") || stall)
                        return;
                    received.clear();
                    socket->write("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                  "Content-Length: 11\r\n\r\n{\"id\": 7 }\n");
                });
            }
        });
    }
    QTcpServer server;
    QByteArray received;
    bool stall = false;
    int connections = 0;
    int disconnects = 0;
};

} // namespace

class tst_Subrequests : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void localCallsRunInParallelInCallOrder();
    void userSessionAndCookieAreInherited();
    void timeoutCancelsTheCallAndRunsItsAbortHandler();
    void deadlineFailsWhatIsUnfinished();
    void bodyOverTheCapFailsTheCall();
    void throwingAppGives500();
    void unsendableTargetsAndHeadersFail();
    void nestingStopsAtMaxDepth();
    void givenChainRunsFromTheGivenApp();
    void clientGoneCancelsEverythingAndSkipsDone();
    void groupCallUsesTheMemberAndClientGoneClosesIt();
    void templatesEncodeAndRefuse();
    void templateParsing();
    void combineEmbedsJsonStringsAndNulls();
};

void tst_Subrequests::localCallsRunInParallelInCallOrder()
{
    FakeRouter router;
    FakeExchange parent("GET", "/bff");
    parent.request().txnId = "T1";
    Outcome outcome;
    startBatch(parent, {local("/later/x"), local("/json"), local("/nowhere")}, router, outcome);
    QVERIFY(!outcome.done); // never from inside start()
    QTRY_VERIFY(outcome.done);
    QCOMPARE(outcome.results.size(), size_t(3));
    QCOMPARE(outcome.results[0].status, 201);
    QCOMPARE(outcome.results[0].body, QByteArray("later"));
    QCOMPARE(outcome.results[1].status, 200);
    QCOMPARE(outcome.results[1].header("content-type").toByteArray(),
             QByteArray("application/json"));
    QCOMPARE(outcome.results[2].status, 404);
    for (const Result &r : outcome.results)
        QVERIFY2(r.ok(), qPrintable(r.error));
    QCOMPARE(router.app("/later").lastTxn, QByteArray("T1-1"));
    QCOMPARE(router.app("/later").lastPathInfo, QByteArray("/x"));
    QCOMPARE(router.app("/json").lastTxn, QByteArray("T1-2"));
    QVERIFY(!parent.finished());                  // the parent is the app's to answer
    QVERIFY(!router.app("/json").inheritedCount); // a subrequest numbers its own from 1

    // A second batch of the same exchange goes on numbering.
    Outcome second;
    startBatch(parent, {local("/json")}, router, second);
    QTRY_VERIFY(second.done);
    QCOMPARE(router.app("/json").lastTxn, QByteArray("T1-4"));
}

void tst_Subrequests::userSessionAndCookieAreInherited()
{
    FakeRouter router;
    FakeExchange parent("GET", "/bff", {{"Cookie", "sid=abc"}, {"Authorization", "Bearer t"}});
    parent.request().attributes.set(Http::Identity{QStringLiteral("alice"), {}});
    Outcome outcome;
    Call clean = local("/later");
    clean.inherit = false;
    startBatch(parent, {local("/json"), clean}, router, outcome);
    QTRY_VERIFY(outcome.done);
    QCOMPARE(router.app("/json").lastUser, QStringLiteral("alice"));
    QCOMPARE(router.app("/json").lastCookie, QByteArray("sid=abc"));
    QCOMPARE(router.app("/later").lastUser, QString());
    QVERIFY(router.app("/later").lastCookie.isNull());
}

void tst_Subrequests::timeoutCancelsTheCallAndRunsItsAbortHandler()
{
    FakeRouter router;
    FakeExchange parent;
    Outcome outcome;
    Call never = local("/never");
    never.timeout = std::chrono::milliseconds(100);
    startBatch(parent, {never, local("/json")}, router, outcome);
    QCoreApplication::processEvents();
    QVERIFY(!outcome.done);
    parent.runTimers(); // the 100 ms timeout, on the parent's clock
    QTRY_VERIFY(outcome.done);
    QCOMPARE(outcome.results[0].error, QStringLiteral("timeout"));
    QCOMPARE(outcome.results[0].status, 0);
    QCOMPARE(router.app("/never").aborts, 1);
    QVERIFY(outcome.results[1].ok());
    QCOMPARE(router.app("/json").aborts, 0);
}

void tst_Subrequests::deadlineFailsWhatIsUnfinished()
{
    FakeRouter router;
    FakeExchange parent;
    Outcome outcome;
    startBatch(parent, {local("/never"), local("/never"), local("/json")}, router, outcome,
               std::chrono::milliseconds(300));
    QCoreApplication::processEvents();
    parent.runTimers();
    QTRY_VERIFY(outcome.done);
    QCOMPARE(outcome.results[0].error, QStringLiteral("deadline"));
    QCOMPARE(outcome.results[1].error, QStringLiteral("deadline"));
    QVERIFY(outcome.results[2].ok());
    QCOMPARE(router.app("/never").aborts, 2);
}

void tst_Subrequests::bodyOverTheCapFailsTheCall()
{
    FakeRouter router;
    FakeExchange parent;
    Outcome outcome;
    Call big = local("/big");
    big.maxBody = 250;
    Call fits = local("/big");
    fits.maxBody = 1000;
    startBatch(parent, {big, fits}, router, outcome);
    QTRY_VERIFY(outcome.done);
    QCOMPARE(outcome.results[0].error, QStringLiteral("body_too_large"));
    QVERIFY(outcome.results[0].body.size() <= 250);
    QVERIFY(outcome.results[1].ok());
    QCOMPARE(outcome.results[1].body.size(), 1000);
}

void tst_Subrequests::throwingAppGives500()
{
    FakeRouter router;
    FakeExchange parent;
    Outcome outcome;
    startBatch(parent, {local("/throw")}, router, outcome);
    QTRY_VERIFY(outcome.done);
    QCOMPARE(outcome.results[0].status, 500);
    QVERIFY(outcome.results[0].ok()); // a complete (error) response
}

void tst_Subrequests::unsendableTargetsAndHeadersFail()
{
    FakeRouter router;
    FakeExchange parent;
    Outcome outcome;
    Call crlf = local("/json\r\nX: y");
    Call relative = local("json");
    Call header = local("/json");
    header.headers.emplace_back("X-Evil", "a\r\nInjected: 1");
    Call encodedControl = local("/json/%0d%0a"); // sendable, but not routable here: 400
    startBatch(parent, {crlf, relative, header, encodedControl}, router, outcome);
    QTRY_VERIFY(outcome.done);
    QCOMPARE(outcome.results[0].error, QStringLiteral("bad_target"));
    QCOMPARE(outcome.results[1].error, QStringLiteral("bad_target"));
    QCOMPARE(outcome.results[2].error, QStringLiteral("bad_header"));
    QCOMPARE(outcome.results[3].status, 400);
    QCOMPARE(router.app("/json").calls, 0);
}

void tst_Subrequests::nestingStopsAtMaxDepth()
{
    FakeRouter router;
    FakeExchange parent;
    parent.request().attributes.set(
        Subrequests::SubrequestDepth{Subrequests::SubrequestDepth::MaxDepth});
    Outcome outcome;
    startBatch(parent, {local("/json")}, router, outcome);
    QTRY_VERIFY(outcome.done);
    QCOMPARE(outcome.results[0].error, QStringLiteral("loop"));
    QCOMPARE(router.app("/json").calls, 0);
}

void tst_Subrequests::givenChainRunsFromTheGivenApp()
{
    FakeRouter router;
    ScriptedApp first(ScriptedApp::Mode::Throw);
    ScriptedApp second(ScriptedApp::Mode::Json);
    Pipeline::Pipeline chain({&first, &second});
    FakeExchange parent;
    Outcome outcome;
    Call call = local("/anything");
    call.chain = &chain;
    call.chainIndex = 1; // brim's next_app: the first app is skipped
    startBatch(parent, {call}, router, outcome);
    QTRY_VERIFY(outcome.done);
    QCOMPARE(outcome.results[0].status, 200);
    QCOMPARE(first.calls, 0);
    QCOMPARE(second.calls, 1);
}

void tst_Subrequests::clientGoneCancelsEverythingAndSkipsDone()
{
    FakeRouter router;
    FakeExchange parent;
    Outcome outcome;
    bool gone = false;
    Subrequests::BatchOptions options;
    options.router = &router;
    options.onClientGone = [&gone] { gone = true; };
    Batch::start(parent, {local("/never"), local("/never")}, options,
                 [&outcome](std::vector<Result> &) { outcome.done = true; });
    parent.simulateClientAbort();
    QVERIFY(gone);
    QCOMPARE(router.app("/never").aborts, 2);
    QTest::qWait(20);
    QVERIFY(!outcome.done);
}

void tst_Subrequests::groupCallUsesTheMemberAndClientGoneClosesIt()
{
    LoopbackMember member;
    const QString text = QStringLiteral("[@users]\nmembers = 127.0.0.1:%1\n\n[app:bff]\n"
                                        "call = berth.compose\ncall_u = @users /v1/users/7\n")
                             .arg(member.server.serverPort());
    Config::Config config = Config::Config::fromText(text);
    Pipeline::AppSetup setup{config, QStringLiteral("app:bff"), QStringLiteral("bff")};
    std::unique_ptr<Subrequests::GroupTarget> group =
        Subrequests::GroupTarget::open(QStringLiteral("@users"), setup);
    QVERIFY(group);

    FakeRouter router;
    {
        FakeExchange parent;
        parent.request().txnId = "G";
        Outcome outcome;
        Call call = local("/v1/users/7");
        call.group = group.get();
        startBatch(parent, {call}, router, outcome);
        QTRY_VERIFY(outcome.done);
        QVERIFY2(outcome.results[0].ok(), qPrintable(outcome.results[0].error));
        QCOMPARE(outcome.results[0].status, 200);
        QCOMPARE(outcome.results[0].body, QByteArray("{\"id\": 7 }\n"));
    }
    {
        member.stall = true;
        FakeExchange parent;
        parent.request().txnId = "H";
        Outcome outcome;
        Call call = local("/v1/users/8");
        call.group = group.get();
        startBatch(parent, {call}, router, outcome);
        QTRY_VERIFY(member.received.contains("X-Berth-Txn: H-1"));
        const int before = member.disconnects;
        parent.simulateClientAbort();
        // The member's connection is closed, not left waiting for an answer nobody reads.
        QTRY_COMPARE(member.disconnects, before + 1);
        QVERIFY(!outcome.done);
    }
}

void tst_Subrequests::templatesEncodeAndRefuse()
{
    using Compose::expandTarget;
    QHash<QByteArray, QByteArray> values{
        {"user", "a b\r\n&x=1"}, {"dots", ".."}, {"slash", "a/b"}, {"plain", "Abc-1.2_~"}};
    auto lookup = [&](const QByteArray &name) -> std::optional<QByteArray> {
        if (!values.contains(name))
            return std::nullopt;
        return values.value(name);
    };
    QByteArray out;
    QString error;
    QVERIFY(expandTarget("/u/{plain}?q={user}&s={slash}", lookup, &out, &error));
    QCOMPARE(out, QByteArray("/u/Abc-1.2_~?q=a%20b%0D%0A%26x%3D1&s=a%2Fb"));
    QVERIFY(expandTarget("/u/{user}", lookup, &out, &error));
    QCOMPARE(out, QByteArray("/u/a%20b%0D%0A%26x%3D1"));
    QVERIFY(!expandTarget("/u/{dots}", lookup, &out, &error));
    QCOMPARE(error, QStringLiteral("bad value for {dots}"));
    QVERIFY(!expandTarget("/u/{slash}", lookup, &out, &error));
    QVERIFY(!expandTarget("/u/{missing}", lookup, &out, &error));
    QCOMPARE(error, QStringLiteral("no value for {missing}"));
}

void tst_Subrequests::templateParsing()
{
    using Compose::CallTemplate;
    CallTemplate call;
    QString error;
    QVERIFY(CallTemplate::parse(u"u"_s, u"@users /v1/users/{user}"_s, &call, &error));
    QCOMPARE(call.group, QStringLiteral("@users"));
    QCOMPARE(call.method, QByteArray("GET"));
    QVERIFY(CallTemplate::parse(u"p"_s, u"  POST   /local?x={1} "_s, &call, &error));
    QCOMPARE(call.method, QByteArray("POST"));
    QVERIFY(call.group.isEmpty());
    QCOMPARE(call.target, QByteArray("/local?x={1}"));
    QVERIFY(!CallTemplate::parse(u"x"_s, u"@users"_s, &call, &error));
    QVERIFY(!CallTemplate::parse(u"x"_s, u"get /a"_s, &call, &error));
    QVERIFY(!CallTemplate::parse(u"x"_s, u"/a/{bad name}"_s, &call, &error));
    QVERIFY(!CallTemplate::parse(u"x"_s, u"/a/{open"_s, &call, &error));
    QVERIFY(!CallTemplate::parse(u"x"_s, u"/a /b"_s, &call, &error));
}

void tst_Subrequests::combineEmbedsJsonStringsAndNulls()
{
    using Compose::CallTemplate;
    QList<CallTemplate> calls;
    for (const char *name : {"num", "text", "slow", "broken", "list"}) {
        CallTemplate c;
        c.name = QString::fromLatin1(name);
        calls.append(c);
    }
    std::vector<Result> results(5);
    results[0].status = 200;
    results[0].body = "12345678901234567890";
    results[1].status = 200;
    results[1].body = "not \"json\"";
    results[2].error = QStringLiteral("timeout");
    results[2].elapsedMs = 300;
    results[3].status = 502;
    results[3].body = "502 Bad Gateway\n";
    results[4].status = 404;
    results[4].body = " [1, 2] ";
    const QByteArray json = Compose::ComposeApp::combine(calls, results);
    QVERIFY2(json.contains("\"num\":12345678901234567890"), json); // digits kept as sent
    const QJsonObject doc = QJsonDocument::fromJson(json).object();
    QCOMPARE(doc.value(u"text"_s).toString(), QStringLiteral("not \"json\""));
    QVERIFY(doc.value(u"slow"_s).isNull());
    QVERIFY(doc.value(u"broken"_s).isNull());
    QCOMPARE(doc.value(u"list"_s).toArray().size(), 2);
    const QJsonObject meta = doc.value(u"_calls"_s).toObject();
    QCOMPARE(meta.value(u"slow"_s).toObject().value(u"error"_s).toString(),
             QStringLiteral("timeout"));
    QCOMPARE(meta.value(u"slow"_s).toObject().value(u"ms"_s).toInt(), 300);
    QCOMPARE(meta.value(u"broken"_s).toObject().value(u"error"_s).toString(),
             QStringLiteral("status 502"));
    QCOMPARE(meta.value(u"list"_s).toObject().value(u"status"_s).toInt(), 404);
    QVERIFY(!meta.value(u"list"_s).toObject().contains(u"error"_s));
}

QTEST_GUILESS_MAIN(tst_Subrequests)
#include "tst_subrequests.moc"
