#pragma once
// The master's look at its workers every supervise_every: a worker whose heartbeat
// stopped is killed, one that drains past graceful_timeout too, and one past
// max_requests or max_memory is recycled (replaced first, drained once its replacement
// accepts).
#include <chrono>

#include "server/generation.hpp"
#include "server/worker_pool.hpp"

namespace pfd::server {

inline constexpr std::chrono::milliseconds supervise_every{250};

// serving: the master is not stopping (then only hangs and drain deadlines are looked at).
void supervise(worker_pool& pool, generation& current, bool serving) noexcept;

}  // namespace pfd::server
