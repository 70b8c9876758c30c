#pragma once
// An io_uring instance, created in the worker after fork().
#include <liburing.h>

#include "base/result.hpp"

namespace pfd::worker {

class ring {
public:
    // Asks for SINGLE_ISSUER and DEFER_TASKRUN, falling back where the kernel lacks them.
    static result<ring> create(unsigned sq_entries, unsigned cq_entries) noexcept;

    ring(ring&& o) noexcept;
    ring& operator=(ring&&) = delete;
    ring(const ring&) = delete;
    ring& operator=(const ring&) = delete;
    ~ring();

    [[nodiscard]] io_uring* get() noexcept { return &ring_; }
    [[nodiscard]] unsigned setup_flags() const noexcept { return ring_.flags; }

    // A free submission entry; submits what is queued when the queue is full.
    // Inline: every submission takes one (GCC's LTO stops inlining it once the binary grows).
    [[gnu::always_inline]] io_uring_sqe* sqe() noexcept {
        io_uring_sqe* s = io_uring_get_sqe(&ring_);
        return s != nullptr ? s : sqe_after_submit();
    }

private:
    ring() = default;
    io_uring_sqe* sqe_after_submit() noexcept;   // the queue was full
    io_uring ring_{};
    bool live_ = false;
};

}  // namespace pfd::worker
