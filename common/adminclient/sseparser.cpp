#include "sseparser.h"

namespace Berth::Client {

using namespace Qt::StringLiterals;

void SseParser::reset()
{
    m_buffer.clear();
    m_skipLf = false;
    m_id.clear();
    m_event.clear();
    m_data.clear();
    m_hasData = false;
}

QList<SseEvent> SseParser::feed(QByteArrayView bytes)
{
    QList<SseEvent> out;
    for (char c : bytes) {
        if (m_skipLf) {
            m_skipLf = false;
            if (c == '\n')
                continue;
        }
        if (c == '\r' || c == '\n') {
            m_skipLf = c == '\r';
            line(m_buffer, &out);
            m_buffer.clear();
        } else {
            m_buffer.append(c);
        }
    }
    return out;
}

void SseParser::line(const QByteArray &text, QList<SseEvent> *out)
{
    if (text.isEmpty()) {
        // Dispatch: an event with no data is dropped, but its id still counts.
        if (!m_id.isNull())
            m_lastId = m_id;
        if (m_hasData)
            out->append(
                SseEvent{m_id, m_event.isEmpty() ? u"message"_s : m_event, m_data.join(u'\n')});
        m_id = QString();
        m_event.clear();
        m_data.clear();
        m_hasData = false;
        return;
    }
    if (text.startsWith(':'))
        return;
    const qsizetype colon = text.indexOf(':');
    const QByteArray field = colon < 0 ? text : text.left(colon);
    QByteArray value = colon < 0 ? QByteArray() : text.mid(colon + 1);
    if (value.startsWith(' '))
        value.remove(0, 1);
    if (field == "data") {
        m_data.append(QString::fromUtf8(value));
        m_hasData = true;
    } else if (field == "event") {
        m_event = QString::fromUtf8(value);
    } else if (field == "id" && !value.contains('\0')) {
        m_id = QString::fromUtf8(value);
    }
}

} // namespace Berth::Client
