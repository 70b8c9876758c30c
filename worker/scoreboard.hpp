#pragma once
// Shared memory between the master and its workers, one slot per worker process,
// created by the master before it forks. A worker writes only its own slot, with
// relaxed atomics from its event loop; the master only reads. Nothing on the request
// path waits for the master.
#include <sys/mman.h>

#include <atomic>
#include <cstdint>
#include <ctime>
#include <utility>

#include "base/clock.hpp"
#include "base/result.hpp"

namespace pfd::worker {

enum class worker_state : std::uint8_t {
    empty,     // slot unused
    starting,  // forked, setting up its ring
    ready,     // accepting
    draining,  // stopped accepting; finishing what is in flight
    exiting,
};

struct alignas(64) worker_stats {
    std::atomic<std::int32_t> pid{0};
    std::atomic<std::uint32_t> slot{0};
    std::atomic<std::uint32_t> generation{0};
    std::atomic<worker_state> state{worker_state::empty};
    std::atomic<std::uint64_t> start_unix_ms{0};
    std::atomic<std::uint64_t> heartbeat_ms{0};  // CLOCK_MONOTONIC, updated every loop tick
    std::atomic<std::uint64_t> requests{0};
    std::atomic<std::uint64_t> bytes_in{0};
    std::atomic<std::uint64_t> bytes_out{0};
    std::atomic<std::uint64_t> accepted{0};
    std::atomic<std::uint32_t> active{0};
    // Until the worker has closed its copy of the listening socket (when it drains): a
    // reuseport socket of a removed slot stays in the kernel's group until then.
    std::atomic<bool> holds_listener{false};

    // Single writer: a load and a store, no locked read-modify-write on the hot path.
    template <class T>
    static void add(std::atomic<T>& a, T n) noexcept {
        a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }
};

class scoreboard {
public:
    static result<scoreboard> create(std::size_t slots) noexcept {
        const std::size_t bytes = slots * sizeof(worker_stats);
        void* mem = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED) {
            return fail(errno, "mmap(scoreboard)");
        }
        auto* stats = static_cast<worker_stats*>(mem);
        for (std::size_t i = 0; i < slots; ++i) {
            new (&stats[i]) worker_stats{};
        }
        return scoreboard{stats, slots};
    }

    scoreboard(scoreboard&& o) noexcept : stats_{std::exchange(o.stats_, nullptr)}, size_{o.size_} {}
    scoreboard& operator=(scoreboard&&) = delete;
    scoreboard(const scoreboard&) = delete;
    scoreboard& operator=(const scoreboard&) = delete;
    ~scoreboard() {
        if (stats_ != nullptr) {
            ::munmap(stats_, size_ * sizeof(worker_stats));
        }
    }

    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] worker_stats& operator[](std::size_t i) noexcept { return stats_[i]; }
    [[nodiscard]] const worker_stats& operator[](std::size_t i) const noexcept { return stats_[i]; }

private:
    scoreboard(worker_stats* s, std::size_t n) noexcept : stats_{s}, size_{n} {}
    worker_stats* stats_;
    std::size_t size_;
};

}  // namespace pfd::worker
