// Messages between workers, as they come in: each packet the master relays on this
// worker's channel (worker/message_channel.hpp) goes to every module route's
// on_message, on the loop thread, then the next receive is armed. One receive at a
// time: the channel's socket buffer holds what comes meanwhile, and the master drops
// (and logs) what does not fit rather than wait. A control record from the master
// (log files reopened, with their descriptors) is acted on here instead.
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "base/log.hpp"
#include "worker/event_loop.hpp"

namespace pfd::worker {

void event_loop::arm_messages() noexcept {
    if (messages_.fd() >= 0) {
        submit_.recvmsg(messages_.fd(), messages_.prepare_receive(), encode(op::message));
    }
}

void event_loop::on_messages(int res) noexcept {
    // Whatever the packet, descriptors that came with it are ours now (closed if unused).
    std::vector<unique_fd> fds = messages_.take_passed_fds(res);
    if (res == -EINTR || res == -EAGAIN || res == -ENOBUFS) {
        arm_messages();
        return;
    }
    if (res <= 0) {
        // 0: the master closed its end (it is exiting, and so are we); else the socket broke.
        if (res < 0) {
            log_error("message channel: recv failed: %s; no more messages for this worker", std::strerror(-res));
        }
        messages_.close();
        return;
    }
    control_record rec{};
    std::span<const char> data;
    if (messages_.control(static_cast<std::size_t>(res), rec)) {
        on_control(rec, fds);
    } else if (messages_.message(static_cast<std::size_t>(res), data)) {
        routes_.deliver_message(data);
    }
    arm_messages();
}

// Reopen: the master opened the files (this worker may lack the right to: it may run
// as another user) and passed them; the access log goes on in the new file once what
// it buffered is in the old one; the error log is fd 2, replaced at once.
void event_loop::on_control(const control_record& rec, std::vector<unique_fd>& fds) noexcept {
    switch (rec.kind) {
        case control_kind::reopen_logs: {
            std::size_t next = 0;
            unique_fd access;
            unique_fd error;
            if ((rec.carries & carries_access_log) != 0 && next < fds.size()) {
                access = std::move(fds[next++]);
            }
            if ((rec.carries & carries_error_log) != 0 && next < fds.size()) {
                error = std::move(fds[next++]);
            }
            if (error.valid()) {
                if (::dup2(error.get(), STDERR_FILENO) < 0) {
                    log_error("reopen: cannot put the new error log on stderr: %s", std::strerror(errno));
                }
                refresh_log_target();
            }
            if (access.valid() && access_ != nullptr) {
                access_->reopen(std::move(access));
                maybe_write_access();
            }
            log_line("log files reopened");
            return;
        }
    }
    log_warn("message channel: unknown control record %u; ignored", static_cast<unsigned>(rec.kind));
}

}  // namespace pfd::worker
