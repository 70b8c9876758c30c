#include "server/full_workers.hpp"

#include <algorithm>
#include <atomic>

#include "base/log.hpp"

namespace pfd::server {

full_workers::thresholds full_workers::for_limit(unsigned max_connections) noexcept {
    // A thirty-second of the limit: room for what arrives before the master looks again.
    const unsigned low = max_connections / 32;
    return {.low = low, .high = 2 * low + 1, .near = 4 * low};
}

void full_workers::look(const worker_pool& pool, generation& g) noexcept {
    const auto sockets = static_cast<unsigned>(g.listeners.size());
    near_ = false;
    if (sockets <= 1) {
        return;
    }
    const std::vector<unsigned>& skipped = g.listeners.skipped();
    const unsigned limit = g.cfg.worker.max_connections;
    const thresholds t = for_limit(limit);
    std::vector<unsigned> skip;
    for (unsigned slot = 0; slot < sockets; ++slot) {
        bool served = false;
        bool ready = false;
        unsigned room = 0;
        for (const worker_proc& w : pool.procs()) {
            if (w.slot != slot || w.draining || w.config_gen != g.number) {
                continue;
            }
            served = true;
            if (pool.ready(w)) {
                ready = true;
                const unsigned active = pool.stats(w).active.load(std::memory_order_relaxed);
                room = std::max(room, limit - std::min(active, limit));
            }
        }
        const bool was = std::binary_search(skipped.begin(), skipped.end(), slot);
        // No worker at all: it died and waits to be respawned. One starting: as it was.
        const bool now = !served || (ready ? room <= t.low || (was && room <= t.high) : was);
        near_ = near_ || (ready && !now && room <= t.near);
        if (now) {
            skip.push_back(slot);
        }
        if (now && !was) {
            if (served) {
                log_line("worker %u has %u of its %u connections free: new connections go to the other workers",
                         slot, room, limit);
            } else {
                log_line("worker %u is not running: new connections go to the other workers until it is back", slot);
            }
        } else if (was && !now) {
            log_line("worker %u takes new connections again (%u of %u free)", slot, room, limit);
        }
    }
    if (skip.size() == sockets && skipped.size() != sockets) {
        log_line("no worker takes new connections now: they wait in the kernel's queues");
    }
    g.listeners.skip(std::move(skip));
}

std::optional<std::chrono::milliseconds> full_workers::next_look() const noexcept {
    if (near_) {
        return std::chrono::milliseconds{10};
    }
    return std::nullopt;
}

}  // namespace pfd::server
