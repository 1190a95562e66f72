#include "sessionsync.h"

#include "runtime/offloadpool.h"
#include "sessions/session.h"
#include "sessions/sessionmanager.h"

#include <QTest>

namespace Berth::Tests {

namespace {
constexpr int WaitMs = 10000;
}

bool openSync(Sessions::SessionManager &manager, QString *error)
{
    bool called = false;
    bool result = false;
    if (!manager.open([&](bool ok, const QString &why) {
            called = true;
            result = ok;
            if (error)
                *error = why;
        }))
        return false;
    return QTest::qWaitFor([&] { return called; }, WaitMs) && result;
}

std::unique_ptr<Sessions::Session> loadSync(Sessions::SessionManager &manager, const QByteArray &id,
                                            bool *storeFailed)
{
    bool called = false;
    std::unique_ptr<Sessions::Session> loaded;
    if (storeFailed)
        *storeFailed = false;
    if (!manager.load(id, [&](std::unique_ptr<Sessions::Session> session, bool failed) {
            called = true;
            loaded = std::move(session);
            if (storeFailed)
                *storeFailed = failed;
        }))
        return nullptr;
    if (!QTest::qWaitFor([&] { return called; }, WaitMs))
        return {};
    return loaded;
}

bool saveSync(Sessions::Session &session)
{
    bool called = false;
    bool result = false;
    if (!session.save([&](bool ok) {
            called = true;
            result = ok;
        }))
        return false;
    return QTest::qWaitFor([&] { return called; }, WaitMs) && result;
}

int purgeSync(Sessions::SessionManager &manager)
{
    bool called = false;
    int purged = -1;
    if (!manager.purgeIfDue([&](int count, const QString &) {
            called = true;
            purged = count;
        }))
        return -1;
    if (!QTest::qWaitFor([&] { return called; }, WaitMs))
        return -1;
    return purged;
}

bool waitIdle(Core::OffloadPool &pool)
{
    return QTest::qWaitFor([&] { return pool.queued() == 0 && pool.running() == 0; }, WaitMs);
}

} // namespace Berth::Tests
