#include "server/supervision.hpp"

#include <algorithm>

#include "base/log.hpp"
#include "base/proc_stats.hpp"

namespace pfd::server {

namespace {

// Recycling: the old worker drains only once its replacement accepts.
void retire_when_replaced(worker_pool& pool, std::size_t i, std::chrono::milliseconds graceful_timeout) noexcept {
    auto& procs = pool.procs();
    worker_proc& w = procs[i];
    const auto r = std::find_if(procs.begin(), procs.end(), [&](const worker_proc& p) { return p.pid == w.replaced_by; });
    if (r == procs.end()) {
        w.replaced_by = 0;   // the replacement died; try again on the next round
    } else if (pool.ready(*r)) {
        pool.drain(w, graceful_timeout, worker::restart_reason::recycle);
    }
}

// Whether worker i is due for recycling, and if so, starts its replacement.
void recycle_if_due(worker_pool& pool, std::size_t i, generation& current) noexcept {
    const auto& sup = current.cfg.supervisor;
    const auto now = steady_clock::now();
    auto& procs = pool.procs();
    const worker_proc& w = procs[i];
    // Only a ready worker that is not itself a replacement still waited for is
    // recycled, and for memory not before min_uptime: a max_memory below what a fresh
    // worker uses would otherwise replace each replacement at once, a fork storm.
    const bool pending_replacement = std::any_of(procs.begin(), procs.end(), [&](const worker_proc& p) {
        return p.replaced_by == w.pid;
    });
    const auto& retry_at = w.slot < current.slots.size() ? current.slots[w.slot].recycle_at : std::nullopt;
    if (pending_replacement || !pool.ready(w) || (retry_at && now < *retry_at)) {
        return;
    }
    const std::uint64_t requests = pool.stats(w).requests.load(std::memory_order_relaxed);
    const bool memory_due = sup.max_memory > 0 && now - w.started >= sup.min_uptime;
    const std::uint64_t rss = memory_due ? rss_bytes(w.pid) : 0;
    const bool over_requests = w.request_limit > 0 && requests >= w.request_limit;
    const bool over_memory = memory_due && rss > sup.max_memory;
    if (!over_requests && !over_memory) {
        return;
    }
    if (over_requests) {
        log_line("worker %u pid %d served %llu requests (max_requests %llu): recycling it", w.slot,
                 static_cast<int>(w.pid), static_cast<unsigned long long>(requests),
                 static_cast<unsigned long long>(w.request_limit));
    } else {
        log_line("worker %u pid %d uses %llu KiB (max_memory %llu KiB): recycling it", w.slot,
                 static_cast<int>(w.pid), static_cast<unsigned long long>(rss / 1024),
                 static_cast<unsigned long long>(sup.max_memory / 1024));
    }
    const unsigned slot = w.slot;
    const pid_t old = w.pid;
    pool.start(current, slot, current.listeners);   // may reallocate procs: w is not used below
    if (!procs.empty() && procs.back().slot == slot && procs.back().pid != old) {
        procs[i].replaced_by = procs.back().pid;
    }
}

}  // namespace

// Heartbeats, recycling and drain deadlines, from the scoreboard and /proc.
void supervise(worker_pool& pool, generation& current, bool serving) noexcept {
    const auto& sup = current.cfg.supervisor;
    const std::uint64_t now_ms = monotonic_ms();
    const auto now = steady_clock::now();
    auto& procs = pool.procs();
    // Index loop: starting a replacement may grow procs.
    for (std::size_t i = 0; i < procs.size(); ++i) {
        worker_proc& w = procs[i];
        const std::uint64_t beat = pool.stats(w).heartbeat_ms.load(std::memory_order_relaxed);
        if (w.kill_reason == nullptr && now_ms > beat && now_ms - beat > static_cast<std::uint64_t>(sup.worker_timeout.count())) {
            log_warn("worker %u pid %d: no heartbeat for %.1f s (worker_timeout %.1f s): stuck or stopped; killing it",
                     w.slot, static_cast<int>(w.pid), static_cast<double>(now_ms - beat) / 1000.0,
                     to_seconds(sup.worker_timeout));
            worker_pool::kill_worker(w, "unresponsive", worker::restart_reason::hang);
            continue;
        }
        if (w.draining) {
            if (now >= w.drain_deadline) {
                log_warn("worker %u pid %d still draining after graceful_timeout; killing it", w.slot,
                         static_cast<int>(w.pid));
                worker_pool::kill_worker(w, "graceful_timeout passed", std::nullopt);
            }
            continue;
        }
        if (!serving || w.config_gen != current.number) {
            continue;   // old generation: drained as a whole once the new one is ready
        }
        if (w.replaced_by != 0) {
            retire_when_replaced(pool, i, sup.graceful_timeout);
        } else {
            recycle_if_due(pool, i, current);
        }
    }
}

}  // namespace pfd::server
