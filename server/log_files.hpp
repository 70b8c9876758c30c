#pragma once
// The master's log files ([log] error, access): opened at start, reopened on USR1 and
// `preforkd -s reopen` (logrotate moves a file, then signals) in the master and in
// every worker.
#include "server/config.hpp"
#include "server/worker_pool.hpp"

namespace pfd::server {

// At start, before any worker is forked; false (and a line on stderr) if a file cannot
// be opened.
bool open_logs(const config& cfg) noexcept;
// USR1: the master's files, then every worker's.
void reopen_logs(const config& cfg, worker_pool& pool) noexcept;

}  // namespace pfd::server
