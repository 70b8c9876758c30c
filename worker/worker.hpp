#pragma once
#include "worker/scoreboard.hpp"
#include "worker/settings.hpp"

namespace pfd::worker {

// Serves connections accepted from listen_fd until SIGTERM/SIGINT (stop now) or
// SIGQUIT (stop accepting, finish in-flight requests, then stop). Expects the
// caller to have blocked those signals. Publishes its state, heartbeat and counters in
// `stats` (its scoreboard slot). Returns the process exit code.
// With `peers` (shared listener mode), a worker holding more than its share of the
// connections pauses accepting so the others get theirs.
int run(const settings& cfg, int listen_fd, worker_stats& stats, const scoreboard& board, bool shared_listener) noexcept;

}  // namespace pfd::worker
