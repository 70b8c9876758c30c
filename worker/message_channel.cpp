#include "worker/message_channel.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <preforkd/module.h>

#include "base/log.hpp"

namespace pfd::worker {

message_channel::message_channel(int fd) noexcept : fd_{fd} {
    if (fd_.valid()) {
        try {
            in_.resize(max_packet + 1);
        } catch (...) {
            fd_.reset();   // no room for what comes in: no channel
        }
    }
}

int message_channel::send_message(int slot, std::span<const char> data) noexcept {
    if (data.size() > max_message) {
        return PFD_E2BIG;
    }
    if (!fd_.valid()) {
        return PFD_EINVAL;
    }
    message_header h{slot < 0 ? -1 : slot};
    iovec parts[2] = {{&h, sizeof h}, {const_cast<char*>(data.data()), data.size()}};
    msghdr m{};
    m.msg_iov = parts;
    m.msg_iovlen = data.empty() ? 1 : 2;
    for (;;) {
        if (::sendmsg(fd_.get(), &m, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0) {
            return PFD_OK;
        }
        switch (errno) {
            case EINTR: continue;
            case EAGAIN:
            case ENOBUFS: return PFD_EFULL;       // the master has not read what is queued yet
            case EMSGSIZE: return PFD_E2BIG;      // a send buffer smaller than the default
            default: return PFD_EINVAL;           // EPIPE: the master is gone
        }
    }
}

msghdr* message_channel::prepare_receive() noexcept {
    iov_ = {in_.data(), in_.size()};
    msg_ = msghdr{};
    msg_.msg_iov = &iov_;
    msg_.msg_iovlen = 1;
    // Zeroed: a receive that fails leaves it untouched, and the last packet's
    // descriptors must never be read again from it.
    std::memset(control_, 0, sizeof control_);
    msg_.msg_control = control_;
    msg_.msg_controllen = sizeof control_;
    return &msg_;
}

std::vector<unique_fd> message_channel::take_passed_fds(int res) noexcept {
    std::vector<unique_fd> fds;
    if (res <= 0 || msg_.msg_controllen == 0) {
        msg_.msg_controllen = 0;   // the kernel wrote nothing: nothing came
        return fds;
    }
    if ((msg_.msg_flags & MSG_CTRUNC) != 0) {
        log_warn("message channel: descriptors passed by the master were cut short (MSG_CTRUNC)");
    }
    for (cmsghdr* c = CMSG_FIRSTHDR(&msg_); c != nullptr; c = CMSG_NXTHDR(&msg_, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
            continue;
        }
        const std::size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < n; ++i) {
            int fd = -1;
            std::memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof fd);
            try {
                fds.emplace_back(fd);
            } catch (...) {
                ::close(fd);
            }
        }
    }
    msg_.msg_controllen = 0;
    return fds;
}

bool message_channel::control(std::size_t bytes, control_record& out) const noexcept {
    if (bytes != sizeof(message_header) + sizeof(control_record)) {
        return false;
    }
    message_header h{};
    std::memcpy(&h, in_.data(), sizeof h);
    if (h.slot != control_slot) {
        return false;
    }
    std::memcpy(&out, in_.data() + sizeof h, sizeof out);
    return true;
}

bool message_channel::message(std::size_t bytes, std::span<const char>& out) const noexcept {
    if (bytes < sizeof(message_header) || bytes > max_packet) {
        out = {};
        return false;
    }
    message_header h{};
    std::memcpy(&h, in_.data(), sizeof h);
    if (h.slot == control_slot) {
        out = {};
        return false;   // not for the modules
    }
    out = std::span<const char>{in_}.subspan(sizeof(message_header), bytes - sizeof(message_header));
    return true;
}

}  // namespace pfd::worker
