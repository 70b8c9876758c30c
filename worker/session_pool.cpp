#include "worker/session_pool.hpp"

#include <algorithm>

#include "worker/memory_return.hpp"

namespace pfd::worker {

std::unique_ptr<session> session_pool::acquire() noexcept {
    peak_ = std::max(peak_, ++in_use_);
    if (idle_.empty()) {
        return std::make_unique<session>(*ctx_, limits_);
    }
    std::unique_ptr<session> s = std::move(idle_.back());
    idle_.pop_back();
    return s;
}

void session_pool::release(std::unique_ptr<session> s, bool slow_reader) noexcept {
    if (s == nullptr) {
        return;
    }
    --in_use_;
    {
        const decommit_scope now{slow_reader};
        s->reset(keep_capacity_);
    }
    idle_.push_back(std::move(s));
}

void session_pool::trim(std::size_t held_by_idle) noexcept {
    const std::size_t busy_peak = peak_ - std::min(peak_, held_by_idle);
    const std::size_t spare = busy_peak - std::min(busy_peak, in_use_);
    if (idle_.size() > spare) {
        const decommit_scope now{true, true};
        idle_.resize(spare);
        if (idle_.capacity() > 2 * spare + 64) {
            idle_.shrink_to_fit();
        }
    }
    peak_ = in_use_;
}

}  // namespace pfd::worker
