#pragma once
#include <string>
#include <vector>

#include "server/config.hpp"

namespace pfd::server {

// The signals the master handles; blocked in every process before the first fork,
// read through signalfd (the master's, then each worker's own).
sigset_t master_signals() noexcept;

// Binds the listeners, forks cfg.workers workers and supervises them until told to
// stop. Returns the process exit code.
// argv: the command line, to start a new master with on a binary upgrade.
int run_master(const config& cfg, const std::vector<std::string>& argv, const std::string& cmdline) noexcept;

}  // namespace pfd::server
