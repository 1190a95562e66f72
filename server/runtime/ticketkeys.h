#pragma once

#include <QString>

#include <array>
#include <cstdint>
#include <memory>

namespace Berth::Core {

class SharedRegion;

// The keys that protect TLS session tickets, shared by every process of one server so that a
// ticket one worker issued resumes on any other worker, and on the workers of the next
// generation after a reload (the ring lives in a SharedRegion, which survives reloads; a master
// restart or binary upgrade starts a new ring, and old tickets then cost a full handshake).
//
// Three keys: `current` encrypts new tickets, `previous` and `next` still decrypt. rotate()
// makes `next` current, `current` previous and a fresh random `next`, so a ticket stays
// decryptable for at least one rotation interval after it was issued.
//
// One writer: the master (or the single process of `workers = 0`) calls rotateIfDue() from a
// timer; every process reads. The keys are published with a seqlock of atomic words, so a
// reader never blocks and never sees half a key; a writer killed mid-rotation can only be the
// master, whose death ends the instance and its regions.
class TicketKeyRing
{
public:
    struct Key
    {
        std::array<std::uint8_t, 16> name{};    // sent in the clear in each ticket: selects the key
        std::array<std::uint8_t, 32> aesKey{};  // AES-256-CBC
        std::array<std::uint8_t, 32> hmacKey{}; // HMAC-SHA256
    };
    // A consistent copy of the ring.
    struct Keys
    {
        std::uint64_t generation = 0; // bumped by each rotation
        Key current;
        Key previous;
        Key next;
    };
    enum class Match {
        None,    // no key of this name: the ticket is ignored (full handshake)
        Current, // decrypt with it
        Other,   // previous or next: decrypt, and issue a new ticket under the current key
    };

    static constexpr const char *RegionName = "tls.ticketkeys.v1";

    ~TicketKeyRing();
    TicketKeyRing(const TicketKeyRing &) = delete;
    TicketKeyRing &operator=(const TicketKeyRing &) = delete;

    // The ring of this server instance, opened (and created with three random keys by the first
    // process) on first use; a process outside a server (tests, tools) gets a private ring.
    // Never null; thread-safe.
    static TicketKeyRing *instance();
    // The ring in the shared region of this instance; nullptr and *error on failure.
    static std::unique_ptr<TicketKeyRing> openShared(QString *error);
    // A ring in this process's memory only.
    static std::unique_ptr<TicketKeyRing> createLocal();

    // false only if a writer held the seqlock for the whole bounded wait (then issue no ticket).
    bool read(Keys *keys) const;
    // The key whose name a ticket carries.
    Match find(const std::uint8_t *name, Key *key) const;

    // Writer only. The first call only records nowMs as the time of the last rotation; later
    // ones rotate when intervalMs has passed since then. Returns whether it rotated.
    bool rotateIfDue(std::int64_t nowMs, std::int64_t intervalMs);
    void rotate(std::int64_t nowMs);

private:
    struct Shared;
    TicketKeyRing() = default;

    Shared *m_shared = nullptr;
    std::unique_ptr<SharedRegion> m_region; // when m_shared is in shared memory
    std::unique_ptr<Shared> m_local;        // when it is not
};

} // namespace Berth::Core
