#pragma once
// Listening sockets, bound by the master before it forks.
#include <cstdint>
#include <span>
#include <string>

#include <tl/expected.hpp>

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
// reset when they close. Among them at random, or by_cpu: to socket k when CPU k took the
// connection in (its SYN), with several sockets per CPU (n above the CPUs) one of those
// at random, and at random when the CPU has none below n. A connection that would go to
// a `skipped` socket (sorted; its worker is full) goes to one of the others at random.
result<bool> spread_over_first_sockets(int fd, unsigned n, bool by_cpu, std::span<const unsigned> skipped) noexcept;
// spread_over_first_sockets, and a log line if the kernel refuses: serving goes on, only
// connections queued on removed sockets may be reset as they close.
void steer_new_connections(int fd, unsigned n, bool by_cpu, std::span<const unsigned> skipped) noexcept;

// server.rlimit_nofile = wanted: this process's soft open-file limit becomes `wanted`, and
// its hard limit too where it is lower (that takes root: CAP_SYS_RESOURCE). A hard limit
// above it is kept, never lowered, so a later reload may raise the soft one again. 0:
// nothing. The message, when the kernel refuses:
//   server.rlimit_nofile = 2000000: setrlimit failed: Operation not permitted (hard limit 1048576)
tl::expected<void, std::string> apply_fd_limit(std::uint64_t wanted);

// Each worker may hold max_connections sockets. Without rlimit_nofile, raise the soft
// open-file limit to the hard one (with it, prepare_workers has set it); either way, say so
// if it still falls short.
void raise_fd_limit(const config& cfg) noexcept;

}  // namespace pfd::server
