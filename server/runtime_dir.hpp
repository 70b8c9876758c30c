#pragma once
// The runtime directory: where the pid file and the control socket live, and how files
// are made in it, so that no other local user can redirect, replace or forge them:
// - default paths are in a directory only this user (or root) can write:
//   /run/preforkd/ for root, $XDG_RUNTIME_DIR/preforkd/ otherwise, else /tmp/preforkd-<uid>/
//   (0700, owner and mode checked at every use);
// - an explicit path's directory, and every directory above it, must be owned by this
//   user or root and not writable by others unless sticky; the file's own directory,
//   if writable by others, must also be this user's (so /tmp itself is refused to a
//   normal user, accepted for root, who owns it: see check_directory);
// - files are created under a fresh name in that directory with O_EXCL|O_NOFOLLOW, then
//   renamed into place: nothing planted at either name is ever followed or reused.
// The pid file and master detection are in pid_file.hpp, the control socket in control.hpp.
#include <sys/stat.h>
#include <sys/types.h>

#include <string>
#include <string_view>

#include <tl/expected.hpp>

#include "base/unique_fd.hpp"

namespace pfd::server {

// "uid 65534", for messages about who owns what.
inline std::string uid_text(uid_t uid) { return "uid " + std::to_string(uid); }

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

}  // namespace pfd::server
