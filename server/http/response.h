#pragma once

#include <QByteArray>
#include <QByteArrayView>

#include <utility>
#include <vector>

namespace Berth::Http {

// Status and header fields an app sets before the response starts. The engine adds Date,
// Server, framing (Content-Length / Transfer-Encoding), Connection and X-Berth-Txn itself.
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
    void removeHeader(QByteArrayView name);
    QByteArrayView header(QByteArrayView name) const; // first value or a null view
    const std::vector<std::pair<QByteArray, QByteArray>> &headers() const { return m_headers; }
    void clear();

private:
    std::vector<std::pair<QByteArray, QByteArray>> m_headers;
};

// "OK", "Not Found" ... (empty for an unknown code).
QByteArrayView reasonPhrase(int status);

} // namespace Berth::Http
