// wsload: a small WebSocket load client for bench/ws (not part of berthd; no Qt, one epoll
// thread so it leaves the cores to the server).
//
//   berth-wsload echo PORT PATH CLIENTS SECONDS SIZE
//       CLIENTS connections, each sending a SIZE-byte text message and waiting for the echo
//       before the next (closed loop, like wrk's keep-alive). After a 1 s warm-up, prints one
//       JSON line: messages/s and the round-trip percentiles.
//   berth-wsload idle PORT PATH COUNT HOLD_FILE
//       opens COUNT WebSockets, writes "ready N" to HOLD_FILE and holds them until SIGTERM.
#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <random>
#include <string>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

volatile std::sig_atomic_t g_stop = 0;

struct Client
{
    int fd = -1;
    bool open = false; // handshake done
    std::string in;
    std::string out;
    size_t outOffset = 0;
    Clock::time_point sentAt;
    bool waiting = false;
};

int connectTo(int port)
{
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(uint16_t(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr *>(&addr), sizeof addr) != 0 &&
        errno != EINPROGRESS) {
        ::close(fd);
        return -1;
    }
    return fd;
}

std::string handshake(const std::string &path)
{
    return "GET " + path +
           " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";
}

// One masked client text frame.
std::string frame(const std::string &payload, std::mt19937 &rng)
{
    std::string f;
    f.push_back(char(0x81));
    const size_t n = payload.size();
    if (n < 126) {
        f.push_back(char(0x80 | n));
    } else if (n < 65536) {
        f.push_back(char(0x80 | 126));
        f.push_back(char(n >> 8));
        f.push_back(char(n & 0xff));
    } else {
        f.push_back(char(0x80 | 127));
        for (int i = 7; i >= 0; --i)
            f.push_back(char((uint64_t(n) >> (8 * i)) & 0xff));
    }
    const uint32_t key = rng();
    char mask[4];
    std::memcpy(mask, &key, 4);
    f.append(mask, 4);
    for (size_t i = 0; i < n; ++i)
        f.push_back(char(payload[i] ^ mask[i % 4]));
    return f;
}

// Takes whole server frames off in; returns how many data frames (whole messages: the echo
// server sends each message in one frame) were taken, -1 on a close frame.
int takeFrames(std::string &in)
{
    int messages = 0;
    for (;;) {
        if (in.size() < 2)
            return messages;
        const auto *p = reinterpret_cast<const unsigned char *>(in.data());
        const int opcode = p[0] & 0x0f;
        uint64_t length = p[1] & 0x7f;
        size_t header = 2;
        if (length == 126) {
            if (in.size() < 4)
                return messages;
            length = (uint64_t(p[2]) << 8) | p[3];
            header = 4;
        } else if (length == 127) {
            if (in.size() < 10)
                return messages;
            length = 0;
            for (int i = 0; i < 8; ++i)
                length = (length << 8) | p[2 + i];
            header = 10;
        }
        if (in.size() < header + length)
            return messages;
        in.erase(0, header + size_t(length));
        if (opcode == 0x8)
            return -1;
        if (opcode == 0x1 || opcode == 0x2)
            ++messages;
    }
}

bool flush(Client &c)
{
    while (c.outOffset < c.out.size()) {
        const ssize_t n =
            ::send(c.fd, c.out.data() + c.outOffset, c.out.size() - c.outOffset, MSG_NOSIGNAL);
        if (n < 0)
            return errno == EAGAIN || errno == EWOULDBLOCK;
        c.outOffset += size_t(n);
    }
    c.out.clear();
    c.outOffset = 0;
    return true;
}

// Opens count clients and completes their handshakes; false if any failed.
bool openAll(int port, const std::string &path, std::vector<Client> &clients, int epfd, int *failed)
{
    for (Client &c : clients) {
        c.fd = connectTo(port);
        if (c.fd < 0) {
            ++*failed;
            continue;
        }
        c.out = handshake(path);
        epoll_event ev{};
        ev.events = EPOLLIN | EPOLLOUT;
        ev.data.ptr = &c;
        ::epoll_ctl(epfd, EPOLL_CTL_ADD, c.fd, &ev);
    }
    size_t pending = clients.size() - size_t(*failed);
    const auto deadline = Clock::now() + std::chrono::seconds(30);
    std::vector<epoll_event> events(256);
    while (pending > 0 && Clock::now() < deadline) {
        const int n = ::epoll_wait(epfd, events.data(), int(events.size()), 100);
        for (int i = 0; i < n; ++i) {
            Client &c = *static_cast<Client *>(events[i].data.ptr);
            if (c.open)
                continue;
            if (events[i].events & EPOLLOUT)
                flush(c);
            if (events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)) {
                char buffer[4096];
                const ssize_t r = ::recv(c.fd, buffer, sizeof buffer, 0);
                if (r <= 0) {
                    if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
                        ++*failed;
                        --pending;
                        ::epoll_ctl(epfd, EPOLL_CTL_DEL, c.fd, nullptr);
                        ::close(c.fd);
                        c.fd = -1;
                    }
                    continue;
                }
                c.in.append(buffer, size_t(r));
                const size_t end = c.in.find("\r\n\r\n");
                if (end != std::string::npos) {
                    if (c.in.compare(0, 12, "HTTP/1.1 101") != 0) {
                        std::fprintf(stderr, "handshake refused: %.40s\n", c.in.c_str());
                        ++*failed;
                    } else {
                        c.open = true;
                    }
                    c.in.erase(0, end + 4);
                    --pending;
                    epoll_event ev{};
                    ev.events = EPOLLIN;
                    ev.data.ptr = &c;
                    ::epoll_ctl(epfd, EPOLL_CTL_MOD, c.fd, &ev);
                }
            }
        }
    }
    *failed += int(pending);
    return *failed == 0;
}

int runEcho(int port, const std::string &path, int count, double seconds, size_t size)
{
    const int epfd = ::epoll_create1(EPOLL_CLOEXEC);
    std::vector<Client> clients(static_cast<size_t>(count));
    int failed = 0;
    openAll(port, path, clients, epfd, &failed);
    std::mt19937 rng(42);
    const std::string payload(size, 'x');
    const std::string message = frame(payload, rng); // one mask for all: the server can't tell
    std::vector<uint32_t> latencies;
    latencies.reserve(1 << 20);
    uint64_t errors = 0;
    const auto start = Clock::now();
    const auto measureFrom = start + std::chrono::seconds(1);
    const auto end = measureFrom + std::chrono::duration<double>(seconds);
    auto send = [&](Client &c) {
        c.out = message;
        c.outOffset = 0;
        c.sentAt = Clock::now();
        c.waiting = true;
        if (!flush(c))
            ++errors;
        if (!c.out.empty()) {
            epoll_event ev{};
            ev.events = EPOLLIN | EPOLLOUT;
            ev.data.ptr = &c;
            ::epoll_ctl(epfd, EPOLL_CTL_MOD, c.fd, &ev);
        }
    };
    for (Client &c : clients) {
        if (c.open)
            send(c);
    }
    std::vector<epoll_event> events(256);
    uint64_t measured = 0;
    while (Clock::now() < end) {
        const int n = ::epoll_wait(epfd, events.data(), int(events.size()), 100);
        for (int i = 0; i < n; ++i) {
            Client &c = *static_cast<Client *>(events[i].data.ptr);
            if (!c.open)
                continue;
            if (events[i].events & EPOLLOUT) {
                flush(c);
                if (c.out.empty()) {
                    epoll_event ev{};
                    ev.events = EPOLLIN;
                    ev.data.ptr = &c;
                    ::epoll_ctl(epfd, EPOLL_CTL_MOD, c.fd, &ev);
                }
            }
            if (!(events[i].events & (EPOLLIN | EPOLLHUP | EPOLLERR)))
                continue;
            char buffer[65536];
            const ssize_t r = ::recv(c.fd, buffer, sizeof buffer, 0);
            if (r <= 0) {
                if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
                    ++errors;
                    c.open = false;
                    ::epoll_ctl(epfd, EPOLL_CTL_DEL, c.fd, nullptr);
                }
                continue;
            }
            c.in.append(buffer, size_t(r));
            const int got = takeFrames(c.in);
            if (got < 0) {
                ++errors;
                c.open = false;
                ::epoll_ctl(epfd, EPOLL_CTL_DEL, c.fd, nullptr);
                continue;
            }
            if (got > 0 && c.waiting) {
                const auto now = Clock::now();
                if (now >= measureFrom) {
                    latencies.push_back(uint32_t(
                        std::chrono::duration_cast<std::chrono::microseconds>(now - c.sentAt)
                            .count()));
                    ++measured;
                }
                c.waiting = false;
                send(c);
            }
        }
    }
    std::sort(latencies.begin(), latencies.end());
    auto pct = [&](double p) -> double {
        if (latencies.empty())
            return 0;
        return latencies[std::min(latencies.size() - 1, size_t(p * double(latencies.size())))] /
               1000.0;
    };
    std::printf("{\"kind\": \"ws_echo\", \"clients\": %d, \"open_failed\": %d, \"size\": %zu, "
                "\"seconds\": %.1f, \"messages\": %llu, \"msgs_per_s\": %.0f, \"p50_ms\": %.3f, "
                "\"p99_ms\": %.3f, \"max_ms\": %.3f, \"errors\": %llu}\n",
                count, failed, size, seconds, (unsigned long long)measured,
                double(measured) / seconds, pct(0.50), pct(0.99), pct(1.0),
                (unsigned long long)errors);
    for (Client &c : clients) {
        if (c.fd >= 0)
            ::close(c.fd);
    }
    ::close(epfd);
    return failed == 0 && errors == 0 ? 0 : 1;
}

int runIdle(int port, const std::string &path, int count, const char *holdFile)
{
    const int epfd = ::epoll_create1(EPOLL_CLOEXEC);
    std::vector<Client> clients(static_cast<size_t>(count));
    int failed = 0;
    const auto start = Clock::now();
    openAll(port, path, clients, epfd, &failed);
    const double took = std::chrono::duration<double>(Clock::now() - start).count();
    // Written aside and renamed: the runner never reads half a line.
    const std::string temporary = std::string(holdFile) + ".tmp";
    if (FILE *f = std::fopen(temporary.c_str(), "w")) {
        std::fprintf(f, "{\"open\": %d, \"failed\": %d, \"seconds\": %.2f}\n", count - failed,
                     failed, took);
        std::fclose(f);
        std::rename(temporary.c_str(), holdFile);
    }
    while (!g_stop)
        ::pause();
    for (Client &c : clients) {
        if (c.fd >= 0)
            ::close(c.fd);
    }
    return 0;
}

} // namespace

int main(int argc, char **argv)
{
    std::signal(SIGTERM, [](int) { g_stop = 1; });
    std::signal(SIGINT, [](int) { g_stop = 1; });
    std::signal(SIGPIPE, SIG_IGN);
    rlimit limit{};
    ::getrlimit(RLIMIT_NOFILE, &limit);
    limit.rlim_cur = limit.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &limit);
    if (argc == 7 && std::strcmp(argv[1], "echo") == 0)
        return runEcho(std::atoi(argv[2]), argv[3], std::atoi(argv[4]), std::atof(argv[5]),
                       size_t(std::atol(argv[6])));
    if (argc == 6 && std::strcmp(argv[1], "idle") == 0)
        return runIdle(std::atoi(argv[2]), argv[3], std::atoi(argv[4]), argv[5]);
    std::fprintf(stderr,
                 "usage: %s echo PORT PATH CLIENTS SECONDS SIZE\n"
                 "       %s idle PORT PATH COUNT HOLD_FILE\n",
                 argv[0], argv[0]);
    return 2;
}
