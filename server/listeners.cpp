#include "server/listeners.hpp"

#include <linux/capability.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "base/log.hpp"
#include "base/small_file.hpp"
#include "server/privileges.hpp"
#include "server/steering_program.hpp"

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

result<bool> spread_over_first_sockets(int fd, unsigned n, bool by_cpu, std::span<const unsigned> skipped) noexcept {
    // The kernel keeps the group in join order, which is slot order here: sockets are
    // bound in slot order and the highest slots are removed first.
    const auto cpus = static_cast<unsigned>(std::max(1, ::get_nprocs_conf()));
    std::vector<sock_filter> code;
    try {
        code = steering_program({.sockets = n, .by_cpu = by_cpu, .cpus = cpus, .skipped = skipped});
    } catch (const std::bad_alloc&) {
        return fail(ENOMEM, "steering program");
    }
    sock_fprog prog{.len = static_cast<unsigned short>(code.size()), .filter = code.data()};
    if (::setsockopt(fd, SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog) < 0) {
        return fail(errno, "setsockopt(SO_ATTACH_REUSEPORT_CBPF)");
    }
    return true;
}

void steer_new_connections(int fd, unsigned n, bool by_cpu, std::span<const unsigned> skipped) noexcept {
    if (auto r = spread_over_first_sockets(fd, n, by_cpu, skipped); !r) {
        log_line("%s: %s; connections queued on removed sockets may be reset as they close", r.error().call,
                 std::strerror(r.error().code));
    }
}

tl::expected<void, std::string> apply_fd_limit(std::uint64_t wanted) {
    if (wanted == 0) {
        return {};
    }
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) {
        return tl::unexpected("server.rlimit_nofile = " + std::to_string(wanted) +
                              ": getrlimit failed: " + std::strerror(errno));
    }
    const auto n = static_cast<rlim_t>(wanted);
    const rlimit want{.rlim_cur = n, .rlim_max = lim.rlim_max == RLIM_INFINITY ? lim.rlim_max : std::max(n, lim.rlim_max)};
    if (::setrlimit(RLIMIT_NOFILE, &want) != 0) {
        const int code = errno;
        std::string why = "server.rlimit_nofile = " + std::to_string(wanted) + ": setrlimit failed: " +
                          std::strerror(code) + " (hard limit " + std::to_string(lim.rlim_max);
        if (want.rlim_max > lim.rlim_max) {
            // Past the hard limit only root may go, and then no higher than fs.nr_open.
            if (!has_capability(CAP_SYS_RESOURCE)) {
                why += ::geteuid() == 0 ? "; only root with CAP_SYS_RESOURCE may raise it, and this one lacks it"
                                        : "; only root may raise it";
            } else if (auto nr_open = read_small_file("/proc/sys/fs/nr_open", 64)) {
                while (!nr_open->empty() && nr_open->back() == '\n') {
                    nr_open->pop_back();
                }
                why += "; no process may pass fs.nr_open = " + *nr_open;
            }
        }
        return tl::unexpected(why + ")");
    }
    return {};
}

void raise_fd_limit(const config& cfg) noexcept {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) {
        return;
    }
    if (cfg.rlimit_nofile == 0 && lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &lim);
    }
    constexpr rlim_t reserved_fds = 64;   // listeners, ring, signalfd, logs
    const rlim_t needed = static_cast<rlim_t>(cfg.worker.max_connections) + reserved_fds;
    if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < needed) {
        log_line("open-file limit %llu is below limits.max_connections %u + %llu: a worker will refuse "
                 "connections beyond it (raise it with server.rlimit_nofile, ulimit -n or LimitNOFILE=)",
                 static_cast<unsigned long long>(lim.rlim_cur), cfg.worker.max_connections,
                 static_cast<unsigned long long>(reserved_fds));
    }
}

}  // namespace pfd::server
