#include "utf8validator.h"

namespace Berth::WebSocket {

bool Utf8Validator::feed(QByteArrayView bytes)
{
    if (m_failed)
        return false;
    for (const char ch : bytes) {
        const quint8 c = quint8(ch);
        if (m_needed == 0) {
            if (c < 0x80)
                continue;
            // The ranges of the second byte follow RFC 3629's table: they exclude overlong
            // forms (C0, C1, E0 80-9F, F0 80-8F), surrogates (ED A0-BF) and code points above
            // U+10FFFF (F4 90-BF, F5-FF).
            m_lower = 0x80;
            m_upper = 0xBF;
            if (c >= 0xC2 && c <= 0xDF) {
                m_needed = 1;
            } else if (c >= 0xE0 && c <= 0xEF) {
                m_needed = 2;
                if (c == 0xE0)
                    m_lower = 0xA0;
                else if (c == 0xED)
                    m_upper = 0x9F;
            } else if (c >= 0xF0 && c <= 0xF4) {
                m_needed = 3;
                if (c == 0xF0)
                    m_lower = 0x90;
                else if (c == 0xF4)
                    m_upper = 0x8F;
            } else {
                m_failed = true;
                return false;
            }
            continue;
        }
        if (c < m_lower || c > m_upper) {
            m_failed = true;
            return false;
        }
        m_lower = 0x80;
        m_upper = 0xBF;
        --m_needed;
    }
    return true;
}

void Utf8Validator::reset()
{
    m_needed = 0;
    m_lower = 0x80;
    m_upper = 0xBF;
    m_failed = false;
}

bool Utf8Validator::isValid(QByteArrayView bytes)
{
    Utf8Validator v;
    return v.feed(bytes) && v.isComplete();
}

} // namespace Berth::WebSocket
