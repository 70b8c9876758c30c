#pragma once
// A worker's io_uring event loop. One class, its concerns in separate files:
//   event_loop.cpp     the loop, completions' dispatch, accepting, signals, the tick, drain
//   connection_io.cpp  a connection's life: reads, deadlines, lingering close, close
//   send_path.cpp      answers going out: one send per connection per batch, backpressure
//   file_send.cpp      file ranges of answers: spliced from the file to the socket
//   wake.cpp           output that comes outside a read: deferred answers, offloaded work
//   messages.cpp       messages between workers, from the master to the module routes
// What answers a request lives behind the handler seam (handlers/); the session
// (worker/session.*) turns bytes into requests and answers without any I/O.
#include <sys/signalfd.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "base/unique_fd.hpp"
#include "handlers/route_table.hpp"
#include "proto/http_date.hpp"
#include "worker/accept_policy.hpp"
#include "worker/buffer_ring.hpp"
#include "worker/connection.hpp"
#include "worker/message_channel.hpp"
#include "worker/offload_pool.hpp"
#include "worker/ops.hpp"
#include "worker/ring.hpp"
#include "worker/scoreboard.hpp"
#include "worker/session_pool.hpp"
#include "worker/settings.hpp"
#include "worker/slot_list.hpp"
#include "worker/timer_wheel.hpp"

namespace pfd::worker {

inline constexpr std::uint16_t buffer_group = 0;
inline constexpr std::uint32_t recv_buffers = 512;       // power of two
inline constexpr std::uint32_t recv_buffer_size = 8192;
// A pooled session keeps its buffers unless one grew past this for a large response.
inline constexpr std::size_t keep_buffer_capacity = 64 * 1024;
// Idle sessions beyond the most in use at once over this many ticks are freed, so a burst
// of connections (or of clients that never read) leaves no pool of its size behind.
inline constexpr std::uint32_t session_trim_ticks = 10;
// Timer resolution: every deadline is rounded up to a tick; one kernel timeout per tick.
inline constexpr std::chrono::milliseconds tick_length{100};
// A timeout in ticks, rounded up: it never fires early.
constexpr timer_wheel::tick_t ticks(std::chrono::milliseconds d) noexcept {
    return static_cast<timer_wheel::tick_t>((d + tick_length - std::chrono::milliseconds{1}) / tick_length);
}
inline constexpr std::uint32_t wheel_slots = 1024;   // 102 s around the wheel; longer deadlines go round again
// How long a closing client may go on sending before we close regardless.
inline constexpr std::chrono::milliseconds linger_time{2'000};
// Graceful stop: how long an idle keep-alive connection stays open for a request already sent.
inline constexpr std::chrono::milliseconds drain_idle_grace{1'000};
// Under load a worker waits for several completions at once (at most this many, and
// at most half its connections), but never longer than batch_patience for them.
inline constexpr unsigned batch_wait_max = 16;
inline constexpr std::chrono::nanoseconds batch_patience{100'000};
// Responses queued or being sent on one connection before its input is no longer read
// (the client pipelines but does not read): reading resumes below half of it.
inline constexpr std::size_t max_pending_output = 256 * 1024;

class event_loop final : output_waker {
public:
    // board: every worker's entry and the master's; with shared_listener, the workers
    // on the same socket are peers in taking connections.
    event_loop(const settings& cfg, int listen_fd, ring r, unique_fd sig, worker_stats& stats, const scoreboard& board,
               bool shared_listener) noexcept;
    event_loop(const event_loop&) = delete;
    event_loop& operator=(const event_loop&) = delete;

    // The buffer ring registers with the ring where it now lives, so it comes second.
    result<bool> set_up_buffers() noexcept;
    // Kept out of worker::run: LTO inlined it there, so the hot loop was compiled as one
    // function with the worker's set-up and tear-down, and changed when they did (the offload
    // pool's larger destructor cost it 22 instructions a request: bench/README, Issue 17).
    [[gnu::noinline]] int run() noexcept;

private:
    // event_loop.cpp
    void dispatch(const io_uring_cqe& cqe) noexcept;
    [[nodiscard]] unsigned next_wait(unsigned seen, unsigned asked) const noexcept;
    void after_batch() noexcept;
    void on_accept(int res, unsigned flags) noexcept;
    void arm_accept() noexcept;
    void adopt(int fd) noexcept;
    void let_go_of_listener() noexcept;
    void on_signal(int res) noexcept;
    void arm_signal() noexcept;
    void on_tick() noexcept;
    void arm_tick() noexcept;
    void begin_drain() noexcept;
    // At exit: takes back the accept, waits (bounded) for the access log's write in
    // flight, then writes what is left of it.
    void release_listener_now() noexcept;

    // The access log (access_ set): its buffer written through the ring.
    void maybe_write_access() noexcept;
    void submit_access_write(std::span<const char> bytes) noexcept;
    void on_access_written(int res) noexcept;

    // connection_io.cpp
    void on_recv(std::uint32_t slot, std::uint32_t gen, int res, unsigned flags) noexcept;
    void arm_recv(std::uint32_t slot) noexcept;
    void cancel_recv(std::uint32_t slot) noexcept;
    void pause_input(std::uint32_t slot) noexcept;
    // What just moved on a connection: its input (restarts a body deadline) or its
    // output (restarts a send deadline; bytes the client sends do not, or a client that
    // writes but never reads would never be dropped).
    enum class progress : std::uint8_t { none, input, output };
    void refresh_timer(std::uint32_t slot, progress moved) noexcept;
    [[gnu::always_inline]] void set_deadline(std::uint32_t slot, timer_kind kind, timer_wheel::tick_t after) noexcept {
        conns_[slot].timer = kind;
        wheel_.arm(slot, wheel_.now() + after);
    }
    // Where the caller already knows what the connection waits for, without working it out
    // again as refresh_timer does: an answer going out.
    [[gnu::always_inline]] void wait_for_send(std::uint32_t slot) noexcept {
        set_deadline(slot, timer_kind::send, send_ticks_);
    }
    // An open connection with nothing in flight that has served a request: keepalive,
    // unless the drain shortens it.
    [[gnu::always_inline]] void wait_for_next_request(std::uint32_t slot) noexcept {
        if (draining_) [[unlikely]] {
            refresh_timer(slot, progress::none);
        } else if (conns_[slot].timer != timer_kind::keepalive) {
            set_deadline(slot, timer_kind::keepalive, keepalive_ticks_);
        }
    }
    void on_timeout(std::uint32_t slot) noexcept;
    void close_when_sent(std::uint32_t slot) noexcept;
    void begin_close(std::uint32_t slot) noexcept;
    void finish_close_if_done(std::uint32_t slot) noexcept;
    void release_session(connection& c) noexcept;
    std::size_t release_idle_sessions() noexcept;

    // send_path.cpp
    // To send for at the end of the batch (several times per request: inline).
    [[gnu::always_inline]] void queue_flush(std::uint32_t slot) noexcept {
        connection& c = conns_[slot];
        if (!c.flush_queued) {
            c.flush_queued = true;
            flush_list_.push(slot);
        }
    }
    void flush(std::uint32_t slot) noexcept;
    void all_sent(std::uint32_t slot) noexcept;
    // The next output op for what sending() holds; false if everything was sent. Inline:
    // the usual case (bytes only) is a few loads and one submission.
    [[gnu::always_inline]] bool send_next(std::uint32_t slot) noexcept {
        connection& c = conns_[slot];
        session& s = *c.sess;
        if (!s.sending_files().empty()) [[unlikely]] {
            return send_next_with_files(slot);
        }
        if (s.sending().empty()) {
            return false;
        }
        submit_.send(c.fd, s.sending().readable(), tag(op::send, slot));
        c.send_inflight = true;
        c.output_op = op::send;
        return true;
    }
    [[gnu::cold]] bool send_next_with_files(std::uint32_t slot) noexcept;
    void on_send(std::uint32_t slot, std::uint32_t gen, int res) noexcept;
    void output_moved(std::uint32_t slot) noexcept;

    // wake.cpp
    void output_ready(std::uint32_t slot) noexcept override;
    void arm_wake() noexcept;
    void on_wake(int res) noexcept;

    // messages.cpp
    void arm_messages() noexcept;
    void on_messages(int res) noexcept;
    void on_control(const control_record& rec, std::vector<unique_fd>& fds) noexcept;

    // file_send.cpp
    void splice_in(std::uint32_t slot) noexcept;
    void splice_out(std::uint32_t slot) noexcept;
    bool file_step_back(std::uint32_t slot, std::uint32_t gen, int res) noexcept;
    void on_splice_in(std::uint32_t slot, std::uint32_t gen, int res) noexcept;
    void on_file_check(std::uint32_t slot, std::uint32_t gen, int res) noexcept;
    void on_file_wait(std::uint32_t slot, std::uint32_t gen, int res) noexcept;

    [[nodiscard]] timer_wheel::tick_t now_tick() const noexcept;
    [[nodiscard]] bool stale(const connection& c, std::uint32_t gen) const noexcept {
        return c.state == conn_state::free || tagged_gen(c.generation) != gen;
    }
    [[nodiscard]] std::uint64_t tag(op o, std::uint32_t slot) const noexcept {
        return encode(o, slot, conns_[slot].generation);
    }

    worker_stats* stats_;
    // Before the ring, so it goes after it: the ring's receive writes into its buffer.
    // Before the routes: a module may send from init.
    message_channel messages_;
    ring ring_;
    submit submit_;
    std::optional<buffer_ring> bufs_;   // destroyed before ring_
    unique_fd signal_fd_;
    signalfd_siginfo siginfo_{};
    __kernel_timespec tick_{.tv_sec = 0, .tv_nsec = tick_length.count() * 1'000'000};
    int listen_fd_;

    timeouts timeouts_;
    timer_wheel::tick_t send_ticks_;        // timeouts_.send in ticks
    timer_wheel::tick_t keepalive_ticks_;   // timeouts_.keepalive in ticks
    std::unique_ptr<access_log> access_;   // [log] access; nullptr: off
    proto::date_cache date_;         // before routes_: file routes read it
    handlers::route_table routes_;   // its file routes use offload_ (only once the loop runs)
    serve_context ctx_;
    session_pool sessions_;

    std::vector<connection> conns_;
    timer_wheel wheel_;   // one deadline per connection slot
    std::uint64_t start_ms_;
    std::vector<std::uint32_t> free_slots_;
    std::uint32_t ticks_to_trim_ = session_trim_ticks;
    slot_list flush_list_;
    slot_list rearm_list_;
    std::uint32_t live_ = 0;

    accept_policy accepts_;
    bool accept_armed_ = false;
    bool rebalance_armed_ = false;  // paused over our share of connections: a short timer to look again
    __kernel_timespec rebalance_after_{.tv_sec = 0, .tv_nsec = 2'000'000};
    bool draining_ = false;
    bool stop_now_ = false;
    // Last, so it goes first: its threads stop (and what they were doing for handlers is
    // dropped) before sessions and routes go.
    offload_pool offload_;
    std::uint64_t wake_count_ = 0;
};

}  // namespace pfd::worker
