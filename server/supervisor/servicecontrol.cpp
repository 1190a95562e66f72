// Supervisor: control requests for a service (`service KIND:NAME VERB [ARGS...]` on the control
// socket; `berthd daemon stop NAME` is one). The master knows no verb: it forwards the request
// on each child's broadcast channel (BusWire::ControlRequestTopic), the child's ServiceHost
// hands it to Service::control(), and the answers (ControlAnswerTopic, kept by the relay) are
// put together into the one reply: OK when every child said OK.
#include "broadcastrelay.h"
#include "controlchannel.h"
#include "runtime/buswire.h"
#include "supervisor.h"

#include <QLoggingCategory>
#include <QTimer>

Q_DECLARE_LOGGING_CATEGORY(lcMaster)

namespace Berth::Supervisor {

namespace {

// A daemon's stop may take its stop_timeout and its dependents' first: well above the default.
constexpr int ForwardTimeoutMs = 120'000;

} // namespace

void Supervisor::forwardControl(const QStringList &arguments, ControlReply reply)
{
    const QString target = arguments[0];
    QString key;
    for (const QString &k : std::as_const(m_groupOrder)) {
        if (k == target)
            key = k;
    }
    if (key.isEmpty()) {
        reply.finish({QStringLiteral("no service %1 (KIND:NAME)").arg(target)}, false);
        return;
    }
    const Group &group = m_groups[key];
    const quint64 id = m_nextForward++;
    Forward forward;
    forward.reply.append(reply);
    QStringList words = arguments.mid(1);
    const QByteArray payload =
        (QString::number(id) + QLatin1Char('\n') + words.join(QLatin1Char('\n'))).toUtf8();
    const QByteArray frame = Core::BusWire::encode(Core::BusWire::ControlRequestTopic, payload);
    for (const Child &c : std::as_const(m_children)) {
        if (c.key != key || c.generation != group.generation || c.stopping || !c.busChannel)
            continue;
        if (m_relay->sendTo(c.busChannel, frame))
            forward.waiting.insert(c.busChannel);
        else {
            forward.ok = false;
            forward.lines.append(QStringLiteral("%1: cannot reach it").arg(childLabel(c)));
        }
    }
    if (forward.waiting.isEmpty() && forward.lines.isEmpty()) {
        reply.finish({QStringLiteral("%1 has no running child%2")
                          .arg(key, group.failed ? QStringLiteral(" (failed)") : QString())},
                     false);
        return;
    }
    m_forwards.insert(id, forward);
    QTimer::singleShot(ForwardTimeoutMs, this, [this, id] {
        const auto it = m_forwards.find(id);
        if (it == m_forwards.end())
            return;
        it->ok = false;
        it->lines.append(QStringLiteral("no answer within %1 s from %2 child(ren)")
                             .arg(ForwardTimeoutMs / 1000)
                             .arg(it->waiting.size()));
        it->waiting.clear();
        finishForward(id);
    });
    finishForward(id);
}

void Supervisor::onControlAnswer(int channel, const QByteArray &payload)
{
    QStringList parts = QString::fromUtf8(payload).split(QLatin1Char('\n'));
    if (parts.size() < 2)
        return;
    bool numeric = false;
    const quint64 id = parts.takeFirst().toULongLong(&numeric);
    const auto it = m_forwards.find(id);
    if (!numeric || it == m_forwards.end() || !it->waiting.remove(channel))
        return;
    it->ok = it->ok && parts.takeFirst() == QLatin1String("OK");
    it->lines += parts;
    finishForward(id);
}

void Supervisor::forwardGone(int channel, const QString &why)
{
    if (!channel)
        return;
    const QList<quint64> ids = m_forwards.keys();
    for (quint64 id : ids) {
        auto it = m_forwards.find(id);
        if (it->waiting.remove(channel)) {
            it->ok = false;
            it->lines.append(why);
            finishForward(id);
        }
    }
}

void Supervisor::finishForward(quint64 id)
{
    const auto it = m_forwards.find(id);
    if (it == m_forwards.end() || !it->waiting.isEmpty())
        return;
    Forward forward = *it;
    m_forwards.erase(it);
    forward.reply.front().finish(forward.lines, forward.ok);
}

} // namespace Berth::Supervisor
