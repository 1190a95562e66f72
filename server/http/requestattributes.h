#pragma once

#include <cstddef>
#include <memory>
#include <utility>
#include <vector>

namespace Berth::Http {

// What apps attach to one exchange for the apps after it, one typed slot per type: a feature
// declares its own key type in its own folder (Sessions::SessionRef in sessions/, Http::Identity
// for request.log's user and token), so neither Request nor the engine names any feature.
//
//     request.attributes.set(Sessions::SessionRef{std::move(session)});
//     if (auto *ref = request.attributes.get<Sessions::SessionRef>()) ...
//
// A handful of slots per request at most, so a flat vector beats a map: a request that sets
// none costs no allocation, and one that does costs one per slot (the vector keeps its capacity
// for the next request on the connection). The engine clears every slot when the exchange ends
// (response complete, aborted or connection closed), which destroys what they own. Slots are
// shared by copies of the Request (tests copy them); use them on the exchange's thread only.
class RequestAttributes
{
public:
    // The slot of type T, or null when no app set it.
    template <class T> T *get() const
    {
        for (const Slot &slot : m_slots) {
            if (slot.key == keyOf<T>())
                return static_cast<T *>(slot.value.get());
        }
        return nullptr;
    }
    // Sets (replaces) the slot of type T and returns it.
    template <class T> T &set(T value)
    {
        auto owned = std::make_shared<T>(std::move(value));
        T &ref = *owned;
        for (Slot &slot : m_slots) {
            if (slot.key == keyOf<T>()) {
                slot.value = std::move(owned);
                return ref;
            }
        }
        m_slots.push_back(Slot{keyOf<T>(), std::move(owned)});
        return ref;
    }
    // The slot of type T, default-constructed first when absent.
    template <class T> T &getOrSet()
    {
        if (T *existing = get<T>())
            return *existing;
        return set(T{});
    }
    // Drops the slot of type T (and what it owns); false when there was none.
    template <class T> bool remove()
    {
        for (auto it = m_slots.begin(); it != m_slots.end(); ++it) {
            if (it->key == keyOf<T>()) {
                m_slots.erase(it);
                return true;
            }
        }
        return false;
    }

    void clear() { m_slots.clear(); }
    bool isEmpty() const { return m_slots.empty(); }
    std::size_t size() const { return m_slots.size(); }

private:
    struct Slot
    {
        const void *key;
        std::shared_ptr<void> value;
    };
    // One address per type: the slot's key. The libraries are static and linked into one
    // binary, so each T has exactly one such variable.
    template <class T> static const void *keyOf()
    {
        static const char key = 0;
        return &key;
    }
    std::vector<Slot> m_slots;
};

} // namespace Berth::Http
