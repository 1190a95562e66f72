#pragma once

#include <array>
#include <cstdint>

namespace Berth::Http2 {

// The stream ids a client has opened (RFC 9113 §5.1.1): each new one is above all before it,
// and an id it skipped is closed for good ("the first use of a new stream identifier
// implicitly closes all streams in the idle state ... with a lower-valued stream identifier").
// nghttp2 ignores a HEADERS frame below the highest id it has seen, because it cannot tell an
// id the client skipped (a connection error: h2spec 5.1.1/2) from trailers on a stream it has
// forgotten (to be ignored); this record tells the two apart. Skipped ranges are kept up to
// MaxRanges, the newest ones: clients number their streams 1, 3, 5, ..., so a range is rare,
// and one older than the newest MaxRanges falls back to nghttp2's leniency. Not thread-safe:
// one per connection, on its event-loop thread.
class ClientStreamIds
{
public:
    static constexpr int MaxRanges = 16;

    // A HEADERS frame on client stream `id` (odd) begins: true when the client may send it
    // (a new stream, or a stream it opened before), false for an id it skipped.
    bool admit(std::int32_t id)
    {
        if (id > m_highest) {
            if (id > m_highest + 2)
                remember(m_highest + 2, id - 2);
            m_highest = id;
            return true;
        }
        for (int i = 0; i < m_count; ++i) {
            if (id >= m_skipped[i].first && id <= m_skipped[i].last)
                return false;
        }
        return true;
    }

    std::int32_t highest() const { return m_highest; }

private:
    struct Range
    {
        std::int32_t first = 0;
        std::int32_t last = 0;
    };

    void remember(std::int32_t first, std::int32_t last)
    {
        m_skipped[m_next] = {first, last};
        m_next = (m_next + 1) % MaxRanges;
        if (m_count < MaxRanges)
            ++m_count;
    }

    std::int32_t m_highest = -1; // the first id a client may use is 1
    std::array<Range, MaxRanges> m_skipped{};
    int m_count = 0;
    int m_next = 0;
};

} // namespace Berth::Http2
