#pragma once
#include "worker/settings.hpp"

namespace pfd::worker {

// Serves connections accepted from listen_fd until SIGTERM/SIGINT (stop now) or
// SIGQUIT (stop accepting, finish in-flight requests, then stop). Expects the
// caller to have blocked those signals. Returns the process exit code.
int run(const settings& cfg, int listen_fd) noexcept;

}  // namespace pfd::worker
