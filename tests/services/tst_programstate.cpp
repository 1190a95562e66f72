// supervisord's state machine of one program, driven with a fake clock (milliseconds).
#include "services/daemon/programstate.h"

#include <QTest>

#include <csignal>
#include <sys/wait.h>

using namespace Berth::Daemons;
using namespace Qt::StringLiterals;
using Action = ProgramStateMachine::Action;

namespace {

int exitStatus(int code)
{
    return code << 8; // what waitpid reports for exit(code)
}

ProgramPolicy policy()
{
    ProgramPolicy p;
    p.startSecondsMs = 1000;
    p.startRetries = 3;
    p.backoffMs = 100;
    p.backoffCapMs = 300;
    p.stopTimeoutMs = 2000;
    return p;
}

} // namespace

class TestProgramState : public QObject
{
    Q_OBJECT
private Q_SLOTS:
    void startsAndRunsAfterStartSeconds()
    {
        ProgramStateMachine m(policy());
        QCOMPARE(m.state(), ProgramState::Stopped);
        QCOMPARE(m.start(0), Action::Spawn);
        m.spawned(0);
        QCOMPARE(m.state(), ProgramState::Starting);
        QCOMPARE(m.nextDeadlineMs(), 1000);
        QCOMPARE(m.poll(999), Action::None);
        QCOMPARE(m.state(), ProgramState::Starting);
        QCOMPARE(m.poll(1000), Action::None);
        QCOMPARE(m.state(), ProgramState::Running);
        QCOMPARE(m.nextDeadlineMs(), -1);
        QCOMPARE(m.start(1500), Action::None); // already running
    }

    void backsOffThenFatalAfterStartRetries()
    {
        ProgramStateMachine m(policy());
        qint64 now = 0;
        m.start(now);
        m.spawned(now);
        const qint64 delays[] = {100, 200, 300}; // doubled, capped at 300
        for (qint64 delay : delays) {
            m.exited(now + 10, exitStatus(1));
            QCOMPARE(m.state(), ProgramState::Backoff);
            QCOMPARE(m.nextDeadlineMs(), now + 10 + delay);
            QCOMPARE(m.poll(now + 10 + delay - 1), Action::None);
            now += 10 + delay;
            QCOMPARE(m.poll(now), Action::Spawn);
            m.spawned(now);
        }
        m.exited(now + 10, exitStatus(1));
        QCOMPARE(m.state(), ProgramState::Fatal);
        QCOMPARE(m.failedStarts(), 4);
        QCOMPARE(m.restarts(), 3);
        QCOMPARE(m.nextDeadlineMs(), -1);
        QCOMPARE(m.poll(1'000'000), Action::None);
        // `daemon start` tries again from scratch.
        QCOMPARE(m.start(now + 20), Action::Spawn);
        m.spawned(now + 20);
        QCOMPARE(m.state(), ProgramState::Starting);
        QCOMPARE(m.failedStarts(), 0);
    }

    void spawnErrorsCountAsFailedStarts()
    {
        ProgramPolicy p = policy();
        p.startRetries = 0;
        ProgramStateMachine m(p);
        QCOMPARE(m.start(0), Action::Spawn);
        m.spawnFailed(0);
        QCOMPARE(m.state(), ProgramState::Fatal);
    }

    void runningExitRestartsPerAutorestart_data()
    {
        QTest::addColumn<int>("autorestart");
        QTest::addColumn<int>("status");
        QTest::addColumn<bool>("restarts");
        QTest::newRow("always, clean") << int(Autorestart::Always) << exitStatus(0) << true;
        QTest::newRow("always, killed") << int(Autorestart::Always) << int(SIGKILL) << true;
        QTest::newRow("on-failure, clean") << int(Autorestart::OnFailure) << exitStatus(0) << false;
        QTest::newRow("on-failure, status 3")
            << int(Autorestart::OnFailure) << exitStatus(3) << true;
        QTest::newRow("on-failure, killed") << int(Autorestart::OnFailure) << int(SIGKILL) << true;
        QTest::newRow("never, killed") << int(Autorestart::Never) << int(SIGKILL) << false;
    }
    void runningExitRestartsPerAutorestart()
    {
        QFETCH(int, autorestart);
        QFETCH(int, status);
        QFETCH(bool, restarts);
        ProgramPolicy p = policy();
        p.autorestart = Autorestart(autorestart);
        ProgramStateMachine m(p);
        m.start(0);
        m.spawned(0);
        m.poll(1000);
        QCOMPARE(m.state(), ProgramState::Running);
        m.exited(5000, status);
        QCOMPARE(m.state(), ProgramState::Exited);
        QCOMPARE(m.lastExitStatus(), status);
        if (restarts) {
            QCOMPARE(m.nextDeadlineMs(), 5100); // one crash is not a loop: backoff, not doubled
            QCOMPARE(m.poll(5100), Action::Spawn);
        } else {
            QCOMPARE(m.nextDeadlineMs(), -1);
            QCOMPARE(m.poll(100'000), Action::None);
        }
    }

    void stopSignalsThenKillsAfterStopTimeout()
    {
        ProgramStateMachine m(policy());
        m.start(0);
        m.spawned(0);
        m.poll(1000);
        QCOMPARE(m.stop(2000), Action::SendStopSignal);
        QCOMPARE(m.state(), ProgramState::Stopping);
        QCOMPARE(m.stop(2100), Action::None);
        QCOMPARE(m.poll(3999), Action::None);
        QCOMPARE(m.poll(4000), Action::KillGroup);
        QCOMPARE(m.poll(5000), Action::None); // once
        m.exited(4010, int(SIGKILL));
        QCOMPARE(m.state(), ProgramState::Stopped);
        QCOMPARE(m.nextDeadlineMs(), -1);
        QCOMPARE(m.start(5000), Action::Spawn);
    }

    void stopDropsAPendingRestart()
    {
        ProgramStateMachine m(policy());
        m.start(0);
        m.spawned(0);
        m.exited(10, exitStatus(1));
        QCOMPARE(m.state(), ProgramState::Backoff);
        QCOMPARE(m.stop(20), Action::None);
        QCOMPARE(m.state(), ProgramState::Stopped);
        QCOMPARE(m.poll(10'000), Action::None);
    }

    void zeroStartSecondsRunsAtOnce()
    {
        ProgramPolicy p = policy();
        p.startSecondsMs = 0;
        ProgramStateMachine m(p);
        m.start(0);
        m.spawned(0);
        QCOMPARE(m.nextDeadlineMs(), 0);
        m.poll(0);
        QCOMPARE(m.state(), ProgramState::Running);
    }

    void namesStates()
    {
        QCOMPARE(programStateName(ProgramState::Backoff), u"BACKOFF"_s);
        QCOMPARE(programStateName(ProgramState::Fatal), u"FATAL"_s);
    }
};

QTEST_GUILESS_MAIN(TestProgramState)
#include "tst_programstate.moc"
