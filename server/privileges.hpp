#pragma once
// Least privilege ([server] user, group, rlimit_nofile): what the master checks before it
// forks any worker of a configuration (at start and at each reload), and what each worker
// does to its own process right after fork, before it serves.
#include <sys/types.h>

#include <string>

#include <tl/expected.hpp>

#include "server/config.hpp"

namespace pfd::server {

// A worker that could not become what its configuration says exits with this code (EX_CONFIG
// of sysexits.h), never serving: the master's exit line names it.
inline constexpr int exit_cannot_drop = 78;

// Whether this process may start workers of `cfg`: one that is not root (without
// CAP_SETUID and CAP_SETGID) cannot make them another user or group, and a child forked
// for the purpose must manage the drop (drop_privileges) and say so. Then applies
// rlimit_nofile to this process (workers inherit it). The message says why not, e.g.
//   server.user = "nobody" needs the master to run as root (it runs as uid 1000)
// main() calls it before the master starts; a reload calls it for the new configuration
// and keeps the old generation if it fails.
tl::expected<void, std::string> prepare_workers(const config& cfg) noexcept;

// Whether this process holds capability `cap` (CAP_SETUID, ...) in its effective set.
[[nodiscard]] bool has_capability(unsigned cap) noexcept;

// Whether a worker of `cfg` started by this process changes its identity: false when
// no user is configured, or when it is this process's own uid and gid.
[[nodiscard]] bool needs_drop(const config& cfg) noexcept;

// In a new worker, single-threaded, before its ring, helper threads or modules' init:
// clears the supplementary groups, sets the real, effective and saved gid then uid, and
// checks that all of them changed and that uid 0 cannot be taken back; then
// PR_SET_NO_NEW_PRIVS, and PR_SET_DUMPABLE 0 (see privileges.cpp). The message names the
// call that failed: "setresgid: Operation not permitted".
tl::expected<void, std::string> drop_privileges(const config& cfg) noexcept;

}  // namespace pfd::server
