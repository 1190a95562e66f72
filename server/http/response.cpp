#include "response.h"

#include "requesthead.h"

namespace Berth::Http {

void Response::setHeader(QByteArrayView name, QByteArrayView value)
{
    removeHeader(name);
    addHeader(name, value);
}

namespace {

// Header names and values most responses carry, as static data: a copy of one shares it, so a
// response built from them allocates nothing per header.
QByteArray interned(QByteArrayView text)
{
    static const QByteArray Common[] = {
        QByteArrayLiteral("Content-Type"),
        QByteArrayLiteral("Cache-Control"),
        QByteArrayLiteral("Last-Modified"),
        QByteArrayLiteral("ETag"),
        QByteArrayLiteral("Accept-Ranges"),
        QByteArrayLiteral("Vary"),
        QByteArrayLiteral("Location"),
        QByteArrayLiteral("Content-Encoding"),
        QByteArrayLiteral("text/plain; charset=utf-8"),
        QByteArrayLiteral("text/html; charset=utf-8"),
        QByteArrayLiteral("application/json"),
        QByteArrayLiteral("application/octet-stream"),
        QByteArrayLiteral("no-store"),
        QByteArrayLiteral("no-cache"),
        QByteArrayLiteral("bytes"),
        QByteArrayLiteral("Accept-Encoding"),
    };
    if (text.size() <= 25) {
        for (const QByteArray &common : Common) {
            if (common.size() == text.size() && common == text)
                return common;
        }
    }
    return text.toByteArray();
}

} // namespace

void Response::addHeader(QByteArrayView name, QByteArrayView value)
{
    m_headers.emplace_back(interned(name), interned(value));
}

void Response::addSharedHeader(QByteArrayView name, const QByteArray &value)
{
    m_headers.emplace_back(interned(name), value);
}

void Response::setSharedHeader(QByteArrayView name, const QByteArray &value)
{
    removeHeader(name);
    m_headers.emplace_back(interned(name), value);
}

void Response::removeHeader(QByteArrayView name)
{
    std::erase_if(m_headers, [name](const auto &h) { return equalsIgnoreCase(h.first, name); });
}

QByteArrayView Response::header(QByteArrayView name) const
{
    for (const auto &h : m_headers) {
        if (equalsIgnoreCase(h.first, name))
            return h.second;
    }
    return {};
}

void Response::clear()
{
    status = 200;
    m_headers.clear();
}

QByteArrayView reasonPhrase(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 101:
        return "Switching Protocols";
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 202:
        return "Accepted";
    case 204:
        return "No Content";
    case 206:
        return "Partial Content";
    case 301:
        return "Moved Permanently";
    case 302:
        return "Found";
    case 303:
        return "See Other";
    case 304:
        return "Not Modified";
    case 307:
        return "Temporary Redirect";
    case 308:
        return "Permanent Redirect";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 406:
        return "Not Acceptable";
    case 408:
        return "Request Timeout";
    case 409:
        return "Conflict";
    case 411:
        return "Length Required";
    case 412:
        return "Precondition Failed";
    case 413:
        return "Content Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 416:
        return "Range Not Satisfiable";
    case 417:
        return "Expectation Failed";
    case 421:
        return "Misdirected Request";
    case 426:
        return "Upgrade Required";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "";
    }
}

} // namespace Berth::Http
