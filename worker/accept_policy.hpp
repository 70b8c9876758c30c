#pragma once
// When and how a worker accepts connections: one at a time or multishot, its fair share
// of a shared listening socket, backing off when the kernel is out of resources.
#include <cstddef>
#include <cstdint>

#include "base/log.hpp"
#include "worker/scoreboard.hpp"

namespace pfd::worker {

class accept_policy {
public:
    // peers: in shared mode, the scoreboard of every worker on the same socket.
    explicit accept_policy(const scoreboard* peers) noexcept : peers_{peers} {}

    // A multishot accept takes every queued connection at once: not on a shared socket
    // (the share is checked between any two), nor near max_connections (one per free
    // slot, so at the limit connections wait in the kernel's queue).
    [[nodiscard]] bool multishot(std::size_t free_slots) const noexcept {
        return peers_ == nullptr && free_slots >= multishot_min_free;
    }
    // After a connection came in on an armed accept: cancel it, so the other workers take
    // the next ones, or accepts go one at a time near the limit.
    [[nodiscard]] bool stop_after(std::uint32_t live, std::size_t free_slots) const noexcept {
        return over_fair_share(live) || free_slots < multishot_min_free;
    }
    // Holding more than its share of the shared socket's connections.
    [[nodiscard]] bool over_fair_share(std::uint32_t live) const noexcept;

    // An accept failed. Returns false for what passes (a cancel, a client that gave up);
    // else logs (one line, then a count per window) and holds accepts until the next tick:
    // retrying at once would spin on EMFILE, ENFILE, ENOBUFS, ENOMEM.
    bool failed(int err) noexcept;
    [[nodiscard]] bool backing_off() const noexcept { return backoff_; }
    // Every tick: accepts may be tried again, and held-back error lines are counted.
    void on_tick() noexcept {
        backoff_ = false;
        errors_.flush();
    }

private:
    static constexpr std::size_t multishot_min_free = 128;

    const scoreboard* peers_;
    bool backoff_ = false;
    log_limiter errors_;
};

}  // namespace pfd::worker
