#pragma once
// The pid file, and which process is a live preforkd master of this user's: a pid file
// is trusted only when it names one, of the same user as the file's owner (`-s`, and a
// second master's check before it starts). The file is made in a checked directory
// (runtime_dir.hpp).
#include <sys/types.h>

#include <string>
#include <utility>

#include <tl/expected.hpp>

#include "base/unique_fd.hpp"

namespace pfd::server {

// Writes the pid file, 0644, owned by this process's user (removed by the destructor).
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

// A live preforkd master named by a pid file, held by a pidfd so a signal cannot reach a
// process that took its pid later.
struct master_process {
    int pid = 0;
    uid_t uid = 0;
    unique_fd pidfd;
};

// Whether /proc/<pid> is a preforkd master that `caller` may command: its real and
// effective uid are the caller's (any, for root) and those of the pid file's owner
// (`file_owner`), and its title is "preforkd: master process" (or, in the moment before a
// master sets it, it runs this very executable and is not a worker). Else why not.
tl::expected<uid_t, std::string> check_master_process(int pid, uid_t caller, uid_t file_owner,
                                                      const std::string& pid_path);

// The master named in `pid_path`, verified as above, or a message saying why not.
tl::expected<master_process, std::string> find_master(const std::string& pid_path, uid_t caller);
// find_master for this process's user; the pid only.
tl::expected<int, std::string> running_master(const std::string& pid_path);
// `-s`: sends `signo` to that master through its pidfd; its pid, or why not.
tl::expected<int, std::string> signal_master(const std::string& pid_path, int signo);

}  // namespace pfd::server
