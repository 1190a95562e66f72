#pragma once

#include <QString>

#include <cstddef>
#include <functional>
#include <memory>

namespace Berth::Core {

// A named block of memory that every process of one server instance maps: the children of one
// master (workers of every generation, service children) and the master itself. Features whose
// state must not depend on which worker took a request (the gateway's response cache, rate
// limits) keep it here.
//
// A region is created by whichever process opens it first, initialised exactly once under a
// file lock, and found again by name by every later opener — including the workers of a new
// generation after a reload, so its contents survive reloads (not master restarts). The master
// removes the instance's regions when it exits, and at start-up those a dead master left behind.
//
// Contents are the caller's: only lock-free atomics or process-shared primitives belong there,
// nothing that holds a pointer (each process maps the region at its own address), and a process
// killed mid-update must not leave it unusable (no plain mutex). Name a region after what sizes
// it ("cache.users.64M"): opening an existing region with another size fails.
class SharedRegion
{
public:
    // Set by the master for its children; a process without it is its own instance.
    static constexpr const char *InstanceVariable = "BERTH_INSTANCE";
    static constexpr std::size_t Alignment = 64; // data() is aligned to a cache line

    // Called once, on zeroed memory, by the process that creates the region, before any other
    // process can see it.
    using Initialiser = std::function<void(void *data, std::size_t bytes)>;

    ~SharedRegion();
    SharedRegion(const SharedRegion &) = delete;
    SharedRegion &operator=(const SharedRegion &) = delete;

    // The region `name` ([A-Za-z0-9_.-], at most 160 bytes) with `bytes` usable bytes, created
    // and initialised by `init` (may be empty) when it does not exist yet. nullptr and *error
    // on failure.
    static std::unique_ptr<SharedRegion> open(const QString &name, std::size_t bytes,
                                              const Initialiser &init, QString *error);

    void *data() const { return m_data; }
    std::size_t size() const { return m_bytes; }
    QString name() const { return m_name; }

    // This process's instance: BERTH_INSTANCE, or its own pid.
    static QString instanceId();
    // Whether this process belongs to a running server (a master made it, or is it): false in
    // `berthd check` and tools, which must not create regions nobody removes.
    static bool inServer();
    // Master: make this process an instance (children inherit BERTH_INSTANCE = its pid).
    static void becomeInstance();
    // Master at exit: remove every region of this instance (mappings stay valid until unmapped).
    static void removeInstanceRegions();
    // Master at start: remove regions of instances whose process no longer exists.
    static void removeStaleRegions();

private:
    SharedRegion() = default;

    QString m_name;
    void *m_mapping = nullptr;
    std::size_t m_mappingBytes = 0;
    void *m_data = nullptr;
    std::size_t m_bytes = 0;
};

} // namespace Berth::Core
