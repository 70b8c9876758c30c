#include "server/systemd.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <systemd/sd-daemon.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "base/log.hpp"

namespace pfd::server {

namespace {

std::string status_field(const std::string& status) {
    return "STATUS=" + status;
}

}  // namespace

service_notifier::service_notifier() noexcept {
    const char* sock = std::getenv("NOTIFY_SOCKET");
    enabled_ = sock != nullptr && *sock != '\0';
    std::uint64_t usec = 0;
    // Kept in the environment: a new master of a binary upgrade reads it too.
    if (sd_watchdog_enabled(0, &usec) > 0 && usec > 0) {
        ping_every_ = std::chrono::microseconds{usec / 2};
        next_ping_ = steady_clock::now();
    }
}

void service_notifier::send(const std::string& message) noexcept {
    if (!enabled_ || muted_) {
        return;
    }
    if (const int r = sd_notify(0, message.c_str()); r < 0) {
        log_warn("sd_notify(%s) failed: %s", message.c_str(), std::strerror(-r));
    }
}

void service_notifier::ready(const std::string& status, bool main_pid) noexcept {
    std::string m = "READY=1\n" + status_field(status);
    if (main_pid) {
        m = "MAINPID=" + std::to_string(::getpid()) + "\n" + m;
    }
    last_status_ = status;
    send(m);
}

void service_notifier::reloading() noexcept {
    timespec ts{};
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    const auto usec = static_cast<unsigned long long>(ts.tv_sec) * 1'000'000ULL +
                      static_cast<unsigned long long>(ts.tv_nsec) / 1'000ULL;
    last_status_ = "reloading";
    send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec) + "\n" + status_field(last_status_));
}

void service_notifier::stopping(const std::string& status) noexcept {
    if (stopping_sent_ || muted_) {
        return;
    }
    stopping_sent_ = true;
    last_status_ = status;
    send("STOPPING=1\n" + status_field(status));
}

void service_notifier::status(const std::string& status) noexcept {
    if (muted_ || status == last_status_) {
        return;
    }
    last_status_ = status;
    send(status_field(status));
}

void service_notifier::tick(steady_clock::time_point now) noexcept {
    if (!ping_every_ || now < next_ping_) {
        return;
    }
    next_ping_ = now + *ping_every_;
    send("WATCHDOG=1");
}

std::optional<steady_clock::time_point> service_notifier::next_ping() const noexcept {
    if (!ping_every_ || !enabled_ || muted_) {
        return std::nullopt;
    }
    return next_ping_;
}

tl::expected<std::vector<unique_fd>, std::string> take_activated_sockets() noexcept {
    const int n = sd_listen_fds(1);
    if (n < 0) {
        return tl::unexpected(std::string{"socket activation: sd_listen_fds failed: "} + std::strerror(-n));
    }
    std::vector<unique_fd> fds;
    for (int i = 0; i < n; ++i) {
        fds.emplace_back(SD_LISTEN_FDS_START + i);
    }
    for (const auto& fd : fds) {
        const int r = sd_is_socket_inet(fd.get(), AF_UNSPEC, SOCK_STREAM, 1, 0);
        if (r <= 0) {
            return tl::unexpected("socket activation: fd " + std::to_string(fd.get()) +
                                  " is not a listening TCP socket (IPv4 or IPv6, stream, listening)" +
                                  (r < 0 ? std::string{": "} + std::strerror(-r) : std::string{}));
        }
        // As our own sockets: not inherited by what we exec, non-blocking for draining
        // workers, TCP_NODELAY for the accepted ones (sd_listen_fds left them inheritable).
        const int one = 1;
        if (::fcntl(fd.get(), F_SETFD, FD_CLOEXEC) < 0 ||
            ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) | O_NONBLOCK) < 0 ||
            ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) < 0) {
            return tl::unexpected("socket activation: fd " + std::to_string(fd.get()) + ": " + std::strerror(errno));
        }
    }
    ::unsetenv("LISTEN_FDNAMES");
    return fds;
}

void forget_service_manager() noexcept {
    ::unsetenv("NOTIFY_SOCKET");
    ::unsetenv("WATCHDOG_USEC");
    ::unsetenv("WATCHDOG_PID");
}

void hand_over_watchdog() noexcept {
    if (std::getenv("WATCHDOG_USEC") != nullptr) {
        ::setenv("WATCHDOG_PID", std::to_string(::getpid()).c_str(), 1);
    }
}

}  // namespace pfd::server
