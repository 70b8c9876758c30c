#include "worker/message_channel.hpp"

#include <sys/socket.h>
#include <sys/uio.h>

#include <cerrno>
#include <cstring>

#include <preforkd/module.h>

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

bool message_channel::message(std::size_t bytes, std::span<const char>& out) const noexcept {
    if (bytes < sizeof(message_header) || bytes > max_packet) {
        out = {};
        return false;
    }
    out = std::span<const char>{in_}.subspan(sizeof(message_header), bytes - sizeof(message_header));
    return true;
}

}  // namespace pfd::worker
