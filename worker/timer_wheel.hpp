#pragma once
// Deadlines for every connection of a worker at tick granularity: arming, moving and
// cancelling a deadline are O(1) list operations with no allocation, and the worker
// needs one kernel timeout per tick however many connections it holds.
//
// Moving a deadline later (what a busy keep-alive connection does on every request)
// only stores it: the node stays in the bucket of its earlier deadline and is moved
// when that bucket comes round. A deadline moved earlier is re-linked at once.
#include <cstdint>
#include <limits>
#include <vector>

namespace pfd::worker {

class timer_wheel {
public:
    using tick_t = std::uint64_t;

    // ids are 0..capacity-1 (connection slots); slots must be a power of two.
    timer_wheel(std::uint32_t capacity, std::uint32_t slots)
        : nodes_(capacity), heads_(slots, none), mask_{slots - 1} {
        due_.reserve(capacity);
        later_.reserve(capacity);
    }

    // Sets (or moves) id's deadline: it fires at the first advance() to deadline or later.
    void arm(std::uint32_t id, tick_t deadline) noexcept {
        if (deadline <= now_) {
            deadline = now_ + 1;   // the bucket for now_ has already been walked
        }
        node& n = nodes_[id];
        if (n.armed && n.linked_at <= deadline) {
            n.deadline = deadline;   // later: looked at again when linked_at comes round
            return;
        }
        disarm(id);
        n.deadline = deadline;
        n.armed = true;
        link(id, deadline);
    }

    void disarm(std::uint32_t id) noexcept {
        node& n = nodes_[id];
        if (!n.armed) {
            return;
        }
        unlink(id);
        n.armed = false;
    }

    [[nodiscard]] bool armed(std::uint32_t id) const noexcept { return nodes_[id].armed; }
    [[nodiscard]] tick_t now() const noexcept { return now_; }

    // Moves time forward to `now`, calling fire(id) for every deadline reached, after
    // unlinking it (fire may arm it again).
    template <class Fire>
    void advance(tick_t now, Fire&& fire) {
        if (now <= now_) {
            return;
        }
        // Each bucket needs walking once even after a long stall.
        const tick_t last = now;
        tick_t t = now - now_ > heads_.size() ? now - heads_.size() + 1 : now_ + 1;
        now_ = now;
        due_.clear();
        later_.clear();
        for (; t <= last; ++t) {
            for (std::uint32_t id = heads_[bucket(t)]; id != none; id = nodes_[id].next) {
                const node& n = nodes_[id];
                if (n.linked_at <= now) {
                    (n.deadline <= now ? due_ : later_).push_back(id);
                }
            }
        }
        for (std::uint32_t id : later_) {   // deadlines moved later since they were linked
            unlink(id);
            link(id, nodes_[id].deadline);
        }
        for (std::uint32_t id : due_) {
            disarm(id);
        }
        for (std::uint32_t id : due_) {
            fire(id);
        }
    }

private:
    static constexpr std::uint32_t none = std::numeric_limits<std::uint32_t>::max();
    struct node {
        std::uint32_t prev = none;
        std::uint32_t next = none;
        tick_t deadline = 0;    // when it fires
        tick_t linked_at = 0;   // the tick whose bucket holds it (<= deadline)
        bool armed = false;
    };
    [[nodiscard]] std::size_t bucket(tick_t t) const noexcept { return static_cast<std::size_t>(t & mask_); }

    void link(std::uint32_t id, tick_t at) noexcept {
        node& n = nodes_[id];
        n.linked_at = at;
        const auto b = bucket(at);
        n.prev = none;
        n.next = heads_[b];
        if (n.next != none) {
            nodes_[n.next].prev = id;
        }
        heads_[b] = id;
    }

    void unlink(std::uint32_t id) noexcept {
        node& n = nodes_[id];
        if (n.prev != none) {
            nodes_[n.prev].next = n.next;
        } else {
            heads_[bucket(n.linked_at)] = n.next;
        }
        if (n.next != none) {
            nodes_[n.next].prev = n.prev;
        }
    }

    std::vector<node> nodes_;
    std::vector<std::uint32_t> heads_;
    std::vector<std::uint32_t> due_;
    std::vector<std::uint32_t> later_;
    tick_t mask_;
    tick_t now_ = 0;
};

}  // namespace pfd::worker
