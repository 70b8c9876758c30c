#pragma once
// The master's worker processes: forking one for a slot of a generation (and what the
// child does before it runs the event loop), the scoreboard entry each one reports in,
// and the bookkeeping of the ones alive. What to do when one exits is respawn.hpp's.
#include <sys/types.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "base/log.hpp"
#include "server/generation.hpp"
#include "server/messages.hpp"
#include "worker/scoreboard.hpp"

namespace pfd::server {

// One worker process. During a recycle two share a slot: the old one (retiring, then
// draining) and its replacement.
struct worker_proc {
    pid_t pid = 0;
    unsigned slot = 0;
    std::uint32_t generation = 0;          // per spawn, unique: the scoreboard entry's owner
    unsigned spawn = 0;                    // the how-manieth worker started in its slot
    std::size_t board = 0;                 // its scoreboard entry
    std::uint32_t config_gen = 0;          // the configuration it was started with
    steady_clock::time_point started{};
    std::uint64_t request_limit = 0;       // max_requests + jitter; 0: none
    pid_t replaced_by = 0;                 // recycling: the replacement we wait for
    bool draining = false;                 // told to QUIT
    bool socket_removed = false;           // reuseport: its socket left the listener set (scale-down, reload)
    steady_clock::time_point drain_deadline{};
    const char* kill_reason = nullptr;     // why the master killed it, for the exit log line
    // Why the master replaces it (drained or killed for a reason that counts as a restart);
    // empty: it is not being replaced (a stop), or it died on its own (a crash).
    std::optional<worker::restart_reason> retire_reason;
    // Once a second: the counters and CPU time, for rates over the last 10 s.
    struct sample {
        steady_clock::time_point at{};
        worker::worker_counters counters;
        std::uint64_t cpu_ms = 0;
    };
    std::array<sample, 11> samples{};
    std::size_t sample_count = 0;
};

class worker_pool {
public:
    // Called in each new worker before it is named: close what the master holds that
    // the worker must not (every socket but listen_fd).
    using close_fn = std::function<void(int listen_fd)>;

    worker_pool(worker::scoreboard board, close_fn close_inherited) noexcept;

    // Forks a worker for `slot` of g, listening on its socket in `sockets`. Without a
    // free scoreboard entry, or if fork fails, the slot is tried again in 1 s.
    void start(generation& g, unsigned slot, const listener_set& sockets) noexcept;
    // The worker with this pid, taken out of the pool, its scoreboard entry freed.
    std::optional<worker_proc> take_exited(pid_t pid) noexcept;

    // why: empty for a stop (nothing replaces it).
    void drain(worker_proc& w, std::chrono::milliseconds graceful_timeout,
               std::optional<worker::restart_reason> why) noexcept;
    // why: as for drain; a kill after a drain keeps the drain's reason.
    static void kill_worker(worker_proc& w, const char* reason, std::optional<worker::restart_reason> why) noexcept;

    [[nodiscard]] std::vector<worker_proc>& procs() noexcept { return procs_; }
    [[nodiscard]] const std::vector<worker_proc>& procs() const noexcept { return procs_; }
    [[nodiscard]] bool empty() const noexcept { return procs_.empty(); }
    [[nodiscard]] worker::worker_stats& stats(const worker_proc& w) noexcept { return board_[w.board]; }
    [[nodiscard]] const worker::worker_stats& stats(const worker_proc& w) const noexcept { return board_[w.board]; }
    // The master's part of the shared memory (readiness, restarts, start time).
    [[nodiscard]] worker::server_stats& server() noexcept { return board_.server(); }
    [[nodiscard]] bool ready(const worker_proc& w) const noexcept {
        return stats(w).state.load(std::memory_order_relaxed) == worker::worker_state::ready;
    }

    // A worker of generation `gen` in `slot` that is not told to drain.
    [[nodiscard]] bool slot_served(std::uint32_t gen, unsigned slot) const noexcept;
    [[nodiscard]] std::size_t free_board_entries() const noexcept;
    // Each slot may briefly have two workers (recycling, a reload), plus the master's spare.
    [[nodiscard]] unsigned max_workers() const noexcept { return static_cast<unsigned>((board_.size() - 2) / 2); }

    // Reuseport: workers whose socket is not among the first `kept` of `sockets`, and
    // whether one of them still holds it.
    void mark_removed_sockets(const listener_set& sockets, std::size_t kept) noexcept;
    [[nodiscard]] bool removed_socket_held() const noexcept;

    // Reports lines held back by the rate limit (the supervision pass calls it).
    void flush_logs() noexcept {
        board_full_log_.flush();
        relay_.flush_logs();
    }

    // The workers' message channels: one made for each worker started, gone with it.
    [[nodiscard]] message_relay& relay() noexcept { return relay_; }

private:
    [[nodiscard]] std::optional<std::size_t> free_board_entry() const noexcept;
    [[nodiscard]] bool entry_free(std::size_t i) const noexcept;
    // cpu: cpu_affinity's CPU for its slot (none: the master's whole set).
    [[noreturn]] void become_worker(const worker_proc& w, pid_t master_pid, const config& c, int listen_fd,
                                    std::optional<unsigned> cpu) noexcept;
    // cpu_affinity: the CPU for a slot, from the master's allowed set as it is now.
    [[nodiscard]] std::optional<unsigned> affinity_cpu(const config& c, unsigned slot) noexcept;

    worker::scoreboard board_;
    close_fn close_inherited_;
    std::vector<worker_proc> procs_;
    std::uint32_t next_generation_ = 1;
    std::uint64_t rng_;
    log_limiter board_full_log_;   // a full scoreboard repeats every second per slot
    std::string affinity_logged_;  // the allowed set last named in the cpu_affinity line
    message_relay relay_;
};

}  // namespace pfd::server
