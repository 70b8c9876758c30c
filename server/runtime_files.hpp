#pragma once
// The pid file, where the runtime files live, and how they are made and trusted, so
// that no other local user can redirect, replace or forge them:
// - default paths are in a directory only this user (or root) can write:
//   /run/preforkd/ for root, $XDG_RUNTIME_DIR/preforkd/ otherwise, else /tmp/preforkd-<uid>/
//   (0700, owner and mode checked at every use);
// - an explicit path's directory, and every directory above it, must be owned by this
//   user or root and not writable by others unless sticky; the file's own directory,
//   if writable by others, must also be this user's (so /tmp itself is refused to a
//   normal user, accepted for root, who owns it: see check_directory);
// - files are created under a fresh name in that directory with O_EXCL|O_NOFOLLOW, then
//   renamed into place: nothing planted at either name is ever followed or reused;
// - a pid file is trusted only when it names a live preforkd master of the right user.
#include <sys/stat.h>
#include <sys/types.h>

#include <string>
#include <string_view>

#include <tl/expected.hpp>

#include "base/unique_fd.hpp"

namespace pfd::server {

// Whom the checks are for. A value, not getuid() inside, so tests can play another user.
struct runtime_user {
    uid_t uid = 0;                // effective uid
    std::string xdg_runtime_dir;  // $XDG_RUNTIME_DIR ("" when unset)
    std::string run_base = "/run";
    std::string tmp_base = "/tmp";
};
runtime_user current_runtime_user();

// <run_base>/preforkd for root; $XDG_RUNTIME_DIR/preforkd when that is an absolute path to a
// directory of this user's that nobody else may enter (as the XDG spec promises; one
// inherited through su is not); else <tmp_base>/preforkd-<uid>. Nothing is created.
std::string default_runtime_dir(const runtime_user& who);
// "<default_runtime_dir>/preforkd-<port>.<extension>" for the current user: the default
// pid file ("pid") and control socket ("sock"). The directory is created when a master
// first writes into it.
std::string default_runtime_path(std::string_view port, std::string_view extension);
std::string default_runtime_path(const runtime_user& who, std::string_view port, std::string_view extension);

// The path split at its last '/': ("." , name) without one.
struct path_parts {
    std::string dir;
    std::string name;
};
path_parts split_path(const std::string& path);

// The checks on a directory that runtime files are created in, from its stat: owner this
// user or root; if group or others may write, it must be sticky (nobody can rename or
// remove what another user made there) and this user's (else its owner can). For root,
// /tmp (root's, sticky) passes: what root creates there cannot be replaced by others and
// is never created through a planted name; a user squatting the socket's name can still
// keep a root master from starting, which is why the defaults are not in /tmp.
tl::expected<void, std::string> check_directory(const std::string& dir, const struct stat& st, uid_t uid);
// Directories above a runtime directory: owner this user or root, and sticky if others may write.
tl::expected<void, std::string> check_ancestor(const std::string& dir, const struct stat& st, uid_t uid);
// The default directory's own check: a real directory (not a link), owned by `uid`, that
// no one else may write (root's) or enter at all (everyone else's).
tl::expected<void, std::string> check_private_directory(const std::string& dir, const struct stat& st, uid_t uid);

// Opens `dir` (O_PATH) for creating runtime files in it, after the checks above on it and
// on every directory up to /. The default directory of `who` is created when missing
// (0755 for root, 0700 otherwise) and must pass check_private_directory too.
tl::expected<unique_fd, std::string> open_runtime_dir(const std::string& dir, const runtime_user& who);

// A fresh, unguessable name for a temporary file in a runtime directory.
std::string temporary_name();

// Writes `text` to dirfd/name: a new file (O_CREAT|O_EXCL|O_NOFOLLOW) under a temporary
// name with exactly `mode`, then renamed over `name`. `shown` names the file in messages.
tl::expected<void, std::string> replace_file(int dirfd, const std::string& name, std::string_view text, mode_t mode,
                                             const std::string& shown);

// What may stand at a control socket's path before a master binds it: nothing, or a
// socket of `uid`'s (stale: replaced). Anything else is refused, saying what it is.
tl::expected<void, std::string> check_replaceable_socket(int dirfd, const std::string& name, uid_t uid,
                                                         const std::string& shown);

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
