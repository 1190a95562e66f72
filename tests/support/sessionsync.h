#pragma once

#include <QByteArray>
#include <QString>

#include <memory>

namespace Berth::Core {
class OffloadPool;
}

namespace Berth::Sessions {
class Session;
class SessionManager;
} // namespace Berth::Sessions

namespace Berth::Tests {

// Blocking forms of the asynchronous session calls, for tests: each starts the call and spins
// the event loop until its callback ran (at most 10 s; a call that never calls back, or could
// not start, counts as a failure).
bool openSync(Sessions::SessionManager &manager, QString *error = nullptr);
std::unique_ptr<Sessions::Session> loadSync(Sessions::SessionManager &manager, const QByteArray &id,
                                            bool *storeFailed = nullptr);
bool saveSync(Sessions::Session &session);
// Rows purged; -1 when the purge was not due (or failed).
int purgeSync(Sessions::SessionManager &manager);
// Waits until the pool has nothing queued or running: background writes (touch, delete of an
// expired row) have landed.
bool waitIdle(Core::OffloadPool &pool);

} // namespace Berth::Tests
