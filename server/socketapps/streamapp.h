#pragma once

#include <QByteArray>
#include <QByteArrayView>
#include <QString>

#include <memory>

namespace Berth::SocketApps {

// One accepted TCP connection (TLS already terminated when the app has `tls = yes`), as a
// stream app sees it. Non-blocking: nothing here waits. Only valid inside the callbacks of the
// session it was handed to, on that session's event-loop thread.
class Stream
{
public:
    virtual ~Stream() = default;

    // Up to max of the bytes received and not read yet; empty when none are waiting now.
    virtual QByteArray read(qsizetype max) = 0;
    virtual qsizetype bytesAvailable() const = 0;
    // The peer ended its direction (half-close or close) and every byte it sent has been read.
    virtual bool atEnd() const = 0;

    // Queues data for the peer. Back-pressure: false when the output buffer is at its cap (the
    // data is still queued); stop producing until the session's onWritable(). A peer that does
    // not read for send_timeout is disconnected.
    virtual bool write(QByteArrayView data) = 0;
    // Room in the output buffer: write() would return true.
    virtual bool canWrite() const = 0;
    virtual qsizetype bytesToWrite() const = 0;

    // Ends our direction once the queued output is sent (TLS close_notify, then FIN); the peer
    // may keep sending.
    virtual void shutdownWrite() = 0;
    // Closes once the queued output is sent; no further callbacks but onClosed().
    virtual void close() = 0;

    virtual QString peerAddress() const = 0;
    virtual quint16 peerPort() const = 0;
    virtual bool isSecure() const = 0;
    // Closes the connection after this long without traffic in either direction (0: never);
    // starts as the app's idle_timeout.
    virtual void setIdleTimeout(qint64 ms) = 0;
};

// What a stream app keeps per connection. Callbacks run on the connection's event-loop thread;
// an exception thrown from one closes the connection, is logged, and replaces the app with a
// fresh instance (brim's rule); the worker keeps serving.
class StreamSession
{
public:
    virtual ~StreamSession() = default;
    // Bytes are waiting, or the input ended (stream.atEnd()). Called after each read from the
    // socket; bytes left unread stay buffered (up to a cap, then the socket is not read: the
    // peer is slowed down by TCP) and are offered again with the next onReadable/onWritable.
    virtual void onReadable(Stream &stream) = 0;
    // The output buffer drained below its cap after write() returned false.
    virtual void onWritable(Stream &stream) { onReadable(stream); }
    // The connection is gone (closed by either side, idle, send timeout, server stopping).
    virtual void onClosed() {}
};

// A TCP app ([tcp:NAME] call = ...): one instance per event-loop thread, built from the
// configuration snapshot, asked for a session per accepted connection.
class StreamApp
{
public:
    virtual ~StreamApp() = default;
    // nullptr refuses the connection (closed at once).
    virtual std::unique_ptr<StreamSession> accept(Stream &stream) = 0;
};

} // namespace Berth::SocketApps
