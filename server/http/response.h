#pragma once

#include <QByteArray>
#include <QByteArrayView>

#include <utility>
#include <vector>

namespace Berth::Http {

// Status and header fields an app sets before the response starts. The engine adds Date,
// Server, framing (Content-Length / Transfer-Encoding), Connection and X-Berth-Txn itself.
//
// Common names and values ("Content-Type", "text/plain; charset=utf-8", "no-store" ...) are kept
// as shared static data, so a response built from them allocates nothing per field. As fields
// are added the response also notes what the HTTP/1 codec needs to write them: their total size
// and whether any of them might be one it must drop (mayNeedFiltering()).
class Response
{
public:
    int status = 200;

    void setHeader(QByteArrayView name, QByteArrayView value); // replaces fields of that name
    // As setHeader, keeping value itself (implicitly shared, not copied): for values an app
    // formats once and sends with many responses. value must own its bytes (no fromRawData).
    void setSharedHeader(QByteArrayView name, const QByteArray &value);
    void addHeader(QByteArrayView name, QByteArrayView value); // appends another field
    // As addHeader, keeping value itself (implicitly shared, as setSharedHeader).
    void addSharedHeader(QByteArrayView name, const QByteArray &value);
    void removeHeader(QByteArrayView name);           // (inline below)
    QByteArrayView header(QByteArrayView name) const; // first value or a null view
    const std::vector<std::pair<QByteArray, QByteArray>> &headers() const { return m_headers; }
    void clear();

    // The sizes of every name and value added up (no separators).
    qsizetype fieldBytes() const { return m_fieldBytes; }
    // False when no field is one the HTTP/1 codec drops (see isFramingFieldName and
    // isSafeFieldText): it then writes them all without looking at each. True may be stale (the
    // field that set it was removed since): it only costs that check.
    bool mayNeedFiltering() const { return m_mayNeedFiltering; }

private:
    void add(QByteArrayView name, QByteArrayView value);
    void removeMatching(QByteArrayView name);

    std::vector<std::pair<QByteArray, QByteArray>> m_headers;
    qsizetype m_fieldBytes = 0;
    bool m_mayNeedFiltering = false;
};

inline void Response::removeHeader(QByteArrayView name)
{
    // Mostly no field of that name, and then mostly none of its size: that much is decided here
    // without a call; a field of the same size gets the case-insensitive pass.
    for (const auto &field : m_headers) {
        if (field.first.size() == name.size()) {
            removeMatching(name);
            return;
        }
    }
}

// "OK", "Not Found" ... (empty for an unknown code).
QByteArrayView reasonPhrase(int status);

// A field the HTTP/1 codec writes itself, so never an app's: Content-Length, Transfer-Encoding,
// Connection, Date, Server (any case).
bool isFramingFieldName(QByteArrayView name);
// No CR, LF or NUL: a field with one would split the response (or end it) on the wire.
bool isSafeFieldText(QByteArrayView text);

} // namespace Berth::Http
