#pragma once

#include <QByteArray>
#include <QList>
#include <QString>

#include <cstdint>
#include <sys/types.h>

namespace Berth::Core {

// Crash reports of a child process. On SIGSEGV, SIGBUS, SIGFPE, SIGILL or SIGABRT the handler
// writes, to the fd given at installation (server.log), a block
//   berth crash pid=P tid=T signal=11 SIGSEGV
//   berth request GET /path txn T client C          (when the thread was running one)
//   berth frame 0 0x7f... /usr/sbin/berthd+0x1234 build-id=abcd...
//   ...
//   berth crash end
// and then dies of the same signal (the default action), so the exit status stays a signal.
// The hung-thread dump (installStackDumpHandler, SIGUSR2) writes its frames the same way between
// "berth stack pid=P tid=T" and "berth stack end". The handler is async-signal-safe: it runs on
// an alternate stack, reads only memory prepared before (the module table, the thread's health
// slot) and calls write(2). Names and file:line come after the fact: the master reads the block
// back from server.log and symbolises it (see Supervisor's Symbolizer), because DWARF parsing
// allocates and can't run in a handler of a process whose heap may be the thing that broke.
// The handlers write to a descriptor of their own, a dup of fd: after a log reopen (USR1), call
// retargetCrashReports() with the new log fd and it is replaced atomically (dup3), so a report
// never goes to a closed or reused descriptor.
bool installCrashHandler(int fd);
void retargetCrashReports(int fd);
// The descriptor the handlers write to, -1 before installCrashHandler (for the SIGUSR2 dump).
int crashReportFd();

// Gives the calling thread an alternate signal stack (a stack overflow then still reports).
// installCrashHandler does it for its own thread; EventLoopThread threads call it at start.
void prepareThreadForCrash();

// Writes one "berth frame" line per frame (async-signal-safe; the module table is recorded by
// installCrashHandler or prepareStackDumps before).
void writeRawFrames(int fd, void *const *frames, int count);
void prepareStackDumps();

// A loaded ELF object, as recorded at installation: the map from a frame's absolute address to
// a (file, offset) pair the master can symbolise after the process is gone.
struct LoadedModule
{
    std::uintptr_t bias = 0;  // dlpi_addr: ELF vaddr = address - bias
    std::uintptr_t start = 0; // lowest and highest address of its PT_LOAD segments
    std::uintptr_t end = 0;
    char path[256] = {};
    char buildId[41] = {}; // hex, truncated to 20 bytes (a GNU build-id is 20 bytes)
};

// The modules loaded now (the main executable first, its path from /proc/self/exe).
QList<LoadedModule> loadedModules();

// One parsed "berth frame" line.
struct RawFrame
{
    int index = 0;
    std::uintptr_t address = 0;
    QString module;           // path, may end in " (deleted)" after a package upgrade
    std::uint64_t offset = 0; // ELF virtual address in that module
    QByteArray buildId;       // hex
    bool resolved = false;    // false: the address was in no known module
};

// Parses the lines of a crash or stack block; "berth frame" lines become frames, the others
// are ignored.
QList<RawFrame> parseFrames(const QList<QByteArray> &lines);

} // namespace Berth::Core
