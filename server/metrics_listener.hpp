#pragma once
// [metrics] listen: the master's own Prometheus endpoint, answered from the scoreboard,
// so nothing of it lands on the workers' path. Polled in the master's loop.
#include <poll.h>

#include <optional>
#include <span>
#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "base/clock.hpp"
#include "server/config.hpp"
#include "server/generation.hpp"
#include "server/worker_pool.hpp"

namespace pfd::server {

class metrics_listener {
public:
    // Listens on cfg.metrics.listen if it is set; an inactive listener otherwise.
    static tl::expected<metrics_listener, std::string> open(const config& cfg) noexcept;

    metrics_listener() = default;
    metrics_listener(metrics_listener&&) noexcept = default;
    metrics_listener& operator=(metrics_listener&&) noexcept = default;

    void add_pollfds(std::vector<pollfd>& out) const;
    // After poll: `polled` is the part add_pollfds filled. Accepts, reads requests and
    // answers them, never blocking.
    void serve(std::span<const pollfd> polled, const worker_pool& pool, const generation& current) noexcept;
    // When a client's deadline passes without an event.
    [[nodiscard]] std::optional<steady_clock::time_point> next_deadline() const noexcept;
    // In a new worker: it holds none of these sockets.
    void close_in_worker() noexcept;

private:
    std::vector<int> fds_;   // being written (issue 15)
};

}  // namespace pfd::server
