#include "worker/accept_policy.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "base/clock.hpp"

namespace pfd::worker {

// One shared listening socket wakes every worker for each connection, and the one
// that is already running wins: under load a single worker would take them all. Like
// nginx's accept_disabled, a worker holding more than the mean of the live workers
// (ready, heartbeat under a second old) plus max(1, mean/8) stops accepting until the
// others catch up; a stopped or hung peer is not counted, so it never strands the queue.
// The slack grows with the mean so that a burst of thousands of connections settles in
// a few rounds, while at -c64 shares stay within about 12 %.
bool accept_policy::over_fair_share(std::uint32_t live) const noexcept {
    if (peers_ == nullptr) {
        return false;
    }
    constexpr std::uint64_t fresh_ms = 1000;
    const std::uint64_t now = monotonic_ms();
    std::uint64_t total = 0;
    std::uint64_t live_workers = 0;
    for (std::size_t i = 0; i < peers_->size(); ++i) {
        const worker_stats& w = (*peers_)[i];
        if (w.state.load(std::memory_order_relaxed) != worker_state::ready) {
            continue;
        }
        const std::uint64_t beat = w.heartbeat_ms.load(std::memory_order_relaxed);
        if (now > beat + fresh_ms) {
            continue;
        }
        total += w.active.load(std::memory_order_relaxed);
        ++live_workers;
    }
    if (live_workers < 2) {
        return false;
    }
    const std::uint64_t mean = total / live_workers;
    return live > mean + std::max<std::uint64_t>(1, mean / 8);
}

bool accept_policy::failed(int err) noexcept {
    switch (err) {
        case ECANCELED:
        case ECONNABORTED:
        case EINTR:
        case EAGAIN:
            return false;
        default:
            // Under fd exhaustion this recurs every tick: one line, then a count per window.
            errors_.log("accept failed: %s; retrying every 100 ms", std::strerror(err));
            backoff_ = true;
            return true;
    }
}

}  // namespace pfd::worker
