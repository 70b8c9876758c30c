#include "server/control.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <chrono>
#include <cstring>

namespace pfd::server {

namespace {

tl::expected<sockaddr_un, std::string> unix_address(const std::string& path) {
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    if (path.size() >= sizeof a.sun_path) {
        return tl::unexpected(path + ": path too long for a Unix socket");
    }
    std::memcpy(a.sun_path, path.c_str(), path.size() + 1);
    return a;
}

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

void set_timeouts(int fd) noexcept {
    // A stuck peer must never stall the master's loop (or the CLI) for long.
    const timeval tv{.tv_sec = 2, .tv_usec = 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

}  // namespace

tl::expected<control_socket, std::string> control_socket::open(const std::string& path) {
    auto addr = unix_address(path);
    if (!addr) {
        return tl::unexpected(addr.error());
    }
    if (control_request(path, "ping\n")) {
        return tl::unexpected("another preforkd master is running (it answers on " + path + ")");
    }
    ::unlink(path.c_str());   // a stale socket left by a master that was killed
    unique_fd fd{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
    if (!fd.valid()) {
        return tl::unexpected(errno_text("socket(AF_UNIX)"));
    }
    // Created 0600 from the start: no window in which others could connect.
    const mode_t old_mask = ::umask(0177);
    const int rc = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr);
    ::umask(old_mask);
    if (rc < 0) {
        return tl::unexpected(errno_text("bind " + path));
    }
    if (::listen(fd.get(), 16) < 0) {
        return tl::unexpected(errno_text("listen " + path));
    }
    return control_socket{std::move(fd), path};
}

control_socket::~control_socket() {
    release_path();
}

void control_socket::release_path() noexcept {
    if (!path_.empty() && fd_.valid()) {
        ::unlink(path_.c_str());
    }
    path_.clear();
}

void control_socket::serve_one(const std::function<std::string(std::string_view)>& answer) noexcept {
    unique_fd client{::accept4(fd_.get(), nullptr, nullptr, SOCK_CLOEXEC)};
    if (!client.valid()) {
        return;
    }
    // The master's loop waits while a client is served: one short deadline for the
    // whole command, however the client trickles it, and a short one for the reply.
    constexpr int budget_ms = 250;
    const timeval send_limit{.tv_sec = 0, .tv_usec = budget_ms * 1000};
    ::setsockopt(client.get(), SOL_SOCKET, SO_SNDTIMEO, &send_limit, sizeof send_limit);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds{budget_ms};
    char buf[256];
    std::size_t have = 0;
    while (have < sizeof buf - 1) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        pollfd p{.fd = client.get(), .events = POLLIN, .revents = 0};
        if (left.count() <= 0 || ::poll(&p, 1, static_cast<int>(left.count())) <= 0) {
            break;
        }
        const ssize_t n = ::recv(client.get(), buf + have, sizeof buf - 1 - have, MSG_DONTWAIT);
        if (n <= 0) {
            break;
        }
        have += static_cast<std::size_t>(n);
        if (std::memchr(buf, '\n', have) != nullptr) {
            break;
        }
    }
    std::string_view command{buf, have};
    command = command.substr(0, command.find('\n'));
    std::string reply;
    try {
        reply = answer(command);
    } catch (...) {
        reply = "error: out of memory\n";
    }
    std::size_t sent = 0;
    while (sent < reply.size()) {
        const ssize_t n = ::send(client.get(), reply.data() + sent, reply.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) {
            break;
        }
        sent += static_cast<std::size_t>(n);
    }
}

tl::expected<std::string, std::string> control_request(const std::string& path, std::string_view command) {
    auto addr = unix_address(path);
    if (!addr) {
        return tl::unexpected(addr.error());
    }
    unique_fd fd{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (!fd.valid()) {
        return tl::unexpected(errno_text("socket(AF_UNIX)"));
    }
    set_timeouts(fd.get());
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) < 0) {
        return tl::unexpected(errno_text("connect " + path));
    }
    if (::send(fd.get(), command.data(), command.size(), MSG_NOSIGNAL) < 0) {
        return tl::unexpected(errno_text("send " + path));
    }
    std::string reply;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0) {
            return tl::unexpected(errno_text("read " + path));
        }
        if (n == 0) {
            return reply;
        }
        reply.append(buf, static_cast<std::size_t>(n));
    }
}

tl::expected<pid_file, std::string> pid_file::write(const std::string& path) {
    const std::string text = std::to_string(::getpid()) + "\n";
    const std::string tmp = path + ".tmp";
    unique_fd fd{::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644)};
    if (!fd.valid() || ::write(fd.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
        return tl::unexpected(errno_text("write " + tmp));
    }
    fd.reset();
    if (::rename(tmp.c_str(), path.c_str()) < 0) {
        return tl::unexpected(errno_text("rename to " + path));
    }
    return pid_file{path};
}

bool pid_file::move_to(const std::string& path) noexcept {
    if (::rename(path_.c_str(), path.c_str()) < 0) {
        return false;
    }
    path_ = path;
    return true;
}

pid_file::~pid_file() {
    if (!path_.empty()) {
        ::unlink(path_.c_str());
    }
}

tl::expected<int, std::string> running_master(const std::string& pid_path) {
    unique_fd fd{::open(pid_path.c_str(), O_RDONLY | O_CLOEXEC)};
    if (!fd.valid()) {
        return tl::unexpected("not running (no pid file at " + pid_path + ")");
    }
    char buf[32] = {};
    const ssize_t n = ::read(fd.get(), buf, sizeof buf - 1);
    const int pid = n > 0 ? std::atoi(buf) : 0;
    if (pid <= 0) {
        return tl::unexpected(pid_path + " does not hold a pid");
    }
    if (::kill(pid, 0) < 0 && errno == ESRCH) {
        return tl::unexpected("not running (pid " + std::to_string(pid) + " from " + pid_path +
                              " is gone; a stale pid file)");
    }
    return pid;
}

}  // namespace pfd::server
