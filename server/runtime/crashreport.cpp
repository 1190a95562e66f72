#include "crashreport.h"

#include "workerhealth.h"

#include <atomic>
#include <cerrno>
#include <cstring>

#include <elf.h>
#include <execinfo.h>
#include <fcntl.h>
#include <link.h>
#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

namespace Berth::Core {

namespace {

// Filled by recordLoadedModules() before any handler is installed, read-only afterwards (the
// handlers only read it). Modules dlopen()ed later show as unresolved addresses.
constexpr int MaxModules = 256;
LoadedModule g_modules[MaxModules];
std::atomic<int> g_moduleCount{0};
std::atomic<int> g_crashFd{-1};
std::atomic<int> g_crashing{0};

int collectModule(dl_phdr_info *info, size_t, void *)
{
    const int n = g_moduleCount.load(std::memory_order_relaxed);
    if (n >= MaxModules)
        return 1;
    LoadedModule &m = g_modules[n];
    m = LoadedModule{};
    m.bias = info->dlpi_addr;
    bool any = false;
    for (int i = 0; i < info->dlpi_phnum; ++i) {
        const ElfW(Phdr) &ph = info->dlpi_phdr[i];
        if (ph.p_type == PT_LOAD) {
            const std::uintptr_t start = info->dlpi_addr + ph.p_vaddr;
            const std::uintptr_t end = start + ph.p_memsz;
            if (!any || start < m.start)
                m.start = start;
            if (!any || end > m.end)
                m.end = end;
            any = true;
        } else if (ph.p_type == PT_NOTE) {
            // Notes: namesz, descsz, type, name (4-aligned), desc (4-aligned).
            const char *p = reinterpret_cast<const char *>(info->dlpi_addr + ph.p_vaddr);
            const char *limit = p + ph.p_memsz;
            while (p + sizeof(ElfW(Nhdr)) <= limit) {
                const auto *note = reinterpret_cast<const ElfW(Nhdr) *>(p);
                const char *name = p + sizeof(ElfW(Nhdr));
                const char *desc = name + ((note->n_namesz + 3) & ~3u);
                if (note->n_type == NT_GNU_BUILD_ID && note->n_namesz == 4 &&
                    std::memcmp(name, "GNU", 4) == 0) {
                    static const char hex[] = "0123456789abcdef";
                    const unsigned size = qMin(note->n_descsz, 20u);
                    for (unsigned b = 0; b < size; ++b) {
                        const auto byte = static_cast<unsigned char>(desc[b]);
                        m.buildId[2 * b] = hex[byte >> 4];
                        m.buildId[2 * b + 1] = hex[byte & 15];
                    }
                    break;
                }
                p = desc + ((note->n_descsz + 3) & ~3u);
            }
        }
    }
    if (!any)
        return 0;
    const char *path = info->dlpi_name;
    char self[sizeof m.path];
    if (n == 0 || !path || !*path) {
        // The main executable has no name here; vdso has none either (left unnamed).
        const ssize_t len = n == 0 ? ::readlink("/proc/self/exe", self, sizeof self - 1) : -1;
        self[len > 0 ? len : 0] = '\0';
        path = self;
    }
    std::memcpy(m.path, path, ::strnlen(path, sizeof m.path - 1));
    g_moduleCount.store(n + 1, std::memory_order_release);
    return 0;
}

void recordLoadedModules()
{
    if (g_moduleCount.load(std::memory_order_acquire) > 0)
        return;
    ::dl_iterate_phdr(collectModule, nullptr);
}

// --- async-signal-safe code only below ---

void writeAll(int fd, const char *data, std::size_t size)
{
    while (size > 0) {
        const ssize_t n = ::write(fd, data, size);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return;
        data += n;
        size -= std::size_t(n);
    }
}

char *appendText(char *out, const char *end, const char *text)
{
    while (*text && out < end)
        *out++ = *text++;
    return out;
}

char *appendNumber(char *out, const char *end, unsigned long value, int base)
{
    char digits[24];
    int n = 0;
    do {
        digits[n++] = "0123456789abcdef"[value % unsigned(base)];
        value /= unsigned(base);
    } while (value != 0);
    if (base == 16)
        out = appendText(out, end, "0x");
    while (n > 0 && out < end)
        *out++ = digits[--n];
    return out;
}

template <std::size_t N>
char *appendSlotText(char *out, const char *end, const std::atomic<std::uint64_t> (&words)[N])
{
    for (std::size_t i = 0; i < N; ++i) {
        const std::uint64_t word = words[i].load(std::memory_order_relaxed);
        char bytes[8];
        std::memcpy(bytes, &word, 8);
        for (char c : bytes) {
            if (c == '\0')
                return out;
            // The slot holds what a client sent: keep the report one line per field.
            if (out < end)
                *out++ = (c == '\n' || c == '\r') ? '?' : c;
        }
    }
    return out;
}

const char *signalName(int signo)
{
    switch (signo) {
    case SIGSEGV:
        return "SIGSEGV";
    case SIGBUS:
        return "SIGBUS";
    case SIGFPE:
        return "SIGFPE";
    case SIGILL:
        return "SIGILL";
    case SIGABRT:
        return "SIGABRT";
    case SIGUSR2:
        return "SIGUSR2";
    default:
        return "signal";
    }
}

void writeHeader(int fd, const char *what, int signo)
{
    char line[160] = {}; // zeroed: GCC 12 with ASan otherwise warns (maybe-uninitialized)
    const char *const end = line + sizeof line - 1;
    char *p = appendText(line, end, what);
    p = appendText(p, end, " pid=");
    p = appendNumber(p, end, static_cast<unsigned long>(::getpid()), 10);
    p = appendText(p, end, " tid=");
    p = appendNumber(p, end, static_cast<unsigned long>(::gettid()), 10);
    if (signo != SIGUSR2) {
        p = appendText(p, end, " signal=");
        p = appendNumber(p, end, static_cast<unsigned long>(signo), 10);
        p = appendText(p, end, " ");
        p = appendText(p, end, signalName(signo));
    }
    *p++ = '\n';
    writeAll(fd, line, std::size_t(p - line));
}

void writeRequest(int fd)
{
    const ThreadSlot *slot = ThreadHealth::current();
    if (!slot || slot->requestStartedMs.load(std::memory_order_relaxed) <= 0)
        return;
    // No seqlock retry here: a crash in the middle of publishing shows a mix, which is still
    // more useful than nothing.
    char line[512];
    const char *end = line + sizeof line - 1;
    char *p = appendText(line, end, "berth request ");
    p = appendSlotText(p, end, slot->method);
    p = appendText(p, end, " ");
    p = appendSlotText(p, end, slot->url);
    p = appendText(p, end, " txn ");
    p = appendSlotText(p, end, slot->txn);
    p = appendText(p, end, " client ");
    p = appendSlotText(p, end, slot->client);
    *p++ = '\n';
    writeAll(fd, line, std::size_t(p - line));
}

void crashHandler(int signo, siginfo_t *, void *context)
{
    const int fd = g_crashFd.load(std::memory_order_relaxed);
    if (g_crashing.fetch_add(1) != 0) {
        // Another thread is reporting; it ends the process.
        for (;;)
            ::pause();
    }
    if (fd >= 0) {
        writeHeader(fd, "berth crash", signo);
        writeRequest(fd);
        void *frames[64];
        int count = ::backtrace(frames, 64);
        int first = 0;
#if defined(__x86_64__)
        // Start at the faulting instruction: the frames above it are this handler's.
        const auto pc = reinterpret_cast<void *>(
            static_cast<const ucontext_t *>(context)->uc_mcontext.gregs[REG_RIP]);
        for (int i = 0; i < count; ++i) {
            if (frames[i] == pc) {
                first = i;
                break;
            }
        }
#else
        (void)context;
#endif
        writeRawFrames(fd, frames + first, count - first);
        static const char end[] = "berth crash end\n";
        writeAll(fd, end, sizeof end - 1);
    }
    // The signal stays blocked until the handler returns (no SA_NODEFER) and SA_RESETHAND put
    // the default action back: the process dies of it then, whether it was a fault (which
    // would also recur) or a raise()/kill() (which would not).
    ::raise(signo);
}

} // namespace

void writeRawFrames(int fd, void *const *frames, int count)
{
    const int modules = g_moduleCount.load(std::memory_order_acquire);
    for (int i = 0; i < count; ++i) {
        const auto address = reinterpret_cast<std::uintptr_t>(frames[i]);
        char line[400];
        const char *end = line + sizeof line - 1;
        char *p = appendText(line, end, "berth frame ");
        p = appendNumber(p, end, static_cast<unsigned long>(i), 10);
        p = appendText(p, end, " ");
        p = appendNumber(p, end, address, 16);
        const LoadedModule *module = nullptr;
        for (int m = 0; m < modules; ++m) {
            if (address >= g_modules[m].start && address < g_modules[m].end) {
                module = &g_modules[m];
                break;
            }
        }
        if (module) {
            p = appendText(p, end, " ");
            p = appendNumber(p, end, address - module->bias, 16);
            p = appendText(p, end, " ");
            p = appendText(p, end, module->buildId[0] ? module->buildId : "-");
            p = appendText(p, end, " ");
            p = appendText(p, end, module->path);
        } else {
            p = appendText(p, end, " ? - ?");
        }
        *p++ = '\n';
        writeAll(fd, line, std::size_t(p - line));
    }
}

void prepareThreadForCrash()
{
    // SIGSTKSZ grew dynamic in glibc 2.34; backtrace() and the report need a few KiB.
    constexpr std::size_t Size = 64 * 1024;
    stack_t current{};
    if (::sigaltstack(nullptr, &current) == 0 && !(current.ss_flags & SS_DISABLE))
        return;
    void *memory =
        ::mmap(nullptr, Size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED)
        return;
    stack_t stack{};
    stack.ss_sp = memory;
    stack.ss_size = Size;
    // The stack lives as long as the thread's process: a thread ending leaks 64 KiB of address
    // space, which event-loop threads (one per core, for the process' life) never do.
    ::sigaltstack(&stack, nullptr);
}

bool installCrashHandler(int fd)
{
    // backtrace() loads libgcc_s on first use (dlopen, malloc): do that now, not in the handler.
    void *warmup[4];
    ::backtrace(warmup, 4);
    recordLoadedModules();
    prepareThreadForCrash();
    if (g_crashFd.load(std::memory_order_relaxed) < 0)
        g_crashFd.store(fd >= 0 ? ::fcntl(fd, F_DUPFD_CLOEXEC, 3) : -1, std::memory_order_relaxed);
    else
        retargetCrashReports(fd);
    struct sigaction action
    {};
    action.sa_sigaction = crashHandler;
    action.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
    sigemptyset(&action.sa_mask);
    bool ok = true;
    for (int signo : {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT})
        ok = ::sigaction(signo, &action, nullptr) == 0 && ok;
    return ok;
}

void retargetCrashReports(int fd)
{
    const int own = g_crashFd.load(std::memory_order_relaxed);
    if (own >= 0 && fd >= 0 && fd != own)
        ::dup3(fd, own, O_CLOEXEC);
}

int crashReportFd()
{
    return g_crashFd.load(std::memory_order_relaxed);
}

void prepareStackDumps()
{
    recordLoadedModules();
}

QList<LoadedModule> loadedModules()
{
    recordLoadedModules();
    QList<LoadedModule> list;
    const int n = g_moduleCount.load(std::memory_order_acquire);
    for (int i = 0; i < n; ++i)
        list.append(g_modules[i]);
    return list;
}

QList<RawFrame> parseFrames(const QList<QByteArray> &lines)
{
    QList<RawFrame> frames;
    for (const QByteArray &line : lines) {
        // berth frame N ADDR OFFSET BUILDID PATH (the path may contain spaces)
        const int at = line.indexOf("berth frame ");
        if (at < 0)
            continue;
        const QList<QByteArray> parts = line.mid(at).trimmed().split(' ');
        if (parts.size() < 7)
            continue;
        RawFrame frame;
        bool ok = false;
        frame.index = parts[2].toInt(&ok);
        if (!ok)
            continue;
        frame.address = std::uintptr_t(parts[3].toULongLong(&ok, 0));
        if (parts[4] != "?") {
            frame.offset = parts[4].toULongLong(&frame.resolved, 0);
            frame.buildId = parts[5] == "-" ? QByteArray() : parts[5];
            frame.module = QString::fromUtf8(parts.mid(6).join(' '));
        }
        frames.append(frame);
    }
    return frames;
}

} // namespace Berth::Core
