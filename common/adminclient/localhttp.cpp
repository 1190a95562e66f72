#include "localhttp.h"

#include <QTimer>

#include <utility>

namespace Berth::Client {

using namespace Qt::StringLiterals;

namespace {

constexpr qsizetype MaxHead = 64 * 1024;

} // namespace

LocalHttpReply::LocalHttpReply(const QString &socketPath, const QByteArray &method,
                               const QByteArray &target, const Headers &headers,
                               const QByteArray &body, QObject *parent)
    : QObject(parent)
    , m_path(socketPath)
{
    m_request = method + ' ' + target + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
    for (const auto &[name, value] : headers)
        m_request += name + ": " + value + "\r\n";
    if (!body.isEmpty() || method == "POST" || method == "PUT")
        m_request += "Content-Length: " + QByteArray::number(body.size()) + "\r\n";
    m_request += "\r\n" + body;

    connect(&m_socket, &QLocalSocket::connected, this, [this] { m_socket.write(m_request); });
    connect(&m_socket, &QLocalSocket::readyRead, this, &LocalHttpReply::received);
    connect(&m_socket, &QLocalSocket::disconnected, this, [this] {
        received();
        if (m_finished || m_aborted)
            return;
        if (m_state == State::ToClose)
            finish();
        else
            fail(u"The server closed the connection before the response was complete"_s);
    });
    connect(&m_socket, &QLocalSocket::errorOccurred, this,
            [this](QLocalSocket::LocalSocketError e) {
                if (e == QLocalSocket::PeerClosedError)
                    return; // handled by disconnected()
                fail(m_socket.errorString());
            });
    // connectToServer() may report a missing socket at once: only after the caller connected.
    QTimer::singleShot(0, this, &LocalHttpReply::start);
}

void LocalHttpReply::start()
{
    if (!m_aborted && !m_finished)
        m_socket.connectToServer(m_path);
}

QByteArray LocalHttpReply::header(const QByteArray &name) const
{
    for (const auto &[key, value] : m_headers) {
        if (key.compare(name, Qt::CaseInsensitive) == 0)
            return value;
    }
    return {};
}

QByteArray LocalHttpReply::readAll()
{
    return std::exchange(m_body, {});
}

void LocalHttpReply::abort()
{
    m_aborted = true;
    m_socket.disconnect(this);
    m_socket.abort();
}

void LocalHttpReply::received()
{
    if (m_finished || m_aborted)
        return;
    m_raw += m_socket.readAll();
    if (m_state == State::Head) {
        if (!parseHead())
            return;
        Q_EMIT metaDataChanged();
        if (m_aborted)
            return;
    }
    const qsizetype before = m_body.size();
    if (!parseBody()) {
        fail(u"Malformed response body"_s);
        return;
    }
    if (m_body.size() > before)
        Q_EMIT readyRead();
    if (m_state == State::Done && !m_aborted)
        finish();
}

bool LocalHttpReply::parseHead()
{
    const qsizetype end = m_raw.indexOf("\r\n\r\n");
    if (end < 0) {
        if (m_raw.size() > MaxHead)
            fail(u"Response head too large"_s);
        return false;
    }
    const QList<QByteArray> lines = m_raw.left(end).split('\n');
    m_raw.remove(0, end + 4);
    const QList<QByteArray> statusLine = lines.front().trimmed().split(' ');
    bool ok = false;
    m_status = statusLine.size() >= 2 && statusLine.front().startsWith("HTTP/1.")
                   ? statusLine.at(1).toInt(&ok)
                   : 0;
    if (!ok || m_status < 100) {
        m_status = 0;
        fail(u"Not an HTTP response"_s);
        return false;
    }
    for (qsizetype i = 1; i < lines.size(); ++i) {
        const qsizetype colon = lines.at(i).indexOf(':');
        if (colon > 0)
            m_headers.append(
                {lines.at(i).left(colon).trimmed(), lines.at(i).mid(colon + 1).trimmed()});
    }
    const QByteArray length = header("Content-Length");
    if (m_status == 204 || m_status == 304 || m_request.startsWith("HEAD ")) {
        m_state = State::Done;
    } else if (header("Transfer-Encoding").toLower().contains("chunked")) {
        m_state = State::Chunked;
    } else if (!length.isEmpty()) {
        m_left = length.toLongLong(&ok);
        if (!ok || m_left < 0) {
            fail(u"Bad Content-Length"_s);
            return false;
        }
        m_state = m_left == 0 ? State::Done : State::Fixed;
    } else {
        m_state = State::ToClose;
    }
    return true;
}

bool LocalHttpReply::parseBody()
{
    for (;;) {
        switch (m_state) {
        case State::Head:
        case State::Done:
            return true;
        case State::ToClose:
            m_body += std::exchange(m_raw, {});
            return true;
        case State::Fixed:
        case State::ChunkData: {
            const qsizetype n = qMin<qint64>(m_left, m_raw.size());
            m_body += m_raw.left(n);
            m_raw.remove(0, n);
            m_left -= n;
            if (m_left > 0)
                return true;
            m_state = m_state == State::Fixed ? State::Done : State::ChunkEnd;
            break;
        }
        case State::ChunkEnd:
            if (m_raw.size() < 2)
                return true;
            if (!m_raw.startsWith("\r\n"))
                return false;
            m_raw.remove(0, 2);
            m_state = State::Chunked;
            break;
        case State::Chunked:
        case State::Trailer: {
            const qsizetype eol = m_raw.indexOf("\r\n");
            if (eol < 0)
                return m_raw.size() < 1024;
            const QByteArray line = m_raw.left(eol);
            m_raw.remove(0, eol + 2);
            if (m_state == State::Trailer) {
                if (line.isEmpty())
                    m_state = State::Done;
                break;
            }
            bool ok = false;
            const qsizetype semicolon = line.indexOf(';');
            m_left =
                line.left(semicolon < 0 ? line.size() : semicolon).trimmed().toLongLong(&ok, 16);
            if (!ok || m_left < 0)
                return false;
            m_state = m_left == 0 ? State::Trailer : State::ChunkData;
            break;
        }
        }
    }
}

void LocalHttpReply::fail(const QString &error)
{
    if (m_finished || m_aborted)
        return;
    m_error = error;
    finish();
}

void LocalHttpReply::finish()
{
    if (m_finished)
        return;
    m_finished = true;
    m_socket.disconnect(this);
    m_socket.abort();
    Q_EMIT finished();
}

} // namespace Berth::Client
