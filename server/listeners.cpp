#include "server/listeners.hpp"

#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "base/log.hpp"

namespace pfd::server {

result<unique_fd> open_listener(const listen_address& where, int backlog, bool reuseport) noexcept {
    // Non-blocking, so a draining worker can take what is queued without waiting
    // (io_uring's accepts poll either way).
    unique_fd fd{::socket(where.addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
    if (!fd.valid()) {
        return fail(errno, "socket");
    }
    const int one = 1;
    if (::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) {
        return fail(errno, "setsockopt(SO_REUSEADDR)");
    }
    if (reuseport && ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
        return fail(errno, "setsockopt(SO_REUSEPORT)");
    }
    // Accepted sockets inherit TCP_NODELAY: a response goes out at once instead of
    // waiting on the peer's delayed ACK, and it saves one setsockopt per connection.
    if (::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) {
        return fail(errno, "setsockopt(TCP_NODELAY)");
    }
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&where.addr), where.addr_len) < 0) {
        return fail(errno, "bind");
    }
    if (::listen(fd.get(), backlog) < 0) {
        return fail(errno, "listen");
    }
    return fd;
}

result<bool> allow_reuseport(int fd) noexcept {
    const int one = 1;
    if (::setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) < 0) {
        return fail(errno, "setsockopt(SO_REUSEPORT)");
    }
    return true;
}

result<bool> spread_over_first_sockets(int fd, unsigned n) noexcept {
    // A classic BPF program for fd's reuseport group: a random index below n. The
    // kernel keeps the group in join order, which is slot order here (sockets are bound
    // in slot order and the highest slots are removed first).
    sock_filter random_below_n[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, static_cast<__u32>(SKF_AD_OFF + SKF_AD_RANDOM)),
        BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, n),
        BPF_STMT(BPF_RET | BPF_A, 0),
    };
    sock_filter first[] = {BPF_STMT(BPF_RET | BPF_K, 0)};
    sock_fprog prog{};
    if (n <= 1) {
        prog = {.len = 1, .filter = first};
    } else {
        prog = {.len = 3, .filter = random_below_n};
    }
    if (::setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog) < 0) {
        return fail(errno, "setsockopt(SO_ATTACH_REUSEPORT_CBPF)");
    }
    return true;
}

void steer_new_connections(int fd, unsigned n) noexcept {
    if (auto r = spread_over_first_sockets(fd, n); !r) {
        log_line("%s: %s; connections queued on removed sockets may be reset as they close", r.error().call,
                 std::strerror(r.error().code));
    }
}

void raise_fd_limit(const config& cfg) noexcept {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) {
        return;
    }
    if (lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &lim);
    }
    constexpr rlim_t reserved_fds = 64;   // listeners, ring, signalfd, logs
    const rlim_t needed = static_cast<rlim_t>(cfg.worker.max_connections) + reserved_fds;
    if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < needed) {
        log_line("open-file limit %llu is below limits.max_connections %u + %llu: a worker will refuse "
                 "connections beyond it (raise it with ulimit -n or LimitNOFILE=)",
                 static_cast<unsigned long long>(lim.rlim_cur), cfg.worker.max_connections,
                 static_cast<unsigned long long>(reserved_fds));
    }
}

}  // namespace pfd::server
