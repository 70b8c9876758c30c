#pragma once
// Listening sockets, bound by the master before it forks.
#include <vector>

#include "proto/result.hpp"
#include "server/config.hpp"
#include "worker/unique_fd.hpp"

namespace pfd::server {

result<unique_fd> open_listener(const listen_address& where, int backlog, bool reuseport) noexcept;

// shared: one socket for all; reuseport: one per worker slot, so slot i always serves socket i.
result<std::vector<unique_fd>> open_listeners(const config& cfg) noexcept;

// shared -> reuseport on reload: the bound, listening shared socket may share its port
// with new SO_REUSEPORT sockets (Linux allows setting the option after listen()).
result<bool> allow_reuseport(int fd) noexcept;
// New connections to fd's reuseport group go only to its first n sockets (the slots
// that stay), so the sockets of removed slots are never handed a connection they would
// reset when they close.
result<bool> spread_over_first_sockets(int fd, unsigned n) noexcept;

}  // namespace pfd::server
