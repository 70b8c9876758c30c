#include "worker/ring.hpp"

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "base/log.hpp"

namespace pfd::worker {

result<ring> ring::create(unsigned sq_entries, unsigned cq_entries) noexcept {
    ring r;
    const unsigned wanted[] = {
        IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN | IORING_SETUP_CQSIZE |
            IORING_SETUP_SUBMIT_ALL,
        IORING_SETUP_COOP_TASKRUN | IORING_SETUP_CQSIZE,
        IORING_SETUP_CQSIZE,
    };
    int rc = -EINVAL;
    for (unsigned flags : wanted) {
        io_uring_params p{};
        p.flags = flags;
        p.cq_entries = cq_entries;
        rc = io_uring_queue_init_params(sq_entries, &r.ring_, &p);
        if (rc != -EINVAL) {
            break;
        }
    }
    if (rc < 0) {
        return fail(-rc, "io_uring_setup");
    }
    r.live_ = true;
    return r;
}

ring::ring(ring&& o) noexcept : ring_{o.ring_}, live_{o.live_} {
    o.live_ = false;
}

ring::~ring() {
    if (live_) {
        io_uring_queue_exit(&ring_);
    }
}

io_uring_sqe* ring::sqe_after_submit() noexcept {
    io_uring_submit(&ring_);
    io_uring_sqe* s = io_uring_get_sqe(&ring_);
    if (s == nullptr) {
        log_line("io_uring submission queue stuck full; aborting");
        std::abort();
    }
    return s;
}

}  // namespace pfd::worker
