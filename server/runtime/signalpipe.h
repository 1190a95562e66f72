#pragma once

#include <QObject>

#include <initializer_list>

class QSocketNotifier;

namespace Berth::Core {

// Unix signals as Qt signals: the handler only writes the signal number to a pipe (all a
// signal handler may safely do), and the event loop reads it and emits received(). One per
// process (the master's or a server's); SIGPIPE is ignored so a vanished client is an EPIPE
// error, not a dead process.
class SignalPipe final : public QObject
{
    Q_OBJECT
public:
    explicit SignalPipe(std::initializer_list<int> signalNumbers, QObject *parent = nullptr);
    ~SignalPipe() override;

Q_SIGNALS:
    void received(int signalNumber);

private:
    void drain();
    QSocketNotifier *m_notifier = nullptr;
};

} // namespace Berth::Core
