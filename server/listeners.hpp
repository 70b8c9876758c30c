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

}  // namespace pfd::server
