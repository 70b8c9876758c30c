#pragma once
// The clients of the master's control socket, served from the master's poll loop:
// each one has its own buffer, state and deadline, so one that sends nothing (or
// reads nothing) holds only its own place, never the loop or another client.
#include <poll.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/clock.hpp"
#include "base/log.hpp"
#include "base/unique_fd.hpp"

namespace pfd::server {

class control_clients {
public:
    using clock = pfd::steady_clock;
    using answer_fn = std::function<std::string(std::string_view)>;

    // Beyond this many, new connections wait in the socket's listen queue until a place
    // frees (at the latest when the oldest client's deadline passes).
    static constexpr std::size_t max_clients = 64;
    // A client has this long to send its one-line command, however it trickles it...
    static constexpr std::chrono::milliseconds command_budget{250};
    // ...and this long to read the whole answer.
    static constexpr std::chrono::milliseconds reply_budget{1000};

    // Appends what to wait for: the listening socket (while there is room) and each client.
    void add_pollfds(int listen_fd, std::vector<pollfd>& out);
    // After poll: `polled` is the part of the poll array add_pollfds filled. Accepts,
    // reads, answers with answer(command), writes what the socket takes, and closes
    // clients that are done or past their deadline.
    void serve(int listen_fd, std::span<const pollfd> polled, const answer_fn& answer) noexcept;
    [[nodiscard]] std::optional<clock::time_point> next_deadline() const noexcept;
    [[nodiscard]] std::size_t size() const noexcept { return clients_.size(); }
    // In a forked worker: its copies of the clients' sockets would keep them from ever
    // seeing the end of their answer.
    void close_in_worker() noexcept { clients_.clear(); }

private:
    struct client {
        unique_fd fd;
        clock::time_point deadline;
        std::string in;
        std::string out;
        std::size_t sent = 0;
        bool replying = false;
    };
    void accept_new(int listen_fd) noexcept;
    // Whether the client connected as the master's user or root (SO_PEERCRED); logs the others.
    bool trusted(int fd) noexcept;
    // false once the client is done with (answered, gone or out of time).
    bool step(client& c, short revents, const answer_fn& answer, clock::time_point now) noexcept;
    static void begin_reply(client& c, std::string reply, clock::time_point now) noexcept;
    static bool flush(client& c) noexcept;

    std::vector<client> clients_;
    log_limiter refused_log_;        // another user's clients, as often as they connect
    bool polled_listener_ = false;   // whether add_pollfds put the listening socket first
};

}  // namespace pfd::server
