#pragma once
// The master's side of the workers' message channels (worker/message_channel.hpp says
// why a socketpair per worker rather than the control socket): one made at each fork,
// watched by the master's poll loop. What a worker sends is relayed to every worker
// that serves (the current generation's, and a pending reload's previous one's), or
// to those of the one slot it names, the sender included; `preforkd ctl send` does the
// same from the command line. The master never waits on a channel: a worker whose
// channel is full misses the message, which is counted and logged.
#include <poll.h>
#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/log.hpp"
#include "base/result.hpp"
#include "base/unique_fd.hpp"
#include "worker/message_channel.hpp"

namespace pfd::server {

class message_relay {
public:
    struct ends {
        unique_fd master;
        unique_fd worker;
    };
    // A channel for a worker about to be forked.
    static result<ends> open_pair() noexcept;

    // The worker `pid` of `slot` was forked with the other end of `master_end`.
    void add(pid_t pid, unsigned slot, unique_fd master_end);
    void remove(pid_t pid) noexcept;
    // In a forked worker: it holds no other worker's channel.
    void close_in_worker() noexcept { channels_.clear(); }

    // Whether the worker `pid` receives messages (it serves, and is not draining).
    using receives_fn = std::function<bool(pid_t pid)>;
    struct outcome {
        unsigned delivered = 0;
        unsigned dropped = 0;   // their channel was full
    };
    // To every worker that receives (slot < 0) or those in `slot`; from: the sender's
    // slot, -1 for ctl send.
    outcome relay(int from, int slot, std::span<const char> data, const receives_fn& receives) noexcept;

    // A control record (worker/message_channel.hpp) with descriptors, to every worker
    // that has a channel, draining ones included; returns how many did not get it (their
    // channel was full or broken), each logged.
    unsigned send_control(const worker::control_record& rec, std::span<const int> fds) noexcept;

    void add_pollfds(std::vector<pollfd>& out) const;
    // After poll: `polled` is the part add_pollfds filled. Relays what came in, a
    // bounded number of messages per channel each round (the loop polls again at once).
    void serve(std::span<const pollfd> polled, const receives_fn& receives) noexcept;
    void flush_logs() noexcept { full_log_.flush(); }

    [[nodiscard]] std::uint64_t dropped() const noexcept { return dropped_; }

private:
    struct channel {
        pid_t pid;
        unsigned slot;
        unique_fd fd;
        bool hung_up = false;   // the worker is gone: not polled until it is reaped
    };
    void read_from(channel& c, const receives_fn& receives) noexcept;

    std::vector<channel> channels_;
    std::vector<char> in_;
    std::uint64_t dropped_ = 0;
    log_limiter full_log_;
    log_limiter bad_log_;
};

// The answer to the control command "send SLOT TEXT" (SLOT -1: every worker).
[[nodiscard]] std::string answer_send(std::string_view args, message_relay& relay,
                                      const message_relay::receives_fn& receives);

}  // namespace pfd::server
