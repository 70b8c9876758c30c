#pragma once
// Shared memory between the master and its workers, one slot per worker process,
// created by the master before it forks. A worker writes only its own slot, with
// relaxed atomics from its event loop; the master only reads. Nothing on the request
// path waits for the master.
#include <sys/mman.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <type_traits>
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

enum class counter_kind : std::uint8_t {
    counter,  // only grows while the worker lives
    gauge,    // goes up and down
};

// The worker's counters, described once: reset, snapshot, the status JSON and table
// (server/status.cpp) and any exporter iterate over this list, in its order (the JSON's).
// X(member of worker_stats, its value type, kind, JSON key, rate, help text)
// rate: the status also reports <JSON key>_per_s over the last 10 s.
// Adding a counter: a member in worker_stats (where it belongs in the layout) and a
// line here; the static_asserts below fail until both exist.
#define PREFORKD_WORKER_COUNTERS(X)                                                                       \
    X(requests, std::uint64_t, counter, "requests", true, "Requests answered.")                         \
    X(active, std::uint32_t, gauge, "active_connections", false, "Connections open now.")              \
    X(accepted, std::uint64_t, counter, "accepted_connections", false, "Connections accepted.")        \
    X(bytes_in, std::uint64_t, counter, "bytes_in", false, "Bytes read from clients.")                 \
    X(bytes_out, std::uint64_t, counter, "bytes_out", false, "Bytes written to clients.")

struct counter_info {
    const char* member;  // also the exporter's metric name
    counter_kind kind;
    const char* json;
    bool rate;
    const char* help;
};

// Index of each counter in counter_table and in worker_counters::values().
enum class counter : std::size_t {
#define PFD_COUNTER_ENUM(name, type, kind, json, rate, help) name,
    PREFORKD_WORKER_COUNTERS(PFD_COUNTER_ENUM)
#undef PFD_COUNTER_ENUM
};

inline constexpr std::array counter_table{
#define PFD_COUNTER_INFO(name, type, kind, json, rate, help) counter_info{#name, counter_kind::kind, json, rate, help},
    PREFORKD_WORKER_COUNTERS(PFD_COUNTER_INFO)
#undef PFD_COUNTER_INFO
};
inline constexpr std::size_t counter_count = counter_table.size();

[[nodiscard]] constexpr std::size_t index(counter c) noexcept { return static_cast<std::size_t>(c); }

// A plain copy of one worker's counters, taken by the master.
struct worker_counters {
#define PFD_COUNTER_FIELD(name, type, kind, json, rate, help) type name = 0;
    PREFORKD_WORKER_COUNTERS(PFD_COUNTER_FIELD)
#undef PFD_COUNTER_FIELD

    // In counter_table's order, widened to one type for code that iterates.
    [[nodiscard]] constexpr std::array<std::uint64_t, counter_count> values() const noexcept {
        return {
#define PFD_COUNTER_VALUE(name, type, kind, json, rate, help) std::uint64_t{name},
            PREFORKD_WORKER_COUNTERS(PFD_COUNTER_VALUE)
#undef PFD_COUNTER_VALUE
        };
    }
};

// The members keep their declared order, not the list's: the hot ones share the
// slot's first cache line.
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
    // 1 + the index, in the configuration's [[route]] list, of the module route whose code
    // runs on the loop thread now (0: none): a crash is logged with its route and module.
    std::atomic<std::uint32_t> in_module{0};

    // Single writer: a load and a store, no locked read-modify-write on the hot path.
    template <class T>
    static void add(std::atomic<T>& a, T n) noexcept {
        a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }

    // Zeroes every counter, before a new worker takes the slot.
    void reset_counters() noexcept {
#define PFD_COUNTER_RESET(name, type, kind, json, rate, help) name.store(0, std::memory_order_relaxed);
        PREFORKD_WORKER_COUNTERS(PFD_COUNTER_RESET)
#undef PFD_COUNTER_RESET
    }

    [[nodiscard]] worker_counters counters() const noexcept {
        worker_counters c;
#define PFD_COUNTER_LOAD(name, type, kind, json, rate, help) c.name = name.load(std::memory_order_relaxed);
        PREFORKD_WORKER_COUNTERS(PFD_COUNTER_LOAD)
#undef PFD_COUNTER_LOAD
        return c;
    }
};

// Each listed counter is a member of the type it says...
#define PFD_COUNTER_TYPE(name, type, kind, json, rate, help)                      \
    static_assert(std::is_same_v<decltype(worker_stats::name), std::atomic<type>>, \
                  #name ": its type differs from the list's");
PREFORKD_WORKER_COUNTERS(PFD_COUNTER_TYPE)
#undef PFD_COUNTER_TYPE
// ...and the counters fill the block from `requests` to `holds_listener` with nothing
// left out: a member added there without a line in the list fails here.
#define PFD_COUNTER_SIZE(name, type, kind, json, rate, help) +sizeof(std::atomic<type>)
inline constexpr std::size_t listed_counter_bytes = 0 PREFORKD_WORKER_COUNTERS(PFD_COUNTER_SIZE);
#undef PFD_COUNTER_SIZE
static_assert(offsetof(worker_stats, holds_listener) - offsetof(worker_stats, requests) == listed_counter_bytes,
              "a member between requests and holds_listener is missing from PREFORKD_WORKER_COUNTERS");
static_assert(offsetof(worker_stats, accepted) + sizeof(worker_stats::accepted) <= 64,
              "the counters written per request and per accept stay in the slot's first cache line");

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
