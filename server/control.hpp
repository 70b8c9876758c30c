#pragma once
// The master's control socket (Unix domain, mode 0600), and the client side used by
// `preforkd status`, `preforkd ctl` and a second master's check. The directory checks
// and safe creation are in runtime_dir.hpp, the pid file in pid_file.hpp.
#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

#include "base/unique_fd.hpp"

namespace pfd::server {

class control_socket {
public:
    // Fails if another master answers on `path`, or if what is there is not a stale
    // socket of ours (anything else is refused, never removed). Binds under a temporary
    // name in the checked directory (runtime_dir.hpp) and renames it into place.
    static tl::expected<control_socket, std::string> open(const std::string& path);

    control_socket(control_socket&& o) noexcept : fd_{std::move(o.fd_)}, path_{std::move(o.path_)} { o.path_.clear(); }
    control_socket& operator=(control_socket&& o) noexcept {
        release_path();
        fd_ = std::move(o.fd_);
        path_ = std::move(o.path_);
        o.path_.clear();
        return *this;
    }
    control_socket(const control_socket&) = delete;
    control_socket& operator=(const control_socket&) = delete;
    ~control_socket();

    [[nodiscard]] int fd() const noexcept { return fd_.get(); }
    // Binary upgrade: free the path for the new master (this socket becomes unreachable).
    void release_path() noexcept;
    // In a forked worker: drop the descriptor, leave the socket file to the master.
    void close_in_worker() noexcept {
        fd_.reset();
        path_.clear();
    }

private:
    control_socket(unique_fd fd, std::string path) : fd_{std::move(fd)}, path_{std::move(path)} {}
    unique_fd fd_;
    std::string path_;
};

// Sends one command and returns the whole answer, once SO_PEERCRED shows the listener
// is this user's or root's: anyone else's answer (a socket bound first at the path) is
// not trusted.
tl::expected<std::string, std::string> control_request(const std::string& path, std::string_view command);

// Why a request failed, for a caller that must tell "nobody listens" from the rest.
enum class request_failure : std::uint8_t { no_listener, untrusted_peer, other };
struct request_error {
    request_failure kind;
    std::string message;
};
tl::expected<std::string, request_error> control_request_checked(const std::string& path, std::string_view command,
                                                                 uid_t uid);

}  // namespace pfd::server
