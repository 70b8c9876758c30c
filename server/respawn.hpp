#pragma once
// What follows a worker's exit: a log line that says how it ended, and, unless the exit
// was planned, its replacement, at once or after a back-off when workers keep dying
// young (a crash loop must not become a fork storm).
#include <chrono>
#include <optional>

#include "server/generation.hpp"
#include "server/worker_pool.hpp"

namespace pfd::server {

// The delay before slot s is started again after a worker that lived `uptime`; one
// crash, or a worker the master killed (kill_reason set), is repaired at once.
[[nodiscard]] std::chrono::milliseconds backoff_after(slot_state& s, const supervisor_settings& sup,
                                                      steady_clock::duration uptime, const char* kill_reason) noexcept;

// w has exited (status from waitpid) and left the pool. serving: the master serves and
// had not told w to drain. previous: the generation serving while a reload is pending.
// Returns whether w was a serving worker of the current generation.
bool after_exit(const worker_proc& w, int status, bool serving, generation& current, generation* previous,
                worker_pool& pool) noexcept;

// Starts g's slots whose respawn time has come, listening on `sockets`.
void respawn_due(worker_pool& pool, generation& g, const listener_set& sockets) noexcept;
// The earliest respawn time of g's slots.
[[nodiscard]] std::optional<steady_clock::time_point> next_respawn(const generation& g) noexcept;

}  // namespace pfd::server
