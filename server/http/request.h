#pragma once

#include "requesthead.h"

#include <QByteArray>
#include <QHostAddress>
#include <QString>

#include <memory>
#include <utility>
#include <vector>

namespace Berth::Sessions {
class Session;
}

namespace Berth::Http {

// Per-request attributes one app leaves for the apps after it (route data, an upstream's
// choice, a feature's verdict), one typed slot per type: the engine and Request name none of
// them, and every slot is dropped when the exchange ends. A handful per request at most, so a
// small vector beats a map.
class RequestAttributes
{
public:
    // The slot of type T, or null when no app set it.
    template <class T> T *get() const
    {
        for (const auto &[key, value] : m_slots) {
            if (key == keyOf<T>())
                return static_cast<T *>(value.get());
        }
        return nullptr;
    }
    // Sets (replaces) the slot of type T.
    template <class T> T &set(T value)
    {
        auto owned = std::make_shared<T>(std::move(value));
        T &ref = *owned;
        for (auto &[key, slot] : m_slots) {
            if (key == keyOf<T>()) {
                slot = std::move(owned);
                return ref;
            }
        }
        m_slots.emplace_back(keyOf<T>(), std::move(owned));
        return ref;
    }
    void clear() { m_slots.clear(); }
    bool isEmpty() const { return m_slots.empty(); }

private:
    template <class T> static const void *keyOf()
    {
        static const char key = 0;
        return &key;
    }
    std::vector<std::pair<const void *, std::shared_ptr<void>>> m_slots;
};

// What an app sees of a request, whichever protocol carried it. Plain data: tests build one.
struct Request
{
    RequestHead head;
    QByteArray path;       // decoded and normalised (see normalizePath), used for routing
    QByteArray scriptName; // the mount point the router matched, "" for "/" (WSGI SCRIPT_NAME)
    QByteArray pathInfo;   // the rest of path after scriptName, starts with '/' (PATH_INFO)
    QByteArray hostName;   // host without port, lower-cased, used for virtual hosts

    QHostAddress peerAddress;
    quint16 peerPort = 0;
    QHostAddress localAddress;
    quint16 localPort = 0;
    bool secure = false;

    QByteArray txnId;                     // unique per request; also sent as X-Berth-Txn
    QString user;                         // set by an auth app; "-" in request.log when empty
    QString token;                        // API token, when a gateway app found one
    Sessions::Session *session = nullptr; // set by berth.session for the apps after it
    // Keeps that session alive exactly as long as this exchange: the engine releases it when
    // the exchange ends (response complete, aborted or connection closed), not when the next
    // request starts.
    std::shared_ptr<Sessions::Session> sessionOwner;
    // Typed slots for everything else a feature attaches (see RequestAttributes). user, token
    // and session above stay fields only for source compatibility.
    RequestAttributes attributes;

    // A middleware that had to read the body (a form field it checks) keeps it here and sets
    // bodyBuffered; readBody() then hands the next app these bytes instead of the stream.
    QByteArray bufferedBody;
    bool bodyBuffered = false;

    QByteArrayView method() const { return head.method; }
    QByteArrayView query() const { return head.query; }
    QByteArrayView header(QByteArrayView name) const { return head.field(name); }
    bool isHead() const { return head.method == "HEAD"; }

    // What apps attached to this exchange (user, token, session, slots, a buffered body): the
    // engine clears it when the exchange ends.
    void clearPerExchange()
    {
        user.clear();
        token.clear();
        session = nullptr;
        sessionOwner.reset();
        attributes.clear();
        bufferedBody.clear();
        bodyBuffered = false;
    }
};

} // namespace Berth::Http
