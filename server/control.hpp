#pragma once
// The master's control socket (Unix domain, mode 0600) and the pid file, and the
// client side used by `preforkd status` and `preforkd -s`.
#include <functional>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

#include "worker/unique_fd.hpp"

namespace pfd::server {

class control_socket {
public:
    // Fails if another master answers on `path`; replaces a stale socket file.
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
    // Accepts one client, reads its one-line command and writes answer(command).
    void serve_one(const std::function<std::string(std::string_view)>& answer) noexcept;

private:
    control_socket(unique_fd fd, std::string path) : fd_{std::move(fd)}, path_{std::move(path)} {}
    unique_fd fd_;
    std::string path_;
};

// Sends one command and returns the whole answer.
tl::expected<std::string, std::string> control_request(const std::string& path, std::string_view command);

// Writes the pid file (removed by the returned guard's destructor).
class pid_file {
public:
    static tl::expected<pid_file, std::string> write(const std::string& path);
    pid_file(pid_file&& o) noexcept : path_{std::move(o.path_)} { o.path_.clear(); }
    pid_file& operator=(pid_file&&) = delete;
    pid_file(const pid_file&) = delete;
    pid_file& operator=(const pid_file&) = delete;
    ~pid_file();

    // Renames the file (binary upgrade: to .oldbin, and back); false with errno set on failure.
    bool move_to(const std::string& path) noexcept;

private:
    explicit pid_file(std::string path) : path_{std::move(path)} {}
    std::string path_;
};

// The pid of a running master from its pid file, or a message saying why not.
tl::expected<int, std::string> running_master(const std::string& pid_path);

}  // namespace pfd::server
