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

// Balance-mode switches on reload, on the same address:
// a plain listening socket joins (or starts) a SO_REUSEPORT group, with no steering
// program left on the group;
result<bool> join_reuseport_group(int fd) noexcept;
// every new connection to fd's reuseport group goes to the group's first socket.
result<bool> steer_to_first_socket(int fd) noexcept;

}  // namespace pfd::server
