#pragma once

#include <QByteArray>
#include <QByteArrayView>
#include <QString>

namespace Berth::SocketApps {

// Where a datagram came from (and where a reply goes).
struct DatagramPeer
{
    QString address;     // "127.0.0.1", "::1"
    quint16 port = 0;    //
    QByteArray sockaddr; // the raw socket address, for the reply
};

// The app's UDP socket, for replies.
class DatagramSocket
{
public:
    virtual ~DatagramSocket() = default;
    // Sends one datagram now; false when the kernel refused it (buffer full: UDP drops it).
    virtual bool sendTo(QByteArrayView data, const DatagramPeer &peer) = 0;
};

// A UDP app ([udp:NAME] call = ...): one instance per event-loop thread, called once per
// datagram no larger than max_datagram_bytes. An exception is logged and replaces the app with
// a fresh instance (brim's rule); the worker keeps serving.
class DatagramApp
{
public:
    virtual ~DatagramApp() = default;
    virtual void onDatagram(QByteArrayView data, const DatagramPeer &from,
                            DatagramSocket &socket) = 0;
};

} // namespace Berth::SocketApps
