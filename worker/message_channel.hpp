#pragma once
// A worker's end of its message channel: messages between workers, as Node's
// process.send / on('message'). A module's send_message goes to the master, which
// relays it to every worker of the current generation, or to one slot
// (server/messages.hpp); what comes back is handed to every module route's on_message
// on the loop thread (event_loop, messages.cpp).
//
// Why a socketpair per worker rather than the control socket: the control socket is
// for the CLI (one line in, one answer out, then closed; per-client deadlines; the
// peer is checked); a worker's messages go both ways at any time, and a
// SOCK_SEQPACKET pair keeps each message whole (no framing to parse, no partial
// reads), is private to one worker from fork on (nobody else can connect or speak for
// it), shows the master at once when its worker is gone, and its per-socket buffer is
// the bound: a full one fails a non-blocking send with EAGAIN, so neither a module nor
// the master ever waits for a slow reader.
#include <sys/socket.h>
#include <sys/uio.h>

#include <climits>
#include <cstdint>
#include <span>
#include <vector>

#include "base/unique_fd.hpp"
#include "handlers/module_route.hpp"

namespace pfd::worker {

// The largest message (PFD_E2BIG above): well under a socket's default send buffer
// (net.core.wmem_default, 208 KiB), so one always fits into an empty channel.
inline constexpr std::size_t max_message = 64 * 1024;

// Before every message on the wire. Worker to master: the slot to deliver to (< 0:
// every worker). Master to worker: the sender's slot (-1: `preforkd ctl send`). It
// also keeps an empty message from reading as the end of the channel.
struct message_header {
    std::int32_t slot;
};
inline constexpr std::size_t max_packet = sizeof(message_header) + max_message;

// Master to worker only: a packet whose header names this slot is no module message but
// a control record, with descriptors passed alongside (SCM_RIGHTS). Module messages
// carry a sender's slot (>= 0) or -1, never this.
inline constexpr std::int32_t control_slot = INT32_MIN;
enum class control_kind : std::uint32_t {
    // USR1: the log files, reopened by the master, in this order: the access log's
    // (carries_access_log), then the error log's (carries_error_log).
    reopen_logs = 1,
};
inline constexpr std::uint32_t carries_access_log = 1;
inline constexpr std::uint32_t carries_error_log = 2;
struct control_record {
    control_kind kind;
    std::uint32_t carries;   // which descriptors come with it
};
// Descriptors one packet may carry.
inline constexpr std::size_t max_passed_fds = 4;

class message_channel final : public handlers::message_sender {
public:
    // Takes `fd` (-1: no channel; send_message answers PFD_EINVAL).
    explicit message_channel(int fd) noexcept;

    [[nodiscard]] int send_message(int slot, std::span<const char> data) noexcept override;

    [[nodiscard]] int fd() const noexcept { return fd_.get(); }
    // Where a receive puts one packet: one byte more than the largest, to see an oversize one.
    [[nodiscard]] std::span<char> buffer() noexcept { return in_; }
    // The same as a recvmsg header, with room for passed descriptors (reset for each receive).
    [[nodiscard]] msghdr* prepare_receive() noexcept;
    // The descriptors the last receive brought (the caller owns them), at most max_passed_fds;
    // none if it failed (res, its result, <= 0).
    [[nodiscard]] std::vector<unique_fd> take_passed_fds(int res) noexcept;
    // The message a receive of `bytes` holds (empty, and false, if the packet is not one).
    [[nodiscard]] bool message(std::size_t bytes, std::span<const char>& out) const noexcept;
    // The control record a receive of `bytes` holds, if it is one.
    [[nodiscard]] bool control(std::size_t bytes, control_record& out) const noexcept;
    void close() noexcept { fd_.reset(); }

private:
    unique_fd fd_;
    std::vector<char> in_;
    iovec iov_{};
    msghdr msg_{};
    alignas(cmsghdr) char control_[CMSG_SPACE(sizeof(int) * max_passed_fds)]{};
};

}  // namespace pfd::worker
