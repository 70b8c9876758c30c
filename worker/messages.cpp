// Messages between workers, as they come in: each packet the master relays on this
// worker's channel (worker/message_channel.hpp) goes to every module route's
// on_message, on the loop thread, then the next receive is armed. One receive at a
// time: the channel's socket buffer holds what comes meanwhile, and the master drops
// (and logs) what does not fit rather than wait.
#include <cerrno>
#include <cstring>

#include "base/log.hpp"
#include "worker/event_loop.hpp"

namespace pfd::worker {

void event_loop::arm_messages() noexcept {
    if (messages_.fd() >= 0) {
        const std::span<char> into = messages_.buffer();
        submit_.recv_into(messages_.fd(), into.data(), static_cast<unsigned>(into.size()), encode(op::message));
    }
}

void event_loop::on_messages(int res) noexcept {
    if (res == -EINTR || res == -EAGAIN || res == -ENOBUFS) {
        arm_messages();
        return;
    }
    if (res <= 0) {
        // 0: the master closed its end (it is exiting, and so are we); else the socket broke.
        if (res < 0) {
            log_line("message channel: recv failed: %s; no more messages for this worker", std::strerror(-res));
        }
        messages_.close();
        return;
    }
    std::span<const char> data;
    if (messages_.message(static_cast<std::size_t>(res), data)) {
        routes_.deliver_message(data);
    }
    arm_messages();
}

}  // namespace pfd::worker
