#pragma once

#include <QByteArray>
#include <QList>
#include <QLocalSocket>
#include <QObject>
#include <QPair>
#include <QString>

namespace Berth::Client {

// One HTTP/1.1 request over a unix (local) socket and its response, for admin servers that
// listen on `[admin] unix = PATH` (QNetworkAccessManager cannot reach those in Qt 6.4). One
// request per connection (`Connection: close`). The response body (Content-Length, chunked or
// read to close) is delivered as it arrives, so that an event stream can be read while it
// lasts. The signals mirror QNetworkReply's.
class LocalHttpReply final : public QObject
{
    Q_OBJECT
public:
    using Headers = QList<QPair<QByteArray, QByteArray>>;

    // target: the request target ("/api/v1/info?x=1"), already percent-encoded. The request is
    // sent once the event loop runs, so every signal can still be connected.
    LocalHttpReply(const QString &socketPath, const QByteArray &method, const QByteArray &target,
                   const Headers &headers, const QByteArray &body, QObject *parent = nullptr);

    // The response status: 0 until the head arrived, and when no response came.
    int status() const { return m_status; }
    // A response header (case-insensitive name); empty when absent.
    QByteArray header(const QByteArray &name) const;
    // The decoded body bytes received since the last call.
    QByteArray readAll();
    QString errorString() const { return m_error; }
    bool isFinished() const { return m_finished; }
    // Closes the connection; finished() is not emitted.
    void abort();

Q_SIGNALS:
    void metaDataChanged();
    void readyRead();
    void finished();

private:
    enum class State { Head, Fixed, Chunked, ChunkData, ChunkEnd, Trailer, ToClose, Done };

    void start();
    void received();
    bool parseHead();
    // Moves what the body framing allows from m_raw to m_body; false on a framing error.
    bool parseBody();
    void fail(const QString &error);
    void finish();

    QLocalSocket m_socket;
    QString m_path;
    QByteArray m_request;
    QByteArray m_raw;
    QByteArray m_body;
    Headers m_headers;
    QString m_error;
    State m_state = State::Head;
    qint64 m_left = 0; // of a Content-Length body or of the current chunk
    int m_status = 0;
    bool m_finished = false;
    bool m_aborted = false;
};

} // namespace Berth::Client
