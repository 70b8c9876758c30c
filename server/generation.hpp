#pragma once
// A generation: the workers started with one configuration. The master serves one; while
// a reload is pending, the generation that served before it goes on serving too.
#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "base/clock.hpp"
#include "server/config.hpp"
#include "server/listener_set.hpp"

namespace pfd::server {

// One worker slot's history, for back-off and the status table.
struct slot_state {
    unsigned early_deaths = 0;             // in a row
    unsigned restarts = 0;
    unsigned spawns = 0;
    std::optional<steady_clock::time_point> respawn_at;
    // Recycling: a replacement that died before it was ready is tried again only then.
    std::optional<steady_clock::time_point> recycle_at;
};

struct generation {
    config cfg;
    std::uint32_t number = 1;          // bumped by each successful reload
    std::vector<slot_state> slots;
    // The current generation's sockets. The previous one's only when the pending reload
    // moved to another address (else it is empty and shares the current's), with the
    // reuseport steering they had.
    listener_set listeners;
};

// The sockets a worker of g listens on: its own, or the current generation's.
inline const listener_set& sockets_of(const generation& g, const generation& current) noexcept {
    return g.listeners.empty() ? current.listeners : g.listeners;
}

}  // namespace pfd::server
