#include "master.h"

#include "log/logging.h"
#include "runtime/listeners.h"
#include "runtime/processutil.h"
#include "runtime/sharedstate.h"
#include "runtime/signalpipe.h"
#include "runtime/workerhealth.h"
#include "server.h"

#include <config/config.h>

#include <QCoreApplication>
#include <QFile>
#include <QLoggingCategory>
#include <QProcessEnvironment>
#include <QSocketNotifier>

#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

Q_LOGGING_CATEGORY(lcMaster, "berth.master")

namespace Berth::Core {

namespace {

constexpr qint64 QuickExitMs = 5'000; // a worker dying sooner than this counts as a crash loop
constexpr qint64 MaxBackoffMs = 30'000;
constexpr int FirstPassedFd = 3;

// Writes n as decimal digits into buffer (async-signal-safe; for the forked child).
void formatPid(char *buffer, pid_t n)
{
    char digits[24];
    int length = 0;
    do {
        digits[length++] = char('0' + n % 10);
        n /= 10;
    } while (n > 0);
    for (int i = 0; i < length; ++i)
        buffer[i] = digits[length - 1 - i];
    buffer[length] = '\0';
}

} // namespace

Master::Master(QStringList configFiles, int starterFd)
    : m_files(std::move(configFiles))
    , m_starterFd(starterFd)
{
    m_clock.start();
    m_stopDeadline.setSingleShot(true);
    connect(&m_stopDeadline, &QTimer::timeout, this, [this] {
        qCWarning(lcMaster) << "graceful_timeout reached; killing the remaining workers";
        for (const Worker &w : std::as_const(m_workers))
            ::kill(w.pid, SIGKILL);
    });
}

Master::~Master()
{
    for (int fd : std::as_const(m_listenFds))
        ::close(fd);
}

bool Master::loadSettings(const QStringList &files, QStringList *errors)
{
    using namespace std::chrono_literals;
    for (const Config::Diagnostic &d : checkConfiguration(files)) {
        if (d.isError())
            errors->append(d.toString());
    }
    if (!errors->isEmpty())
        return false;
    const Config::Config config = Config::Config::load(files);
    const QString server = QStringLiteral("server");
    m_workerCount =
        int(qBound(qint64(1), config.getInt(server, QStringLiteral("workers")), qint64(1024)));
    m_gracefulTimeoutMs = config.getDuration(server, QStringLiteral("graceful_timeout")).count();
    m_workerTimeoutMs = config.getDuration(server, QStringLiteral("worker_timeout")).count();
    return true;
}

bool Master::prepare()
{
    if (!loadSettings(m_files, &m_errors))
        return false;
    const Config::Config config = Config::Config::load(m_files);
    const QString server = QStringLiteral("server");
    QString error;
    if (!Log::Logging::setup(config.getPath(server, QStringLiteral("log_dir")), &error)) {
        m_errors.append(error);
        return false;
    }
    const QList<ListenSpec> specs = listenSpecs(config);
    if (!acquireListeners(specs, &m_listenFds, &error)) {
        m_errors.append(error);
        return false;
    }
    QStringList names;
    for (const ListenSpec &spec : specs) {
        m_listenTls.append(spec.tls);
        names.append(spec.toString());
    }
    m_listenerSummary = names.join(QStringLiteral(", "));
    // Two generations overlap during a reload; keep room for both plus recycled workers.
    const int threads =
        int(qBound(qint64(1), config.getInt(server, QStringLiteral("threads")), qint64(256)));
    m_shared = SharedState::create(m_workerCount * 2 + 2, threads, &error);
    if (!m_shared) {
        m_errors.append(error);
        return false;
    }
    m_pidFile = config.getPath(server, QStringLiteral("pid_file"));
    if (!writePidFile(m_pidFile, &error) ||
        !becomeConfiguredUser(config, ownedPaths(config, m_pidFile), &error)) {
        m_errors.append(error);
        return false;
    }
    return true;
}

void Master::start()
{
    installSignalHandlers();
    connect(&m_logFlush, &QTimer::timeout, this, [] { Log::Logging::flushAll(); });
    m_logFlush.start(100);
    connect(&m_healthTimer, &QTimer::timeout, this, &Master::checkHealth);
    m_healthTimer.start(1000);
    qCInfo(lcMaster).noquote() << QStringLiteral("berthd %1 master (pid %2) listening on %3, "
                                                 "starting %4 worker(s)")
                                      .arg(QStringLiteral(BERTH_VERSION))
                                      .arg(::getpid())
                                      .arg(m_listenerSummary)
                                      .arg(m_workerCount);
    for (int i = 0; i < m_workerCount; ++i)
        spawn(i, m_generation);
}

void Master::installSignalHandlers()
{
    auto *pipe = new SignalPipe({SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGCHLD}, this);
    connect(pipe, &SignalPipe::received, this, &Master::onSignal);
}

void Master::onSignal(int signo)
{
    switch (signo) {
    case SIGCHLD:
        reapChildren();
        break;
    case SIGHUP:
        reload();
        break;
    case SIGTERM:
        qCInfo(lcMaster) << "SIGTERM: graceful stop";
        stopAll(true);
        break;
    case SIGINT:
    case SIGQUIT:
        qCInfo(lcMaster) << (signo == SIGINT ? "SIGINT" : "SIGQUIT") << ": immediate stop";
        stopAll(false);
        break;
    case SIGUSR1: {
        QString error;
        if (Log::Logging::reopenAll(&error))
            qCInfo(lcMaster) << "SIGUSR1: log files reopened";
        else
            qCWarning(lcMaster).noquote() << "SIGUSR1:" << error;
        for (const Worker &w : std::as_const(m_workers))
            ::kill(w.pid, SIGUSR1);
        break;
    }
    default:
        break;
    }
}

int Master::freeSlot() const
{
    QList<bool> used(m_shared ? m_shared->slotCount() : 0, false);
    for (const Worker &w : m_workers) {
        if (w.slot >= 0 && w.slot < used.size())
            used[w.slot] = true;
    }
    for (int i = 0; i < used.size(); ++i) {
        if (!used[i])
            return i;
    }
    return -1;
}

void Master::spawn(int index, int generation)
{
    if (m_stopping)
        return;
    const int slot = freeSlot();
    if (slot < 0) {
        qCCritical(lcMaster) << "no free worker slot; not starting worker" << index;
        return;
    }
    int readyPipe[2];
    if (::pipe2(readyPipe, O_CLOEXEC) != 0) {
        qCCritical(lcMaster) << "cannot create a pipe:" << qt_error_string(errno);
        return;
    }
    m_shared->prepareSlot(slot);

    // Everything the child needs is built before fork(): after it only async-signal-safe calls.
    const QByteArray exe = QFile::encodeName(selfExecutable());
    QList<QByteArray> args{exe, "worker"};
    for (const QString &file : std::as_const(m_files)) {
        args.append("-c");
        args.append(QFile::encodeName(file));
    }
    QProcessEnvironment env = QProcessEnvironment::systemEnvironment();
    for (const char *name : {"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "NOTIFY_SOCKET"})
        env.remove(QString::fromLatin1(name));
    const int count = int(m_listenFds.size());
    const int sharedFd = FirstPassedFd + count;
    const int readyFd = sharedFd + 1;
    env.insert(QStringLiteral("LISTEN_FDS"), QString::number(count));
    env.insert(QStringLiteral("BERTH_SHARED_FD"), QString::number(sharedFd));
    env.insert(QStringLiteral("BERTH_WORKER_SLOT"), QString::number(slot));
    env.insert(QStringLiteral("BERTH_READY_FD"), QString::number(readyFd));
    QList<QByteArray> envStrings;
    for (const QString &entry : env.toStringList())
        envStrings.append(entry.toLocal8Bit());
    QByteArray listenPid = "LISTEN_PID=" + QByteArray(24, '\0');
    std::vector<char *> argv;
    for (QByteArray &a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<char *> envp;
    for (QByteArray &e : envStrings)
        envp.push_back(e.data());
    envp.push_back(listenPid.data());
    envp.push_back(nullptr);
    std::vector<int> passFds(m_listenFds.begin(), m_listenFds.end());
    passFds.push_back(m_shared->fd());
    passFds.push_back(readyPipe[1]);

    const pid_t pid = ::fork();
    if (pid < 0) {
        qCCritical(lcMaster) << "fork failed:" << qt_error_string(errno);
        ::close(readyPipe[0]);
        ::close(readyPipe[1]);
        return;
    }
    if (pid == 0) {
        // Child. The worker must not outlive the master unnoticed.
        ::prctl(PR_SET_PDEATHSIG, SIGTERM);
        sigset_t none;
        sigemptyset(&none);
        ::sigprocmask(SIG_SETMASK, &none, nullptr);
        for (int signo : {SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGCHLD})
            ::signal(signo, SIG_DFL);
        // Move the passed fds out of the way first, then into place from fd 3 (dup2 leaves the
        // copies without close-on-exec, exactly what exec should keep).
        std::vector<int> high;
        for (int fd : passFds)
            high.push_back(::fcntl(fd, F_DUPFD_CLOEXEC, 1000));
        for (size_t i = 0; i < high.size(); ++i)
            ::dup2(high[i], FirstPassedFd + int(i));
        formatPid(listenPid.data() + 11, ::getpid());
        ::execve(argv[0], argv.data(), envp.data());
        ::_exit(127);
    }
    ::close(readyPipe[1]);
    Worker w;
    w.pid = pid;
    w.index = index;
    w.slot = slot;
    w.generation = generation;
    w.startedMs = m_clock.elapsed();
    w.readyFd = readyPipe[0];
    w.readyNotifier = new QSocketNotifier(w.readyFd, QSocketNotifier::Read, this);
    connect(w.readyNotifier, &QSocketNotifier::activated, this,
            [this, pid] { onWorkerReady(pid); });
    m_workers.insert(pid, w);
    qCInfo(lcMaster).noquote() << QStringLiteral("worker %1 started (pid %2, generation %3)")
                                      .arg(index)
                                      .arg(pid)
                                      .arg(generation);
}

void Master::onWorkerReady(pid_t pid)
{
    auto it = m_workers.find(pid);
    if (it == m_workers.end())
        return;
    char byte = 0;
    const ssize_t n = ::read(it->readyFd, &byte, 1);
    it->readyNotifier->setEnabled(false);
    it->readyNotifier->deleteLater();
    it->readyNotifier = nullptr;
    ::close(it->readyFd);
    it->readyFd = -1;
    if (n != 1)
        return; // it exited before it was ready: reapChildren deals with it
    it->ready = true;
    const int generation = it->generation;
    // A reload completes when every new worker is ready: only then do the old ones go.
    if (generation == m_pendingGeneration) {
        int ready = 0;
        for (const Worker &w : std::as_const(m_workers))
            ready += (w.generation == generation && w.ready) ? 1 : 0;
        if (ready == m_workerCount) {
            const int old = m_generation;
            m_generation = generation;
            m_pendingGeneration = 0;
            retireGeneration(old);
            qCInfo(lcMaster) << "reload complete: generation" << generation << "serving";
            notifySystemd("READY=1");
        }
    }
    reportReady();
}

void Master::reportReady()
{
    if (m_reportedReady)
        return;
    int ready = 0;
    for (const Worker &w : std::as_const(m_workers))
        ready += (w.generation == m_generation && w.ready) ? 1 : 0;
    if (ready < m_workerCount)
        return;
    m_reportedReady = true;
    qCInfo(lcMaster) << "all" << m_workerCount << "worker(s) ready";
    notifySystemd("READY=1");
    reportToStarter(m_starterFd, QStringLiteral("OK"));
    m_starterFd = -1;
}

void Master::reapChildren()
{
    for (;;) {
        int status = 0;
        const pid_t pid = ::waitpid(-1, &status, WNOHANG);
        if (pid <= 0)
            break;
        onWorkerExit(pid, status);
    }
    checkFinished();
}

void Master::onWorkerExit(pid_t pid, int status)
{
    auto it = m_workers.find(pid);
    if (it == m_workers.end())
        return;
    const Worker w = *it;
    m_workers.erase(it);
    if (w.readyNotifier) {
        w.readyNotifier->setEnabled(false);
        w.readyNotifier->deleteLater();
    }
    if (w.readyFd >= 0)
        ::close(w.readyFd);
    m_shared->markExited(w.slot);
    const qint64 lived = m_clock.elapsed() - w.startedMs;
    const bool clean = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (m_stopping || w.stopping) {
        qCInfo(lcMaster).noquote() << QStringLiteral("worker %1 (pid %2) %3")
                                          .arg(w.index)
                                          .arg(pid)
                                          .arg(describeWaitStatus(status));
        return;
    }
    if (w.generation == m_pendingGeneration) {
        // A worker of the new configuration died while starting: the reload fails and the old
        // workers keep serving.
        qCCritical(lcMaster).noquote()
            << QStringLiteral("reload failed: new worker %1 (pid %2) %3; keeping generation %4")
                   .arg(w.index)
                   .arg(pid)
                   .arg(describeWaitStatus(status))
                   .arg(m_generation);
        const int failed = m_pendingGeneration;
        m_pendingGeneration = 0;
        retireGeneration(failed);
        notifySystemd("READY=1");
        return;
    }
    if (w.generation != m_generation)
        return;
    if (clean) {
        // max_requests recycling (or a worker that chose to end): replace it at once.
        qCInfo(lcMaster).noquote()
            << QStringLiteral("worker %1 (pid %2) exited after serving its share; replacing it")
                   .arg(w.index)
                   .arg(pid);
        m_failures.remove(w.index);
        spawn(w.index, w.generation);
        return;
    }
    qCWarning(lcMaster).noquote() << QStringLiteral("worker %1 (pid %2) %3 after %4 s")
                                         .arg(w.index)
                                         .arg(pid)
                                         .arg(describeWaitStatus(status))
                                         .arg(double(lived) / 1000.0, 0, 'f', 1);
    scheduleRespawn(w.index, w.generation, lived);
}

void Master::scheduleRespawn(int index, int generation, qint64 livedMs)
{
    // Exponential back-off for a crash loop, so a worker that dies at start-up doesn't spin the
    // CPU and flood the log; a worker that ran a while restarts at once.
    int &failures = m_failures[index];
    failures = livedMs < QuickExitMs ? failures + 1 : 0;
    const qint64 delay =
        failures == 0 ? 0 : qMin(MaxBackoffMs, qint64(100) << qMin(failures - 1, 16));
    if (delay > 0)
        qCWarning(lcMaster).noquote() << QStringLiteral("worker %1 keeps failing (%2 in a row); "
                                                        "restarting in %3 s")
                                             .arg(index)
                                             .arg(failures)
                                             .arg(double(delay) / 1000.0, 0, 'f', 1);
    QTimer::singleShot(int(delay), this, [this, index, generation] {
        if (!m_stopping && generation == m_generation)
            spawn(index, generation);
    });
}

void Master::reload()
{
    if (m_stopping)
        return;
    if (m_pendingGeneration) {
        qCWarning(lcMaster) << "SIGHUP: a reload is already in progress; ignored";
        return;
    }
    notifySystemd("RELOADING=1");
    QStringList errors;
    const int oldCount = m_workerCount;
    if (!loadSettings(m_files, &errors)) {
        for (const QString &e : std::as_const(errors))
            qCCritical(lcMaster).noquote()
                << "reload failed, keeping the current configuration:" << e;
        m_workerCount = oldCount;
        notifySystemd("READY=1");
        return;
    }
    const Config::Config config = Config::Config::load(m_files);
    QStringList names;
    for (const ListenSpec &spec : listenSpecs(config))
        names.append(spec.toString());
    if (names.join(QStringLiteral(", ")) != m_listenerSummary)
        qCWarning(lcMaster).noquote()
            << "SIGHUP: listener changes take a restart; keeping" << m_listenerSummary;
    m_pendingGeneration = m_generation + 1;
    qCInfo(lcMaster) << "SIGHUP: configuration valid; starting generation" << m_pendingGeneration
                     << "with" << m_workerCount << "worker(s)";
    for (int i = 0; i < m_workerCount; ++i)
        spawn(i, m_pendingGeneration);
}

void Master::retireGeneration(int generation)
{
    for (Worker &w : m_workers) {
        if (w.generation == generation && !w.stopping) {
            w.stopping = true;
            ::kill(w.pid, SIGTERM);
        }
    }
}

void Master::stopAll(bool graceful)
{
    if (!graceful && m_stopping) {
        for (const Worker &w : std::as_const(m_workers))
            ::kill(w.pid, SIGKILL);
        return;
    }
    m_stopping = true;
    notifySystemd("STOPPING=1");
    for (Worker &w : m_workers) {
        w.stopping = true;
        ::kill(w.pid, graceful ? SIGTERM : SIGINT);
    }
    m_stopDeadline.start(int(qMin<qint64>(graceful ? m_gracefulTimeoutMs + 1000 : 2000, INT_MAX)));
    checkFinished();
}

void Master::checkFinished()
{
    if (!m_stopping || !m_workers.isEmpty())
        return;
    m_stopDeadline.stop();
    if (!m_pidFile.isEmpty() && readPidFile(m_pidFile) == ::getpid())
        QFile::remove(m_pidFile);
    qCInfo(lcMaster) << "stopped";
    Log::Logging::flushAll();
    reportToStarter(m_starterFd, QStringLiteral("berthd: stopped before it was ready"));
    m_starterFd = -1;
    Q_EMIT stopped(0);
}

void Master::checkHealth()
{
    // gunicorn's "WORKER TIMEOUT", but saying what hung: the request the stuck thread was
    // running and where in the code it is, before the worker is replaced.
    if (!m_shared || m_workerTimeoutMs <= 0)
        return;
    for (const StuckThread &stuck : findStuck(*m_shared, m_workerTimeoutMs)) {
        if (m_killing.contains(stuck.pid) || !m_workers.contains(stuck.pid))
            continue;
        m_killing.insert(stuck.pid);
        qCCritical(lcMaster).noquote()
            << QStringLiteral("worker %1 (pid %2) thread %3 has not answered for %4 s "
                              "(worker_timeout); replacing it. It was running:")
                   .arg(m_workers.value(stuck.pid).index)
                   .arg(stuck.pid)
                   .arg(stuck.thread)
                   .arg(double(stuck.silentMs) / 1000.0, 0, 'f', 1);
        for (const QString &line : describeThread(*m_shared->slot(stuck.slot), stuck.thread))
            qCCritical(lcMaster).noquote() << QStringLiteral("  ") + line;
        Log::Logging::flushAll();
        requestStackDump(stuck.pid, stuck.tid);
        const pid_t pid = stuck.pid;
        // Give the stuck thread a moment to write its stack into server.log, then kill.
        QTimer::singleShot(500, this, [this, pid] {
            m_killing.remove(pid);
            if (m_workers.contains(pid))
                ::kill(pid, SIGKILL);
        });
    }
}

} // namespace Berth::Core
