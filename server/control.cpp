#include "server/control.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstring>

#include "base/error_text.hpp"
#include "server/runtime_dir.hpp"

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
    const auto parts = split_path(path);
    if (parts.name.empty() || parts.name == "." || parts.name == "..") {
        return tl::unexpected(path + " does not name a file");
    }
    const runtime_user who = current_runtime_user();
    auto dir = open_runtime_dir(parts.dir, who);
    if (!dir) {
        return tl::unexpected("not creating " + path + ": " + dir.error());
    }
    auto ping = control_request_checked(path, "ping\n", who.uid);
    if (ping) {
        return tl::unexpected("another preforkd master is running (it answers on " + path + ")");
    }
    if (ping.error().kind == request_failure::untrusted_peer) {
        return tl::unexpected(ping.error().message);
    }
    if (auto ok = check_replaceable_socket(dir->get(), parts.name, who.uid, path); !ok) {
        return tl::unexpected(ok.error());
    }
    if (ping.error().kind != request_failure::no_listener) {
        // Something of ours listens there (a master that is stuck, or too busy to accept):
        // taking its path would cut it off from `status` and `-s`.
        return tl::unexpected("a process of ours listens on " + path + " but did not answer (" +
                              ping.error().message + "); not replacing its socket");
    }
    unique_fd fd{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)};
    if (!fd.valid()) {
        return tl::unexpected(errno_text("socket(AF_UNIX)"));
    }
    // Bound under a fresh name in the checked directory (reached through its descriptor,
    // so a directory swapped meanwhile cannot redirect it), then renamed over the stale
    // socket if there is one: bind never reuses or follows an existing name.
    std::string tmp;
    for (int attempt = 0;; ++attempt) {
        tmp = temporary_name();
        auto tmp_addr = unix_address("/proc/self/fd/" + std::to_string(dir->get()) + "/" + tmp);
        if (!tmp_addr) {
            return tl::unexpected(tmp_addr.error());
        }
        // Created 0600 from the start: no window in which others could connect.
        const mode_t old_mask = ::umask(0177);
        const int rc = ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&*tmp_addr), sizeof *tmp_addr);
        const int bind_errno = errno;
        ::umask(old_mask);
        if (rc == 0) {
            break;
        }
        if (bind_errno != EADDRINUSE || attempt == 15) {
            errno = bind_errno;
            return tl::unexpected(errno_text("bind " + parts.dir + "/" + tmp));
        }
    }
    if (::listen(fd.get(), 16) < 0 || ::renameat(dir->get(), tmp.c_str(), dir->get(), parts.name.c_str()) < 0) {
        std::string msg = errno_text("listen on " + parts.dir + "/" + tmp + " and rename it to " + path);
        ::unlinkat(dir->get(), tmp.c_str(), 0);
        return tl::unexpected(std::move(msg));
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

tl::expected<std::string, request_error> control_request_checked(const std::string& path, std::string_view command,
                                                                 uid_t uid) {
    auto fail = [](request_failure kind, std::string message) {
        return tl::unexpected(request_error{kind, std::move(message)});
    };
    auto addr = unix_address(path);
    if (!addr) {
        return fail(request_failure::other, addr.error());
    }
    unique_fd fd{::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0)};
    if (!fd.valid()) {
        return fail(request_failure::other, errno_text("socket(AF_UNIX)"));
    }
    set_timeouts(fd.get());
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&*addr), sizeof *addr) < 0) {
        const bool nobody = errno == ECONNREFUSED || errno == ENOENT;
        return fail(nobody ? request_failure::no_listener : request_failure::other, errno_text("connect " + path));
    }
    // Whoever called listen() on it: a user who bound the path first must not be able
    // to answer for the master (or pass for a running one).
    ucred peer{};
    socklen_t len = sizeof peer;
    if (::getsockopt(fd.get(), SOL_SOCKET, SO_PEERCRED, &peer, &len) < 0) {
        return fail(request_failure::other, errno_text("SO_PEERCRED on " + path));
    }
    if (peer.uid != uid && peer.uid != 0) {
        return fail(request_failure::untrusted_peer,
                    path + " is served by pid " + std::to_string(peer.pid) + " of uid " + std::to_string(peer.uid) +
                        ", not by uid " + std::to_string(uid) + " or root: not trusting it");
    }
    if (::send(fd.get(), command.data(), command.size(), MSG_NOSIGNAL) < 0) {
        return fail(request_failure::other, errno_text("send " + path));
    }
    std::string reply;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0) {
            return fail(request_failure::other, errno_text("read " + path));
        }
        if (n == 0) {
            return reply;
        }
        reply.append(buf, static_cast<std::size_t>(n));
    }
}

tl::expected<std::string, std::string> control_request(const std::string& path, std::string_view command) {
    return control_request_checked(path, command, ::geteuid()).map_error([](request_error e) {
        return std::move(e.message);
    });
}

}  // namespace pfd::server
