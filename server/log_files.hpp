#pragma once
// The master's log files ([log] error, access): opened at start, reopened on USR1 and
// `preforkd -s reopen` (logrotate moves a file, then signals) in the master and in
// every worker.
//
// Why the master opens every file and passes the descriptors on: workers may run as an
// unprivileged user ([server] user) who cannot open (or create) a file under
// /var/log/preforkd, and a file a worker could open is one a compromised worker could
// replace. The master keeps its privileges, so it opens the files (O_APPEND, 0644) at
// start, before any fork, and on reopen hands the new descriptors to each worker over
// the worker's own message channel (SCM_RIGHTS, with a control record no module message
// can look like: worker/message_channel.hpp). The error log is fd 2: the master dup2's
// the file onto it (workers inherit it, and a worker dup2's a reopened one onto its own
// fd 2); the access log's descriptor is inherited at fork. Workers forked after a
// reopen inherit the new files.
#include "server/config.hpp"
#include "server/worker_pool.hpp"

namespace pfd::server {

// At start, before any worker is forked; false (and a line on stderr) if a file cannot
// be opened. Also sets the error log's level.
bool open_logs(const config& cfg) noexcept;
// USR1: the master's files, then every worker's.
void reopen_logs(const config& cfg, worker_pool& pool) noexcept;
// A reload's new configuration, before its workers are forked: files it names that are
// not open yet are opened (a file that cannot be opened is logged, and the previous one
// stays); the level changes.
void apply_log_config(const config& next) noexcept;

}  // namespace pfd::server
