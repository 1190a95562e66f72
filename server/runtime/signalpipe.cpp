#include "signalpipe.h"

#include <QSocketNotifier>

#include <cerrno>
#include <csignal>
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

namespace Berth::Core {

namespace {

int g_pipe[2] = {-1, -1};

void handler(int signo)
{
    const int saved = errno;
    const unsigned char byte = static_cast<unsigned char>(signo);
    [[maybe_unused]] ssize_t n = ::write(g_pipe[1], &byte, 1);
    errno = saved;
}

} // namespace

SignalPipe::SignalPipe(std::initializer_list<int> signalNumbers, QObject *parent)
    : QObject(parent)
{
    if (g_pipe[0] < 0 && ::pipe2(g_pipe, O_CLOEXEC | O_NONBLOCK) != 0)
        return;
    m_notifier = new QSocketNotifier(g_pipe[0], QSocketNotifier::Read, this);
    connect(m_notifier, &QSocketNotifier::activated, this, &SignalPipe::drain);
    struct sigaction action
    {};
    action.sa_handler = handler;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;
    sigset_t handled;
    sigemptyset(&handled);
    for (int signo : signalNumbers) {
        ::sigaction(signo, &action, nullptr);
        sigaddset(&handled, signo);
    }
    ::signal(SIGPIPE, SIG_IGN);
    // A child of the master starts with HUP and USR1 blocked (ChildProcess): one sent before
    // this handler existed waited, pending, and arrives now instead of killing the process.
    ::pthread_sigmask(SIG_UNBLOCK, &handled, nullptr);
}

SignalPipe::~SignalPipe() = default;

void SignalPipe::drain()
{
    unsigned char signo = 0;
    while (::read(g_pipe[0], &signo, 1) == 1)
        Q_EMIT received(int(signo));
}

} // namespace Berth::Core
