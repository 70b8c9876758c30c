#pragma once
// [metrics] listen: the master's own Prometheus endpoint, answered from the scoreboard,
// so nothing of it lands on the workers' path. Polled in the master's loop: a small
// HTTP/1.1 server (GET and HEAD of /metrics; keep-alive; pipelining answered in order)
// where each client has its own buffer and deadline, so none can hold the loop.
#include <poll.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

#include "base/clock.hpp"
#include "base/unique_fd.hpp"
#include "server/config.hpp"
#include "server/generation.hpp"
#include "server/worker_pool.hpp"

namespace pfd::server {

class metrics_listener {
public:
    using clock = pfd::steady_clock;
    // Beyond this many, new connections wait in the listen queue until a place frees.
    static constexpr std::size_t max_clients = 16;
    // A request head larger than this is refused (431) and the connection closed.
    static constexpr std::size_t max_head = 8 * 1024;
    // A client has this long to send a request head, however it trickles it...
    static constexpr std::chrono::milliseconds request_budget{2000};
    // ...this long to read the whole answer...
    static constexpr std::chrono::milliseconds reply_budget{5000};
    // ...and, kept alive, this long before its next request begins.
    static constexpr std::chrono::milliseconds idle_budget{15000};

    // Listens on cfg.metrics.listen if it is set; an inactive listener otherwise.
    // after_upgrade: this master was started by a binary upgrade, whose old master still
    // holds the address until it is told to QUIT; a bind that finds it in use is tried
    // again once a second instead of failing (the old master answers meanwhile).
    static tl::expected<metrics_listener, std::string> open(const config& cfg, bool after_upgrade = false) noexcept;

    metrics_listener() = default;
    metrics_listener(metrics_listener&&) noexcept = default;
    metrics_listener& operator=(metrics_listener&&) noexcept = default;

    void add_pollfds(std::vector<pollfd>& out);
    // After poll: `polled` is the part add_pollfds filled. Accepts, reads requests and
    // answers them, never blocking; closes clients that are done or out of time.
    void serve(std::span<const pollfd> polled, worker_pool& pool, const generation& current) noexcept;
    // When a client's deadline passes without an event.
    [[nodiscard]] std::optional<steady_clock::time_point> next_deadline() const noexcept;
    // In a new worker: it holds none of these sockets.
    void close_in_worker() noexcept;

private:
    struct client {
        unique_fd fd;
        clock::time_point deadline;
        std::string in;
        std::string out;
        std::size_t sent = 0;
        bool replying = false;
        bool keep_alive = false;
    };
    void accept_new() noexcept;
    // false once the client is done with.
    bool step(client& c, short revents, worker_pool& pool, clock::time_point now) noexcept;

    void retry_listen() noexcept;

    unique_fd listen_;
    std::optional<listen_address> waiting_for_;   // after an upgrade: the address, until bound
    clock::time_point retry_at_{};
    std::vector<client> clients_;
    bool polled_listener_ = false;   // whether add_pollfds put the listening socket first
};

}  // namespace pfd::server
