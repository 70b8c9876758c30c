#pragma once
// What a worker asks of io_uring, and how a completion says what it was for: every
// submission the event loop makes goes through `submit`, so each operation is prepared
// and tagged in one place.
//
// user_data layout: bits 0-7 the operation, 8-39 the connection slot, 40-63 the slot's
// generation (low 24 bits), so a completion for a slot that was closed and reused is
// recognised as stale.
#include <liburing.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <cstdint>
#include <span>

#include "worker/ring.hpp"

namespace pfd::worker {

enum class op : std::uint8_t {
    accept = 1, recv, send, close, cancel, signal, tick, rebalance,
    splice_in,    // a file range into the connection's pipe
    file_check,   // the file's size and mtime, before what the pipe holds is sent
    file_wait,    // the socket has room again for the pipe's bytes (spliced on the loop thread)
    wake,         // the offload pool's eventfd: completions to run
    message,      // the message channel from the master: a message for the modules, or a log file
    access_write, // the access log's buffer to its file
};

constexpr std::uint64_t encode(op o, std::uint32_t slot = 0, std::uint32_t gen = 0) noexcept {
    return static_cast<std::uint64_t>(o) | static_cast<std::uint64_t>(slot) << 8 |
           static_cast<std::uint64_t>(gen & 0xFFFFFFU) << 40;
}
constexpr op op_of(std::uint64_t d) noexcept { return static_cast<op>(d & 0xFF); }
constexpr std::uint32_t slot_of(std::uint64_t d) noexcept { return static_cast<std::uint32_t>(d >> 8); }
constexpr std::uint32_t gen_of(std::uint64_t d) noexcept { return static_cast<std::uint32_t>(d >> 40); }
// The generation as user_data carries it, to compare with a completion's.
constexpr std::uint32_t tagged_gen(std::uint32_t gen) noexcept { return gen & 0xFFFFFFU; }

class submit {
public:
    explicit submit(ring& r) noexcept : ring_{&r} {}

    void accept(int listen_fd, bool multishot) noexcept {
        io_uring_sqe* sqe = ring_->sqe();
        if (multishot) {
            io_uring_prep_multishot_accept(sqe, listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        } else {
            io_uring_prep_accept(sqe, listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
        }
        io_uring_sqe_set_data64(sqe, encode(op::accept));
    }
    // A receive into a buffer the kernel picks from `group`: one (up to `max_bytes`), or
    // one per arrival until cancelled (multishot).
    void recv(int fd, std::uint16_t group, bool multishot, unsigned max_bytes, std::uint64_t tag) noexcept {
        io_uring_sqe* sqe = ring_->sqe();
        if (multishot) {
            io_uring_prep_recv_multishot(sqe, fd, nullptr, 0, 0);
        } else {
            io_uring_prep_recv(sqe, fd, nullptr, max_bytes, 0);
        }
        sqe->flags |= IOSQE_BUFFER_SELECT;
        sqe->buf_group = group;
        io_uring_sqe_set_data64(sqe, tag);
    }
    void send(int fd, std::span<const char> bytes, std::uint64_t tag) noexcept {
        io_uring_sqe* sqe = ring_->sqe();
        io_uring_prep_send(sqe, fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        io_uring_sqe_set_data64(sqe, tag);
    }
    void close(int fd) noexcept {
        io_uring_sqe* sqe = ring_->sqe();
        io_uring_prep_close(sqe, fd);
        io_uring_sqe_set_data64(sqe, encode(op::close));
    }
    void cancel(std::uint64_t target) noexcept {
        io_uring_sqe* sqe = ring_->sqe();
        io_uring_prep_cancel64(sqe, target, 0);
        io_uring_sqe_set_data64(sqe, encode(op::cancel));
    }
    // in_offset -1: the pipe's (or socket's) own position.
    void splice(int in_fd, std::int64_t in_offset, int out_fd, unsigned bytes, unsigned flags, std::uint64_t tag) noexcept {
        io_uring_sqe* sqe = ring_->sqe();
        io_uring_prep_splice(sqe, in_fd, in_offset, out_fd, -1, bytes, flags);
        io_uring_sqe_set_data64(sqe, tag);
    }
    // statx of an open file (size, mtime); `into` must stay valid until it completes.
    void fstatx(int fd, struct statx* into, std::uint64_t tag) noexcept {
        io_uring_sqe* sqe = ring_->sqe();
        io_uring_prep_statx(sqe, fd, "", AT_EMPTY_PATH, STATX_SIZE | STATX_MTIME, into);
        io_uring_sqe_set_data64(sqe, tag);
    }
    void poll_out(int fd, std::uint64_t tag) noexcept {
        io_uring_sqe* sqe = ring_->sqe();
        io_uring_prep_poll_add(sqe, fd, POLLOUT);
        io_uring_sqe_set_data64(sqe, tag);
    }
    // A receive into our own buffer (one packet of a SOCK_SEQPACKET socket).
    void recv_into(int fd, void* into, unsigned bytes, std::uint64_t tag) noexcept {
        io_uring_sqe* sqe = ring_->sqe();
        io_uring_prep_recv(sqe, fd, into, bytes, 0);
        io_uring_sqe_set_data64(sqe, tag);
    }
    // One packet and the descriptors it carries (SCM_RIGHTS); `m` must stay valid until
    // it completes.
    void recvmsg(int fd, msghdr* m, std::uint64_t tag) noexcept {
        io_uring_sqe* sqe = ring_->sqe();
        io_uring_prep_recvmsg(sqe, fd, m, MSG_CMSG_CLOEXEC);
        io_uring_sqe_set_data64(sqe, tag);
    }
    // At the file's own position (an O_APPEND file: its end; a pipe: the only one).
    void write(int fd, std::span<const char> bytes, std::uint64_t tag) noexcept {
        io_uring_sqe* sqe = ring_->sqe();
        io_uring_prep_write(sqe, fd, bytes.data(), static_cast<unsigned>(bytes.size()), static_cast<__u64>(-1));
        io_uring_sqe_set_data64(sqe, tag);
    }
    void read(int fd, void* into, unsigned bytes, std::uint64_t tag) noexcept {
        io_uring_sqe* sqe = ring_->sqe();
        io_uring_prep_read(sqe, fd, into, bytes, 0);
        io_uring_sqe_set_data64(sqe, tag);
    }
    // `after` must stay valid until the timeout completes.
    void timeout(__kernel_timespec* after, std::uint64_t tag) noexcept {
        io_uring_sqe* sqe = ring_->sqe();
        io_uring_prep_timeout(sqe, after, 0, 0);
        io_uring_sqe_set_data64(sqe, tag);
    }

private:
    ring* ring_;
};

}  // namespace pfd::worker
