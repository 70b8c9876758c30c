#pragma once
// Shared memory between the master and its workers, one slot per worker process,
// created by the master before it forks. A worker writes only its own slot, with
// relaxed atomics from its event loop; the master only reads. Nothing on the request
// path waits for the master.
#include <sched.h>
#include <sys/mman.h>

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <type_traits>
#include <utility>
#include <vector>

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
    X(bytes_out, std::uint64_t, counter, "bytes_out", false, "Bytes written to clients.")                 \
    X(status_1xx, std::uint64_t, counter, "status_1xx", false, "Requests answered 1xx.")                 \
    X(status_2xx, std::uint64_t, counter, "status_2xx", false, "Requests answered 2xx.")                 \
    X(status_3xx, std::uint64_t, counter, "status_3xx", false, "Requests answered 3xx.")                 \
    X(status_4xx, std::uint64_t, counter, "status_4xx", false, "Requests answered 4xx.")                 \
    X(status_5xx, std::uint64_t, counter, "status_5xx", false, "Requests answered 5xx.")

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

// Upper bounds (µs) of the request-duration histogram's buckets; one more bucket, +Inf,
// follows the last. Prometheus' `le` labels are these in seconds.
inline constexpr std::array<std::uint64_t, 14> duration_bounds_us{
    100, 250, 500, 1'000, 2'500, 5'000, 10'000, 25'000, 50'000, 100'000, 250'000, 1'000'000, 2'500'000, 10'000'000};
inline constexpr std::size_t duration_buckets = duration_bounds_us.size() + 1;

// A plain copy of one worker's duration histogram.
struct duration_histogram {
    std::array<std::uint64_t, duration_buckets> count{};   // per bucket, not cumulative
    std::uint64_t sum_us = 0;
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
    std::atomic<std::uint64_t> status_1xx{0};
    std::atomic<std::uint64_t> status_2xx{0};
    std::atomic<std::uint64_t> status_3xx{0};
    std::atomic<std::uint64_t> status_4xx{0};
    std::atomic<std::uint64_t> status_5xx{0};
    std::atomic<std::uint32_t> active{0};
    // Until the worker has closed its copy of the listening socket (when it drains): a
    // reuseport socket of a removed slot stays in the kernel's group until then.
    std::atomic<bool> holds_listener{false};
    // 1 + the index, in the configuration's [[route]] list, of the module route whose code
    // runs on the loop thread now (0: none): a crash is logged with its route and module.
    std::atomic<std::uint32_t> in_module{0};
    // How long requests took, from their head to their answer complete in the output:
    // counts per bucket of duration_bounds_us (not cumulative; the last is +Inf), and the sum.
    std::array<std::atomic<std::uint64_t>, duration_buckets> duration_count{};
    std::atomic<std::uint64_t> duration_sum_us{0};
    // Sampled by the master from /proc once a second (server/status_sampler.cpp), not by
    // the worker: what every exporter reports, so no scrape opens /proc, and the CPU time
    // folded into the slot's totals at exit is exactly the last reported (the counter
    // never goes back). On their own cache line: the master writes them.
    alignas(64) std::atomic<std::uint64_t> rss_bytes{0};
    std::atomic<std::uint64_t> cpu_ms{0};

    // Single writer: a load and a store, no locked read-modify-write on the hot path.
    template <class T>
    static void add(std::atomic<T>& a, T n) noexcept {
        a.store(a.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
    }

    // One request answered (whatever its status, error answers included): counted once,
    // by status class and duration.
    // Per request: a handful of instructions on the common path (2xx, under 100 µs).
    void record_answer(int status, std::uint64_t duration_us) noexcept {
        add(requests, std::uint64_t{1});
        add(status >= 200 && status < 300 ? status_2xx : status_class(status), std::uint64_t{1});
        std::size_t b = 0;
        if (duration_us > duration_bounds_us[0]) [[unlikely]] {
            while (b < duration_bounds_us.size() && duration_us > duration_bounds_us[b]) {
                ++b;
            }
        }
        add(duration_count[b], std::uint64_t{1});
        add(duration_sum_us, duration_us);
    }

    [[nodiscard]] std::atomic<std::uint64_t>& status_class(int status) noexcept {
        return status < 200 ? status_1xx : status < 300 ? status_2xx : status < 400 ? status_3xx
                                                       : status < 500 ? status_4xx : status_5xx;
    }

    // Zeroes every counter, before a new worker takes the slot.
    void reset_counters() noexcept {
#define PFD_COUNTER_RESET(name, type, kind, json, rate, help) name.store(0, std::memory_order_relaxed);
        PREFORKD_WORKER_COUNTERS(PFD_COUNTER_RESET)
#undef PFD_COUNTER_RESET
        for (auto& c : duration_count) {
            c.store(0, std::memory_order_relaxed);
        }
        duration_sum_us.store(0, std::memory_order_relaxed);
        rss_bytes.store(0, std::memory_order_relaxed);
        cpu_ms.store(0, std::memory_order_relaxed);
    }

    [[nodiscard]] duration_histogram durations() const noexcept {
        duration_histogram h;
        for (std::size_t i = 0; i < duration_buckets; ++i) {
            h.count[i] = duration_count[i].load(std::memory_order_relaxed);
        }
        h.sum_us = duration_sum_us.load(std::memory_order_relaxed);
        return h;
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

// Whether the server as a whole should be sent traffic: what /readyz answers.
enum class server_readiness : std::uint8_t {
    starting,  // the first generation is not ready yet
    ready,
    draining,  // a graceful stop or drain has begun: still serving, soon refusing
};

// Why a worker was replaced (preforkd_worker_restarts_total{reason}).
enum class restart_reason : std::uint8_t { crash, hang, recycle, reload, scale };
inline constexpr std::array<const char*, 5> restart_reason_names{"crash", "hang", "recycle", "reload", "scale"};
inline constexpr std::array<const char*, 3> readiness_names{"starting", "ready", "draining"};

// The master's part of the shared memory, before the workers' slots: written by the
// master only, read by the workers (readiness, metrics) and by the master's own exporter.
struct alignas(64) server_stats {
    std::atomic<std::uint64_t> start_unix_ms{0};
    std::atomic<std::uint32_t> config_generation{0};
    std::atomic<server_readiness> readiness{server_readiness::starting};
    std::array<std::atomic<std::uint64_t>, restart_reason_names.size()> restarts{};
    // The mapping describes itself: how many entries (and slot totals) follow, so the
    // master's exporter can find the whole board from this part.
    std::atomic<std::uint32_t> entries{0};
    // Odd while the master folds an exited worker into its slot's totals (a seqlock):
    // a reader that saw it change reads again, so no fold is missed or counted twice.
    std::atomic<std::uint64_t> fold_seq{0};
};

// What the exited workers of one slot did, summed: a slot's counters are these plus its
// live workers', so they never go back while the master lives. Written by the master
// only, inside fold_seq's odd phase.
struct alignas(64) slot_totals {
    std::array<std::atomic<std::uint64_t>, counter_count> counters{};   // counter_table's order; gauges stay 0
    std::array<std::atomic<std::uint64_t>, duration_buckets> duration_count{};
    std::atomic<std::uint64_t> duration_sum_us{0};
    std::atomic<std::uint64_t> cpu_ms{0};
    std::atomic<std::uint32_t> retired{0};   // workers folded in
};

// One slot, as a reader of the board sees it at one instant: its totals plus its live
// workers (two share a slot for a moment during a recycle or a reload).
struct slot_snapshot {
    std::array<std::uint64_t, counter_count> counters{};   // counter_table's order
    duration_histogram durations;
    std::uint64_t cpu_ms = 0;      // CPU time, as last sampled, of all its workers ever
    std::uint64_t rss_bytes = 0;   // of its live workers, as last sampled
    std::uint32_t live = 0;      // workers of the slot in the board now
    std::uint32_t retired = 0;   // workers of the slot folded into its totals
    [[nodiscard]] bool known() const noexcept { return live != 0 || retired != 0; }
};

struct live_worker {
    std::int32_t pid = 0;
    std::uint32_t slot = 0;
    worker_state state = worker_state::empty;
};

struct board_snapshot {
    std::vector<slot_snapshot> slots;   // by slot number, one per entry of the board
    std::vector<live_worker> workers;   // the entries in use, in entry order
};

class scoreboard {
public:
    // The mapping: server_stats, then one slot_totals per entry (slots never outnumber
    // entries), then the entries.
    static result<scoreboard> create(std::size_t entries) noexcept {
        void* mem = ::mmap(nullptr, bytes_for(entries), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (mem == MAP_FAILED) {
            return fail(errno, "mmap(scoreboard)");
        }
        auto* server = new (mem) server_stats{};
        server->entries.store(static_cast<std::uint32_t>(entries), std::memory_order_relaxed);
        auto* totals = totals_of(server);
        auto* stats = entries_of(server, entries);
        for (std::size_t i = 0; i < entries; ++i) {
            new (&totals[i]) slot_totals{};
            new (&stats[i]) worker_stats{};
        }
        return scoreboard{server, totals, stats, entries, true};
    }
    // A view of the board whose master's part is `server` (it does not unmap it): for
    // code that holds only that part.
    static scoreboard view_of(const server_stats& server) noexcept {
        auto* s = const_cast<server_stats*>(&server);
        const std::size_t n = s->entries.load(std::memory_order_relaxed);
        return scoreboard{s, totals_of(s), entries_of(s, n), n, false};
    }

    scoreboard(scoreboard&& o) noexcept
        : server_{std::exchange(o.server_, nullptr)}, totals_{std::exchange(o.totals_, nullptr)},
          stats_{std::exchange(o.stats_, nullptr)}, size_{o.size_}, owns_{o.owns_} {}
    scoreboard& operator=(scoreboard&&) = delete;
    scoreboard(const scoreboard&) = delete;
    scoreboard& operator=(const scoreboard&) = delete;
    ~scoreboard() {
        if (server_ != nullptr && owns_) {
            ::munmap(server_, bytes_for(size_));
        }
    }

    [[nodiscard]] std::size_t size() const noexcept { return size_; }
    [[nodiscard]] worker_stats& operator[](std::size_t i) noexcept { return stats_[i]; }
    [[nodiscard]] const worker_stats& operator[](std::size_t i) const noexcept { return stats_[i]; }
    [[nodiscard]] const slot_totals& totals(std::size_t slot) const noexcept { return totals_[slot]; }

    // A worker of `slot` has exited (reaped: its entry changes no more). Its counters
    // join the slot's totals and its entry is emptied and zeroed in one step, as seen by
    // readers (fold_seq), so a slot's counters never go back while the master lives.
    // Zeroing here, not only when the entry is next taken, means a reader that sees the
    // entry in use again can only see zeros from before the new worker counted.
    // The master only: one writer.
    void retire(std::size_t entry, unsigned slot) noexcept {
        if (entry >= size_ || slot >= size_) {
            return;
        }
        worker_stats& e = stats_[entry];
        slot_totals& t = totals_[slot];
        auto& seq = server_->fold_seq;
        const std::uint64_t s = seq.load(std::memory_order_relaxed);
        seq.store(s + 1, std::memory_order_relaxed);
        std::atomic_thread_fence(std::memory_order_release);   // odd before any total changes
        const auto values = e.counters().values();
        for (std::size_t i = 0; i < counter_count; ++i) {
            if (counter_table[i].kind == counter_kind::counter) {
                worker_stats::add(t.counters[i], values[i]);
            }
        }
        const duration_histogram h = e.durations();
        for (std::size_t i = 0; i < duration_buckets; ++i) {
            worker_stats::add(t.duration_count[i], h.count[i]);
        }
        worker_stats::add(t.duration_sum_us, h.sum_us);
        worker_stats::add(t.cpu_ms, e.cpu_ms.load(std::memory_order_relaxed));
        worker_stats::add(t.retired, std::uint32_t{1});
        e.reset_counters();
        e.state.store(worker_state::empty, std::memory_order_relaxed);
        seq.store(s + 2, std::memory_order_release);
    }

    // Every slot's totals plus its live workers, consistent with the folds: a fold is
    // either wholly before the snapshot or wholly after. Any process may call it.
    [[nodiscard]] board_snapshot snapshot() const {
        board_snapshot b;
        b.slots.resize(size_);
        b.workers.reserve(size_);
        // A fold takes well under a microsecond, and folds are rare (a worker exits), so a
        // read is retried only when one overlapped it. A read is never returned torn while
        // the master is making progress, however slow this thread is (a sanitizer build, a
        // reader preempted for seconds on a busy machine): the only way out without a clean
        // read is one fold that stays in progress for a whole second, which means a master
        // stopped mid-fold (a debugger, SIGSTOP). Then take what is there rather than hang
        // the caller's loop. The clock is read only while a fold is in progress, every 256
        // tries.
        constexpr std::uint64_t give_up_after_ms = 1'000;
        std::uint64_t stuck_seq = 0;   // the fold in progress the waits below belong to
        unsigned waits = 0;
        std::uint64_t deadline_ms = 0;
        for (;;) {
            const std::uint64_t before = server_->fold_seq.load(std::memory_order_acquire);
            if ((before & 1) != 0) {
                if (before != stuck_seq) {   // a new fold: the master is making progress
                    stuck_seq = before;
                    waits = 0;
                    deadline_ms = 0;
                }
                if (++waits % 256 == 0) {
                    const std::uint64_t now = monotonic_ms();
                    if (deadline_ms == 0) {
                        deadline_ms = now + give_up_after_ms;
                    } else if (now >= deadline_ms) {
                        break;
                    }
                }
                ::sched_yield();   // the master is in another process: let it finish
                continue;
            }
            read_into(b);
            std::atomic_thread_fence(std::memory_order_acquire);   // the reads above before the check
            if (server_->fold_seq.load(std::memory_order_relaxed) == before) {
                return b;
            }
        }
        read_into(b);
        return b;
    }

    [[nodiscard]] server_stats& server() noexcept { return *server_; }
    [[nodiscard]] const server_stats& server() const noexcept { return *server_; }

private:
    static std::size_t bytes_for(std::size_t entries) noexcept {
        return sizeof(server_stats) + entries * (sizeof(slot_totals) + sizeof(worker_stats));
    }
    static slot_totals* totals_of(server_stats* s) noexcept {
        return reinterpret_cast<slot_totals*>(reinterpret_cast<char*>(s) + sizeof(server_stats));
    }
    static worker_stats* entries_of(server_stats* s, std::size_t entries) noexcept {
        return reinterpret_cast<worker_stats*>(reinterpret_cast<char*>(totals_of(s)) + entries * sizeof(slot_totals));
    }
    scoreboard(server_stats* server, slot_totals* totals, worker_stats* s, std::size_t n, bool owns) noexcept
        : server_{server}, totals_{totals}, stats_{s}, size_{n}, owns_{owns} {}

    void read_into(board_snapshot& b) const noexcept {
        b.workers.clear();
        for (std::size_t i = 0; i < size_; ++i) {
            const slot_totals& t = totals_[i];
            slot_snapshot& s = b.slots[i];
            for (std::size_t c = 0; c < counter_count; ++c) {
                s.counters[c] = t.counters[c].load(std::memory_order_relaxed);
            }
            for (std::size_t k = 0; k < duration_buckets; ++k) {
                s.durations.count[k] = t.duration_count[k].load(std::memory_order_relaxed);
            }
            s.durations.sum_us = t.duration_sum_us.load(std::memory_order_relaxed);
            s.cpu_ms = t.cpu_ms.load(std::memory_order_relaxed);
            s.rss_bytes = 0;
            s.retired = t.retired.load(std::memory_order_relaxed);
            s.live = 0;
        }
        for (std::size_t i = 0; i < size_; ++i) {
            const worker_stats& e = stats_[i];
            const worker_state state = e.state.load(std::memory_order_relaxed);
            const std::uint32_t slot = e.slot.load(std::memory_order_relaxed);
            if (state == worker_state::empty || slot >= size_) {
                continue;
            }
            slot_snapshot& s = b.slots[slot];
            const auto values = e.counters().values();
            for (std::size_t c = 0; c < counter_count; ++c) {
                s.counters[c] += values[c];
            }
            const duration_histogram h = e.durations();
            for (std::size_t k = 0; k < duration_buckets; ++k) {
                s.durations.count[k] += h.count[k];
            }
            s.durations.sum_us += h.sum_us;
            s.cpu_ms += e.cpu_ms.load(std::memory_order_relaxed);
            s.rss_bytes += e.rss_bytes.load(std::memory_order_relaxed);
            ++s.live;
            b.workers.push_back({e.pid.load(std::memory_order_relaxed), slot, state});   // reserved: no allocation
        }
    }

    server_stats* server_;
    slot_totals* totals_;
    worker_stats* stats_;
    std::size_t size_;
    bool owns_;
};

}  // namespace pfd::worker
