#pragma once

#include <QByteArray>
#include <QList>
#include <QString>

namespace Berth::Client {

// One Server-Sent Event (the admin API's stats/stream and logs/NAME?follow=1).
struct SseEvent
{
    QString id;    // empty when the event had none
    QString event; // "message" when the event named none
    QString data;  // the data lines joined by '\n'
};

// The text/event-stream format (WHATWG HTML, "server-sent events"), fed in arbitrary pieces:
// events end at a blank line; `:` lines are comments; a field without a colon has an empty
// value; CRLF, LF and CR all end lines.
class SseParser
{
public:
    // Parses what arrived; returns the events it completed.
    QList<SseEvent> feed(QByteArrayView bytes);
    // The last event id seen (what a reconnect sends as Last-Event-ID).
    const QString &lastEventId() const { return m_lastId; }
    void reset();

private:
    void line(const QByteArray &text, QList<SseEvent> *out);

    QByteArray m_buffer;
    bool m_skipLf = false; // the last piece ended in CR: a following LF belongs to it
    QString m_id;
    QString m_event;
    QStringList m_data;
    bool m_hasData = false;
    QString m_lastId;
};

} // namespace Berth::Client
