#pragma once
// Sessions for the connections that have a request in progress, or had one within the
// last trim period. A steady load reuses the same sessions; what a burst left behind is
// freed within two trims.
#include <cstddef>
#include <memory>
#include <vector>

#include "worker/session.hpp"

namespace pfd::worker {

class session_pool {
public:
    // keep_capacity: a returned session keeps buffers up to this size (larger ones grew
    // for one big answer and are freed).
    session_pool(const serve_context& ctx, proto::parser_limits limits, std::size_t keep_capacity) noexcept
        : ctx_{&ctx}, limits_{limits}, keep_capacity_{keep_capacity} {}

    std::unique_ptr<session> acquire() noexcept;
    // slow_reader: the session served a client that did not read; what it held goes back
    // to the kernel at once.
    void release(std::unique_ptr<session> s, bool slow_reader) noexcept;
    // Frees idle sessions beyond the most in use at once since the last trim, not
    // counting `held_by_idle` of them: those were given back by idle connections just
    // now, and a connection that stays idle should not keep one alive in the pool.
    void trim(std::size_t held_by_idle = 0) noexcept;
    [[nodiscard]] std::size_t keep_capacity() const noexcept { return keep_capacity_; }
    [[nodiscard]] std::size_t in_use() const noexcept { return in_use_; }

private:
    const serve_context* ctx_;
    proto::parser_limits limits_;
    std::size_t keep_capacity_;
    std::vector<std::unique_ptr<session>> idle_;   // in use, a connection owns its session
    std::size_t in_use_ = 0;
    std::size_t peak_ = 0;   // most in use at once since the last trim
};

}  // namespace pfd::worker
