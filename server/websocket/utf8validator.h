#pragma once

#include <QByteArrayView>

namespace Berth::WebSocket {

// Incremental UTF-8 validation (RFC 3629: no overlong forms, no surrogates, nothing above
// U+10FFFF) for text messages that arrive in fragments: a sequence may be split between two
// feeds. feed() fails at the first byte that can't start or continue a valid sequence, so a
// bad message is refused before the rest of it arrives (1007).
class Utf8Validator
{
public:
    // False as soon as the bytes so far can't be the start of valid UTF-8.
    bool feed(QByteArrayView bytes);
    // True when what was fed is complete, valid UTF-8 (no sequence cut short).
    bool isComplete() const { return !m_failed && m_needed == 0; }
    bool failed() const { return m_failed; }
    void reset();

    // A whole text at once.
    static bool isValid(QByteArrayView bytes);

private:
    int m_needed = 0;      // continuation bytes still expected
    quint8 m_lower = 0x80; // range of the next continuation byte (narrowed after E0, ED, F0, F4)
    quint8 m_upper = 0xBF;
    bool m_failed = false;
};

} // namespace Berth::WebSocket
