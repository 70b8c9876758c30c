#include "server/messages.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "worker/message_channel.hpp"

namespace pfd::server {

namespace {
// Per channel and round of the master's loop: a worker that floods its channel cannot
// starve the signals, the control socket or the other channels.
constexpr unsigned reads_per_round = 64;
}  // namespace

result<message_relay::ends> message_relay::open_pair() noexcept {
    int fds[2];
    if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) < 0) {
        return fail(errno, "socketpair");
    }
    return ends{unique_fd{fds[0]}, unique_fd{fds[1]}};
}

void message_relay::add(pid_t pid, unsigned slot, unique_fd master_end) {
    channels_.push_back({pid, slot, std::move(master_end)});
}

void message_relay::remove(pid_t pid) noexcept {
    std::erase_if(channels_, [pid](const channel& c) { return c.pid == pid; });
}

message_relay::outcome message_relay::relay(int from, int slot, std::span<const char> data,
                                            const receives_fn& receives) noexcept {
    outcome out;
    worker::message_header h{from};
    iovec parts[2] = {{&h, sizeof h}, {const_cast<char*>(data.data()), data.size()}};
    msghdr m{};
    m.msg_iov = parts;
    m.msg_iovlen = data.empty() ? 1 : 2;
    for (auto& c : channels_) {
        if (c.hung_up || (slot >= 0 && c.slot != static_cast<unsigned>(slot)) || !receives(c.pid)) {
            continue;
        }
        ssize_t rc = 0;
        do {
            rc = ::sendmsg(c.fd.get(), &m, MSG_DONTWAIT | MSG_NOSIGNAL);
        } while (rc < 0 && errno == EINTR);
        if (rc >= 0) {
            ++out.delivered;
        } else if (errno == EAGAIN || errno == ENOBUFS) {
            ++out.dropped;
            ++dropped_;
            full_log_.log("message of %zu bytes to worker %u (pid %d) dropped: its channel is full "
                          "(it does not read; %llu dropped in all)",
                          data.size(), c.slot, static_cast<int>(c.pid), static_cast<unsigned long long>(dropped_));
        }
        // EPIPE, ECONNRESET: the worker is gone and will be reaped.
    }
    return out;
}

unsigned message_relay::send_control(const worker::control_record& rec, std::span<const int> fds) noexcept {
    worker::message_header h{worker::control_slot};
    iovec parts[2] = {{&h, sizeof h}, {const_cast<worker::control_record*>(&rec), sizeof rec}};
    alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * worker::max_passed_fds)]{};
    msghdr m{};
    m.msg_iov = parts;
    m.msg_iovlen = 2;
    const std::size_t nfds = std::min(fds.size(), worker::max_passed_fds);
    if (nfds > 0) {
        m.msg_control = control;
        m.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
        cmsghdr* c = CMSG_FIRSTHDR(&m);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
        std::memcpy(CMSG_DATA(c), fds.data(), sizeof(int) * nfds);
    }
    unsigned missed = 0;
    for (auto& c : channels_) {
        if (c.hung_up) {
            continue;
        }
        ssize_t rc = 0;
        do {
            rc = ::sendmsg(c.fd.get(), &m, MSG_DONTWAIT | MSG_NOSIGNAL);
        } while (rc < 0 && errno == EINTR);
        if (rc < 0 && errno != EPIPE && errno != ECONNRESET) {
            ++missed;
            log_error("worker %u (pid %d) not told to reopen its log files: its channel: %s", c.slot,
                      static_cast<int>(c.pid), std::strerror(errno));
        }
    }
    return missed;
}

void message_relay::add_pollfds(std::vector<pollfd>& out) const {
    for (const auto& c : channels_) {
        out.push_back({.fd = c.hung_up ? -1 : c.fd.get(), .events = POLLIN, .revents = 0});
    }
}

void message_relay::serve(std::span<const pollfd> polled, const receives_fn& receives) noexcept {
    // By descriptor, not position: a worker reaped since the poll took its channel out.
    for (const pollfd& p : polled) {
        if (p.fd < 0 || p.revents == 0) {
            continue;
        }
        const auto it = std::find_if(channels_.begin(), channels_.end(), [&p](const channel& c) { return c.fd.get() == p.fd; });
        if (it != channels_.end()) {
            read_from(*it, receives);
        }
    }
}

void message_relay::read_from(channel& c, const receives_fn& receives) noexcept {
    if (in_.empty()) {
        try {
            in_.resize(worker::max_packet);
        } catch (...) {
            return;
        }
    }
    const int fd = c.fd.get();
    const unsigned slot = c.slot;
    const pid_t pid = c.pid;
    for (unsigned i = 0; i < reads_per_round; ++i) {
        // MSG_TRUNC: the packet's real size, to refuse one larger than a message.
        const ssize_t n = ::recv(fd, in_.data(), in_.size(), MSG_DONTWAIT | MSG_TRUNC);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return;
        }
        if (n <= 0) {
            c.hung_up = true;   // end of the channel: the worker exited
            return;
        }
        const auto bytes = static_cast<std::size_t>(n);
        if (bytes < sizeof(worker::message_header) || bytes > in_.size()) {
            bad_log_.log("worker %u (pid %d) sent a malformed message of %zu bytes; dropped", slot,
                         static_cast<int>(pid), bytes);
            continue;
        }
        worker::message_header h{};
        std::memcpy(&h, in_.data(), sizeof h);
        // relay() does not touch channels_' layout, so `c` stays valid.
        relay(static_cast<int>(slot), h.slot,
              std::span<const char>{in_}.subspan(sizeof h, bytes - sizeof h), receives);
    }
}

std::string answer_send(std::string_view args, message_relay& relay, const message_relay::receives_fn& receives) {
    const auto space = args.find(' ');
    const std::string_view slot_text = args.substr(0, space);
    const std::string_view text = space == std::string_view::npos ? std::string_view{} : args.substr(space + 1);
    int slot = 0;
    const auto [end, ec] = std::from_chars(slot_text.data(), slot_text.data() + slot_text.size(), slot);
    if (ec != std::errc{} || end != slot_text.data() + slot_text.size() || slot < -1) {
        return "error: send needs a slot (-1: every worker) and the message\n";
    }
    if (text.size() > worker::max_message) {
        return "error: message too large (" + std::to_string(text.size()) + " bytes; at most " +
               std::to_string(worker::max_message) + ")\n";
    }
    const auto out = relay.relay(-1, slot, text, receives);
    if (out.delivered == 0 && out.dropped == 0) {
        return slot < 0 ? std::string{"error: no worker receives messages\n"}
                        : "error: no worker serves slot " + std::to_string(slot) + "\n";
    }
    std::string reply = "sent to " + std::to_string(out.delivered) + " worker" + (out.delivered == 1 ? "" : "s");
    if (out.dropped != 0) {
        reply += "; " + std::to_string(out.dropped) + " dropped (channel full)";
    }
    return reply + "\n";
}

}  // namespace pfd::server
