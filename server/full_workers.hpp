#pragma once
// Reuseport (balance = "reuseport" or "cpu"): the kernel queues each new connection on
// the socket the group's program chose, whether or not its worker can take it. A worker
// at limits.max_connections takes no more, so what is queued there waits until one of its
// connections closes, and a slot whose worker died waits for the respawn (seconds, under
// crash-loop back-off). The master looks at the scoreboard and has the program skip those
// sockets while any other is open.
#include <chrono>
#include <optional>

#include "server/generation.hpp"
#include "server/worker_pool.hpp"

namespace pfd::server {

class full_workers {
public:
    // Every round of the master's loop while it serves steady (no reload or binary
    // upgrade under way): decides which of g's sockets to skip and steers g's group so.
    void look(const worker_pool& pool, generation& g) noexcept;
    // How soon to look again: often while a worker is close to full, else not before the
    // supervision tick.
    [[nodiscard]] std::optional<std::chrono::milliseconds> next_look() const noexcept;

    // A worker with at most `low` free connections is skipped, and taken back once it has
    // more than `high`: a worker at the limit accepts one connection per one that
    // closes, so without the gap it would be skipped and taken back at every close.
    struct thresholds {
        unsigned low;
        unsigned high;
        unsigned near;   // at most this many free: looked at often
    };
    [[nodiscard]] static thresholds for_limit(unsigned max_connections) noexcept;

private:
    bool near_ = false;
};

}  // namespace pfd::server
