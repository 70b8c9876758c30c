#pragma once
// Listening sockets, bound by the master before it forks.
#include "base/result.hpp"
#include "base/unique_fd.hpp"
#include "server/config.hpp"

namespace pfd::server {

result<unique_fd> open_listener(const listen_address& where, int backlog, bool reuseport) noexcept;

// shared -> reuseport on reload: the bound, listening shared socket may share its port
// with new SO_REUSEPORT sockets (Linux allows setting the option after listen()).
result<bool> allow_reuseport(int fd) noexcept;
// New connections to fd's reuseport group go only to its first n sockets (the slots
// that stay), so the sockets of removed slots are never handed a connection they would
// reset when they close.
result<bool> spread_over_first_sockets(int fd, unsigned n) noexcept;
// spread_over_first_sockets, and a log line if the kernel refuses: serving goes on, only
// connections queued on removed sockets may be reset as they close.
void steer_new_connections(int fd, unsigned n) noexcept;

// Each worker may hold max_connections sockets: raise the soft open-file limit to the
// hard one (as nginx's worker_rlimit_nofile would) and say so if it still falls short.
void raise_fd_limit(const config& cfg) noexcept;

}  // namespace pfd::server
