#include "worker/worker.hpp"

#include <fcntl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <ctime>
#include <memory>
#include <optional>
#include <vector>

#include "base/log.hpp"
#include "base/unique_fd.hpp"
#include "worker/buffer_ring.hpp"
#include "worker/connection.hpp"
#include "worker/ring.hpp"
#include "worker/timer_wheel.hpp"

// mimalloc is linked into the executable, not into this library (the unit tests link the
// worker without it): its functions are weak references, null where it is absent.
#include <mimalloc.h>
#pragma weak mi_collect
#pragma weak mi_option_get
#pragma weak mi_option_set

namespace pfd::worker {

namespace {

// user_data layout: bits 0-7 the operation, 8-39 the connection slot,
// 40-63 the slot's generation (low 24 bits), so a completion for a slot that was
// closed and reused is recognised as stale.
enum class op : std::uint8_t { accept = 1, recv, send, shutdown, close, cancel, signal, tick, rebalance };

constexpr std::uint64_t encode(op o, std::uint32_t slot = 0, std::uint32_t gen = 0) noexcept {
    return static_cast<std::uint64_t>(o) | static_cast<std::uint64_t>(slot) << 8 |
           static_cast<std::uint64_t>(gen & 0xFFFFFFU) << 40;
}
constexpr op op_of(std::uint64_t d) noexcept { return static_cast<op>(d & 0xFF); }
constexpr std::uint32_t slot_of(std::uint64_t d) noexcept { return static_cast<std::uint32_t>(d >> 8); }
constexpr std::uint32_t gen_of(std::uint64_t d) noexcept { return static_cast<std::uint32_t>(d >> 40); }

constexpr unsigned sq_entries = 1024;
constexpr unsigned cq_entries = 8192;
constexpr std::uint16_t buffer_group = 0;
constexpr std::uint32_t recv_buffers = 512;       // power of two
constexpr std::uint32_t recv_buffer_size = 8192;
// A pooled session keeps its buffers unless one grew past this for a large response.
constexpr std::size_t keep_buffer_capacity = 64 * 1024;
// Idle sessions beyond the most in use at once over this many ticks are freed, so a burst
// of connections (or of clients that never read) leaves no pool of its size behind.
constexpr std::uint32_t session_trim_ticks = 10;
// Timer resolution: every deadline is rounded up to a tick; one kernel timeout per tick.
constexpr std::chrono::milliseconds tick_length{100};
constexpr std::uint32_t wheel_slots = 1024;   // 102 s around the wheel; longer deadlines go round again
// How long a closing client may go on sending before we close regardless.
constexpr std::chrono::milliseconds linger_time{2'000};
// Graceful stop: how long an idle keep-alive connection stays open for a request already sent.
constexpr std::chrono::milliseconds drain_idle_grace{1'000};
// Under load a worker waits for several completions at once (at most this many, and
// at most half its connections), but never longer than batch_patience for them.
constexpr unsigned batch_wait_max = 16;
constexpr std::chrono::nanoseconds batch_patience{100'000};
// A multishot accept takes every queued connection at once; with fewer free connection
// slots than this, accepts go one at a time, so at max_connections the rest stay queued
// in the kernel instead of being accepted only to be closed.
constexpr std::size_t multishot_accept_min_free = 128;
// Responses queued or being sent on one connection before its input is no longer read
// (the client pipelines but does not read): reading resumes below half of it.
constexpr std::size_t max_pending_output = 256 * 1024;

// The most one request can add to a connection's output: its answer's headers (status
// line, Server, Date, Content-Type, Content-Length, Allow, Connection: about 230 bytes
// at most), a 100 Continue before it, and the largest body (error bodies are a reason
// phrase).
std::size_t max_answer_bytes(const std::vector<proto::route_spec>& routes) noexcept {
    constexpr std::size_t head_and_continue = 384;
    std::size_t body = 64;
    for (const auto& r : routes) {
        body = std::max(body, r.body.size() + r.content_type.size());
    }
    return head_and_continue + body;
}

// While one lives, memory freed goes back to the kernel at once. mimalloc 2.0 keeps freed
// spans committed for a delay and decommits them only when it next works in their
// segment, which a worker that has gone quiet never makes it do (not even mi_collect(true)
// does): the RSS a burst of slow readers left would stay. Used only for memory a slow
// reader held, so ordinary traffic keeps mimalloc's reuse of warm pages.
class decommit_scope {
public:
    // active: false makes it a no-op. collect: also free the pages that small objects
    // freed in the scope leave empty.
    explicit decommit_scope(bool active, bool collect = false) noexcept : collect_{collect} {
        if (active && mi_option_get != nullptr && mi_option_set != nullptr) {
            delay_ = mi_option_get(mi_option_decommit_delay);
            mi_option_set(mi_option_decommit_delay, 0);
        }
    }
    ~decommit_scope() {
        if (delay_ < 0) {
            return;
        }
        if (collect_ && mi_collect != nullptr) {
            mi_collect(false);
        }
        mi_option_set(mi_option_decommit_delay, delay_);
    }
    decommit_scope(const decommit_scope&) = delete;
    decommit_scope& operator=(const decommit_scope&) = delete;

private:
    bool collect_;
    long delay_ = -1;
};

timer_wheel::tick_t ticks(std::chrono::milliseconds d) noexcept {
    return static_cast<timer_wheel::tick_t>((d + tick_length - std::chrono::milliseconds{1}) / tick_length);
}

class event_loop {
public:
    event_loop(const settings& cfg, int listen_fd, ring r, unique_fd sig, worker_stats& stats,
               const scoreboard* peers) noexcept
        : stats_{&stats},
          peers_{peers},
          ring_{std::move(r)},
          signal_fd_{std::move(sig)},
          listen_fd_{listen_fd},
          limits_{cfg.parser_limits},
          timeouts_{cfg.timeouts},
          router_{cfg.routes},
          conns_(cfg.max_connections),
          wheel_{cfg.max_connections, wheel_slots},
          start_ms_{monotonic_coarse_ms()} {
        ctx_.router = &router_;
        ctx_.date = &date_;
        ctx_.stats = stats_;
        ctx_.max_requests_per_connection = cfg.max_requests_per_connection;
        ctx_.max_pending_output = max_pending_output;
        ctx_.max_answer_bytes = max_answer_bytes(cfg.routes);
        free_slots_.reserve(conns_.size());
        for (std::uint32_t i = static_cast<std::uint32_t>(conns_.size()); i-- > 0;) {
            free_slots_.push_back(i);
        }
        flush_list_.reserve(1024);
        rearm_list_.reserve(1024);
    }

    // The buffer ring registers with the ring where it now lives, so it comes second.
    result<bool> set_up_buffers() noexcept {
        auto b = buffer_ring::create(ring_.get(), buffer_group, recv_buffers, recv_buffer_size);
        if (!b) {
            return tl::unexpected(b.error());
        }
        bufs_.emplace(std::move(*b));
        return true;
    }

    int run() noexcept;

private:
    void dispatch(const io_uring_cqe& cqe) noexcept;
    void on_accept(int res, unsigned flags) noexcept;
    void adopt(int fd) noexcept;
    void let_go_of_listener() noexcept;
    void on_recv(std::uint32_t slot, std::uint32_t gen, int res, unsigned flags) noexcept;
    void on_send(std::uint32_t slot, std::uint32_t gen, int res) noexcept;
    void on_signal(int res) noexcept;
    void on_tick() noexcept;
    void after_batch() noexcept;
    [[nodiscard]] unsigned next_wait(unsigned seen, unsigned asked) const noexcept;

    void arm_accept() noexcept;
    [[nodiscard]] bool over_fair_share() const noexcept;
    void arm_recv(std::uint32_t slot) noexcept;
    void arm_signal() noexcept;
    void arm_tick() noexcept;
    void submit_send(std::uint32_t slot) noexcept;
    void cancel(std::uint64_t target) noexcept;

    void queue_flush(std::uint32_t slot) noexcept;
    void flush(std::uint32_t slot) noexcept;
    void close_when_sent(std::uint32_t slot) noexcept;
    void begin_close(std::uint32_t slot) noexcept;
    void finish_close_if_done(std::uint32_t slot) noexcept;
    void begin_drain() noexcept;

    // What just moved on a connection: its input (restarts a body deadline) or its
    // output (restarts a send deadline; bytes the client sends do not, or a client that
    // writes but never reads would never be dropped).
    enum class progress : std::uint8_t { none, input, output };
    void refresh_timer(std::uint32_t slot, progress moved) noexcept;
    void on_timeout(std::uint32_t slot) noexcept;
    [[nodiscard]] timer_wheel::tick_t now_tick() const noexcept {
        return (monotonic_coarse_ms() - start_ms_) / static_cast<std::uint64_t>(tick_length.count());
    }

    std::unique_ptr<session> acquire_session() noexcept;
    void release_session(connection& c) noexcept;
    void trim_sessions() noexcept;
    [[nodiscard]] bool stale(const connection& c, std::uint32_t gen) const noexcept {
        return c.state == conn_state::free || (c.generation & 0xFFFFFFU) != gen;
    }

    worker_stats* stats_;
    const scoreboard* peers_;   // shared mode: the other workers, for balancing accepts
    ring ring_;
    std::optional<buffer_ring> bufs_;   // destroyed before ring_
    unique_fd signal_fd_;
    signalfd_siginfo siginfo_{};
    __kernel_timespec tick_{.tv_sec = 0, .tv_nsec = tick_length.count() * 1'000'000};
    int listen_fd_;

    proto::parser_limits limits_;
    timeouts timeouts_;
    proto::router router_;
    proto::date_cache date_;
    serve_context ctx_;

    std::vector<connection> conns_;
    timer_wheel wheel_;   // one deadline per connection slot
    std::uint64_t start_ms_;
    std::vector<std::uint32_t> free_slots_;
    std::vector<std::unique_ptr<session>> idle_sessions_;   // in use, a connection owns its session
    std::size_t sessions_in_use_ = 0;
    std::size_t sessions_peak_ = 0;   // most in use at once since the last trim
    std::uint32_t ticks_to_trim_ = session_trim_ticks;
    std::vector<std::uint32_t> flush_list_;
    std::vector<std::uint32_t> rearm_list_;
    std::uint32_t live_ = 0;

    bool accept_armed_ = false;
    bool accept_backoff_ = false;   // accept failed for lack of resources: retry on the next tick
    log_limiter accept_errors_;
    bool rebalance_armed_ = false;  // paused over our share of connections: a short timer to look again
    __kernel_timespec rebalance_after_{.tv_sec = 0, .tv_nsec = 2'000'000};
    bool draining_ = false;
    bool stop_now_ = false;
};

// How many completions the next wait asks for. With DEFER_TASKRUN the kernel wakes
// the worker only once that many are queued (or the patience runs out), so a busy
// worker handles a batch per wake-up instead of a request or two: measured with
// wrk -t2 -c64 in reuseport mode, 0.54 -> 0.10 syscalls and 0.13 -> 0.05 context
// switches per request. The ask grows only while batches overflow it and shrinks as
// soon as a wait times out, so a lone or light client is never kept waiting.
unsigned event_loop::next_wait(unsigned seen, unsigned asked) const noexcept {
    const unsigned cap = std::min(batch_wait_max, live_ / 2);
    if (cap <= 1) {
        return 1;
    }
    unsigned next = asked;
    if (seen < asked) {
        next = std::max(1U, seen / 2);   // the patience ran out: ask for less
    } else if (seen >= 2 * asked + 2) {
        next = asked * 2;                // a surplus beyond what was asked: ask for more
    }
    return std::min(next, cap);
}

int event_loop::run() noexcept {
    arm_accept();
    arm_signal();
    arm_tick();
    stats_->heartbeat_ms.store(monotonic_ms(), std::memory_order_relaxed);
    stats_->state.store(worker_state::ready, std::memory_order_relaxed);
    unsigned wait_for = 1;
    // A draining worker leaves once its connections are done and it has let go of the
    // listening socket (which waits for its accept to come back cancelled).
    while (!stop_now_ && !(draining_ && live_ == 0 && listen_fd_ < 0)) {
        int rc = 0;
        if (wait_for > 1) {
            io_uring_cqe* first = nullptr;
            __kernel_timespec patience{.tv_sec = 0, .tv_nsec = batch_patience.count()};
            rc = io_uring_submit_and_wait_timeout(ring_.get(), &first, wait_for, &patience, nullptr);
        } else {
            rc = io_uring_submit_and_wait(ring_.get(), 1);
        }
        if (rc < 0 && rc != -EINTR && rc != -EAGAIN && rc != -EBUSY && rc != -ETIME) {
            log_line("io_uring_submit_and_wait failed: %s; exiting", std::strerror(-rc));
            return 1;
        }
        date_.refresh(unix_seconds_coarse());
        unsigned head = 0;
        unsigned seen = 0;
        io_uring_cqe* cqe = nullptr;
        io_uring_for_each_cqe(ring_.get(), head, cqe) {
            dispatch(*cqe);
            ++seen;
        }
        io_uring_cq_advance(ring_.get(), seen);
        bufs_->publish();
        after_batch();
        wait_for = next_wait(seen, wait_for);
    }
    stats_->state.store(worker_state::exiting, std::memory_order_relaxed);
    return 0;
}

void event_loop::dispatch(const io_uring_cqe& cqe) noexcept {
    const std::uint64_t d = cqe.user_data;
    switch (op_of(d)) {
        case op::accept: on_accept(cqe.res, cqe.flags); break;
        case op::recv: on_recv(slot_of(d), gen_of(d), cqe.res, cqe.flags); break;
        case op::send: on_send(slot_of(d), gen_of(d), cqe.res); break;
        case op::signal: on_signal(cqe.res); break;
        case op::tick: on_tick(); break;
        case op::rebalance: rebalance_armed_ = false; break;   // after_batch looks again
        case op::shutdown:
        case op::close:
        case op::cancel:
            break;
    }
}

void event_loop::on_accept(int res, unsigned flags) noexcept {
    if ((flags & IORING_CQE_F_MORE) == 0) {
        accept_armed_ = false;
    }
    if (res < 0) {
        switch (-res) {
            case ECANCELED:
            case ECONNABORTED:
            case EINTR:
            case EAGAIN:
                break;
            default:
                // EMFILE, ENFILE, ENOBUFS, ENOMEM: retrying at once would spin. Under fd
                // exhaustion this recurs every tick: one line, then a count per window.
                accept_errors_.log("accept failed: %s; retrying every 100 ms", std::strerror(-res));
                accept_backoff_ = true;
                break;
        }
    } else if (free_slots_.empty()) {
        // Accepted while the cancel of the accept was in flight, at the limit.
        ::close(res);
    } else {
        // Also when draining (the cancel was in flight): it is served, with Connection:
        // close, rather than reset a client that did nothing wrong.
        adopt(res);
        if (accept_armed_ && (over_fair_share() || free_slots_.size() < multishot_accept_min_free)) {
            // Let the other workers take the next connections from the shared queue, or,
            // near the connection limit, go on one accept at a time (after_batch), so
            // that at the limit connections wait in the kernel's queue.
            cancel(encode(op::accept));
        }
    }
    if (draining_ && !accept_armed_) {
        let_go_of_listener();   // the accept begin_drain cancelled is back
    }
}

void event_loop::adopt(int fd) noexcept {
    const std::uint32_t slot = free_slots_.back();
    free_slots_.pop_back();
    connection& c = conns_[slot];
    c.fd = fd;
    c.state = conn_state::open;
    ++live_;
    worker_stats::add(stats_->accepted, std::uint64_t{1});
    stats_->active.store(live_, std::memory_order_relaxed);
    arm_recv(slot);
    refresh_timer(slot, progress::none);
}

void event_loop::on_recv(std::uint32_t slot, std::uint32_t gen, int res, unsigned flags) noexcept {
    const bool has_buffer = (flags & IORING_CQE_F_BUFFER) != 0;
    const auto buffer_id = static_cast<std::uint16_t>(flags >> IORING_CQE_BUFFER_SHIFT);
    connection& c = conns_[slot];
    if (stale(c, gen)) {
        if (has_buffer) {
            bufs_->recycle(buffer_id);
        }
        return;
    }
    if ((flags & IORING_CQE_F_MORE) == 0) {
        c.recv_armed = false;
        c.recv_multishot = false;
    }
    if (res > 0) {
        worker_stats::add(stats_->bytes_in, static_cast<std::uint64_t>(res));
        // Calm: the socket is drained, and nothing we owe the client is waiting (the rest
        // of a request body may well come while it waits; a pipeline sent on top of
        // unread answers may not).
        if (static_cast<std::uint32_t>(res) < recv_buffer_size &&
            (c.sess == nullptr || (!c.sess->has_output() && !c.sess->backlogged()))) {
            c.calm_reads = static_cast<std::uint8_t>(std::min(c.calm_reads + 1, 255));
        } else {
            c.calm_reads = 0;
            if (c.recv_multishot) {
                // The client sends without waiting for answers: one buffer per batch.
                cancel(encode(op::recv, slot, c.generation));
                c.recv_multishot = false;
            }
        }
        // A lingering connection's input is read only to be dropped.
        if (c.state == conn_state::open) {
            if (c.sess == nullptr) {
                c.sess = acquire_session();
                c.sess->attach(c.requests);
            }
            c.sess->feed(bufs_->data(buffer_id, static_cast<std::size_t>(res)));
            queue_flush(slot);
            refresh_timer(slot, progress::input);
            if ((c.sess->backlogged() || c.sess->output_full()) && !c.input_paused) {
                // Backpressure: leave the rest in the kernel (TCP then stops the client)
                // until the client has read some of what it asked for. What this batch
                // still holds for the connection is kept unparsed (session::feed): the
                // output stays within max_pending_output plus one answer.
                c.input_paused = true;
                c.slow_reader = true;
                if (c.recv_armed) {
                    cancel(encode(op::recv, slot, c.generation));
                    c.recv_multishot = false;
                }
            }
        }
        if (has_buffer) {
            bufs_->recycle(buffer_id);
        }
    } else if (res == 0) {
        c.peer_eof = true;
        if (c.state == conn_state::lingering) {
            begin_close(slot);
        } else {
            queue_flush(slot);   // send what is queued, then close
        }
    } else if (res == -ENOBUFS) {
        // Every receive buffer was in use in this batch; they are back by the batch's end.
    } else if (res != -ECANCELED) {
        begin_close(slot);   // ECONNRESET and the like: nobody to answer
    }

    if (c.state == conn_state::closing) {
        finish_close_if_done(slot);
    } else if (!c.recv_armed && !c.peer_eof && !c.rearm_recv && !c.input_paused) {
        c.rearm_recv = true;
        rearm_list_.push_back(slot);
    }
}

void event_loop::on_send(std::uint32_t slot, std::uint32_t gen, int res) noexcept {
    connection& c = conns_[slot];
    if (stale(c, gen)) {
        return;
    }
    c.send_inflight = false;
    if (c.state == conn_state::closing) {
        finish_close_if_done(slot);
        return;
    }
    if (res < 0) {
        begin_close(slot);   // EPIPE, ECONNRESET: the client is gone
        return;
    }
    worker_stats::add(stats_->bytes_out, static_cast<std::uint64_t>(res));
    proto::byte_buffer& sending = c.sess->sending();
    sending.consume(static_cast<std::size_t>(res));
    if (c.slow_reader && sending.empty() && sending.capacity() > keep_buffer_capacity) {
        // It grew while the client did not read: hold only what is still to be sent.
        const decommit_scope now{true};
        sending.release();
    }
    if (c.input_paused && c.sess->output_bytes() <= max_pending_output / 2) {
        // Input read while the output was full is parsed first; reading resumes only
        // once all of it is answered with room to spare.
        c.sess->resume();
        if (!c.sess->backlogged() && !c.sess->output_full()) {
            c.input_paused = false;
            if (!c.recv_armed && !c.peer_eof) {
                arm_recv(slot);
            }
        }
    }
    if (!sending.empty()) {
        submit_send(slot);   // short send: the rest, before anything queued after it
        refresh_timer(slot, progress::output);
        return;
    }
    queue_flush(slot);
}

void event_loop::on_signal(int res) noexcept {
    if (res == static_cast<int>(sizeof siginfo_)) {
        switch (siginfo_.ssi_signo) {
            case SIGTERM:
            case SIGINT:
                stop_now_ = true;
                return;
            case SIGQUIT:
                begin_drain();
                break;
            default:
                break;
        }
    }
    arm_signal();
}

void event_loop::on_tick() noexcept {
    // The master kills a worker whose heartbeat stops (an endless loop, SIGSTOP).
    stats_->heartbeat_ms.store(monotonic_ms(), std::memory_order_relaxed);
    accept_backoff_ = false;
    accept_errors_.flush();
    if (--ticks_to_trim_ == 0) {
        ticks_to_trim_ = session_trim_ticks;
        trim_sessions();
    }
    wheel_.advance(now_tick(), [this](std::uint32_t slot) { on_timeout(slot); });
    arm_tick();
}

void event_loop::on_timeout(std::uint32_t slot) noexcept {
    connection& c = conns_[slot];
    const timer_kind kind = std::exchange(c.timer, timer_kind::none);
    switch (kind) {
        case timer_kind::none:
            break;
        case timer_kind::header:
        case timer_kind::body:
            if (c.sess != nullptr && !c.sess->idle()) {
                // Part of a request arrived, not all of it in time: say so, then close.
                c.sess->fail(408);
                queue_flush(slot);
            } else {
                begin_close(slot);   // nothing of a request arrived: close quietly
            }
            break;
        case timer_kind::keepalive:
        case timer_kind::linger:
        case timer_kind::send:   // the client stopped reading: give up on it
            begin_close(slot);
            break;
    }
}

// One deadline per connection, chosen from what it is waiting for. The header
// deadline runs from accept (first request) or from the request's first byte; it is
// not extended by each byte, so a trickling client is cut off on time.
void event_loop::refresh_timer(std::uint32_t slot, progress moved) noexcept {
    connection& c = conns_[slot];
    timer_kind want = timer_kind::keepalive;
    std::chrono::milliseconds after = timeouts_.keepalive;
    const session* s = c.sess.get();
    if (c.state == conn_state::lingering) {
        want = timer_kind::linger;
        after = linger_time;
    } else if (c.send_inflight || (s != nullptr && s->has_output())) {
        want = timer_kind::send;
        after = timeouts_.send;
    } else if ((s != nullptr && s->in_head()) || (s == nullptr && c.requests == 0)) {
        want = timer_kind::header;
        after = timeouts_.header;
    } else if (s != nullptr && s->mid_request()) {
        want = timer_kind::body;
        after = timeouts_.body;
    }
    if (draining_ && want == timer_kind::keepalive) {
        after = std::min(after, drain_idle_grace);
    }
    const bool restart = want != c.timer || (moved == progress::input && want == timer_kind::body) ||
                         (moved == progress::output && want == timer_kind::send);
    if (restart) {
        c.timer = want;
        wheel_.arm(slot, wheel_.now() + ticks(after));
    }
}

void event_loop::after_batch() noexcept {
    for (std::uint32_t slot : rearm_list_) {
        connection& c = conns_[slot];
        c.rearm_recv = false;
        // An answer that closes the connection ends the parsing: its input is wanted again
        // only if the close lingers (close_when_sent arms a recv then).
        const bool wanted = c.state == conn_state::lingering ||
                            (c.state == conn_state::open && (c.sess == nullptr || !c.sess->closing()));
        if (wanted && !c.recv_armed && !c.peer_eof && !c.input_paused) {
            arm_recv(slot);
        }
    }
    rearm_list_.clear();
    // Every response a batch of reads produced for a connection goes out in one send.
    for (std::size_t i = 0; i < flush_list_.size(); ++i) {
        flush(flush_list_[i]);
    }
    flush_list_.clear();
    if (!accept_armed_ && !accept_backoff_ && !draining_ && !free_slots_.empty()) {
        if (!over_fair_share()) {
            arm_accept();
        } else if (!rebalance_armed_) {
            // Paused for balance: look again soon, not only at the next event; the
            // others may have caught up within a millisecond.
            io_uring_sqe* sqe = ring_.sqe();
            io_uring_prep_timeout(sqe, &rebalance_after_, 0, 0);
            io_uring_sqe_set_data64(sqe, encode(op::rebalance));
            rebalance_armed_ = true;
        }
    }
}

void event_loop::queue_flush(std::uint32_t slot) noexcept {
    connection& c = conns_[slot];
    if (!c.flush_queued) {
        c.flush_queued = true;
        flush_list_.push_back(slot);
    }
}

void event_loop::flush(std::uint32_t slot) noexcept {
    connection& c = conns_[slot];
    c.flush_queued = false;
    if (c.state != conn_state::open || c.send_inflight) {
        return;
    }
    session* s = c.sess.get();
    if (s != nullptr && !s->out().empty()) {
        std::swap(s->out(), s->sending());
        submit_send(slot);
        refresh_timer(slot, progress::output);
        return;
    }
    const bool idle = s == nullptr || s->idle();
    // While draining, an idle connection is not closed here: its last response may have
    // promised keep-alive, and the client's next request may be on its way. It is
    // answered with Connection: close, or closed by the drain grace timer.
    if (c.peer_eof || (s != nullptr && s->closing())) {
        close_when_sent(slot);
        return;
    }
    if (s != nullptr && idle) {
        release_session(c);
    }
    refresh_timer(slot, progress::none);
}

// Everything is sent and the connection is to close. If the client may still be
// sending, shut down our side and read until it finishes (or linger_time passes):
// closing with unread input would send a reset that can destroy our last response
// before the client reads it.
void event_loop::close_when_sent(std::uint32_t slot) noexcept {
    connection& c = conns_[slot];
    const bool linger = !c.peer_eof && c.sess != nullptr && c.sess->needs_linger();
    if (!linger) {
        begin_close(slot);
        return;
    }
    c.state = conn_state::lingering;
    c.input_paused = false;   // what it sends now is read only to be dropped
    release_session(c);
    io_uring_sqe* sqe = ring_.sqe();
    io_uring_prep_shutdown(sqe, c.fd, SHUT_WR);
    io_uring_sqe_set_data64(sqe, encode(op::shutdown));
    if (!c.recv_armed && !c.rearm_recv) {
        arm_recv(slot);   // not re-armed after the closing answer was parsed
    }
    refresh_timer(slot, progress::none);
}

void event_loop::begin_close(std::uint32_t slot) noexcept {
    connection& c = conns_[slot];
    if (c.state != conn_state::open && c.state != conn_state::lingering) {
        return;
    }
    c.state = conn_state::closing;
    if (c.recv_armed) {
        cancel(encode(op::recv, slot, c.generation));
    }
    if (c.send_inflight) {
        cancel(encode(op::send, slot, c.generation));
    }
    finish_close_if_done(slot);
}

void event_loop::finish_close_if_done(std::uint32_t slot) noexcept {
    connection& c = conns_[slot];
    if (c.recv_armed || c.send_inflight) {
        return;   // the kernel still uses the socket or the session's buffers
    }
    io_uring_sqe* sqe = ring_.sqe();
    io_uring_prep_close(sqe, c.fd);
    io_uring_sqe_set_data64(sqe, encode(op::close));
    release_session(c);
    wheel_.disarm(slot);
    const std::uint32_t next_gen = c.generation + 1;
    c = connection{};
    c.generation = next_gen;
    free_slots_.push_back(slot);
    --live_;
    stats_->active.store(live_, std::memory_order_relaxed);
}

void event_loop::begin_drain() noexcept {
    if (draining_) {
        return;
    }
    draining_ = true;
    ctx_.draining = true;
    stats_->state.store(worker_state::draining, std::memory_order_relaxed);
    // io_uring's accept waits as an exclusive waiter: a connection whose wake-up it took
    // is still queued when the cancel lands, and no other worker was woken for it. So
    // the backlog is taken only once the accept has come back (on_accept), and the
    // worker does not exit before that.
    if (accept_armed_) {
        cancel(encode(op::accept));
    } else {
        let_go_of_listener();
    }
    // Busy connections close after their current response (it says Connection: close).
    // Idle keep-alive ones get a short grace instead of an immediate close: a request
    // may already be on its way, and closing under it would fail it. One that arrives is
    // answered with Connection: close; a silent connection closes at the grace's end.
    for (std::uint32_t slot = 0; slot < conns_.size(); ++slot) {
        connection& c = conns_[slot];
        if (c.state == conn_state::open && !c.send_inflight && (c.sess == nullptr || c.sess->idle())) {
            c.timer = timer_kind::none;
            refresh_timer(slot, progress::none);
        }
    }
}

// A draining worker takes the connections already queued for it (they are served, with
// Connection: close) and closes its copy of the listening socket. On a graceful stop
// the master has closed its copy first, so once every worker has let go the kernel
// refuses new connections at once instead of queueing them for nobody; on a reload or
// a recycle the master and the new workers keep the socket open.
void event_loop::let_go_of_listener() noexcept {
    if (listen_fd_ < 0) {
        return;
    }
    if (const int fl = ::fcntl(listen_fd_, F_GETFL); fl >= 0 && (fl & O_NONBLOCK) == 0) {
        ::fcntl(listen_fd_, F_SETFL, fl | O_NONBLOCK);   // inherited from an older master
    }
    while (!free_slots_.empty()) {
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (fd < 0) {
            break;   // EAGAIN: nothing queued (or another worker took it)
        }
        adopt(fd);
    }
    // The accept being cancelled holds its own reference to the socket.
    ::close(listen_fd_);
    listen_fd_ = -1;
    stats_->holds_listener.store(false, std::memory_order_relaxed);
}

// One shared listening socket wakes every worker for each connection, and the one
// that is already running wins: under load a single worker would take them all. Like
// nginx's accept_disabled, a worker holding more than the mean of the live workers
// (ready, heartbeat under a second old) plus max(1, mean/8) stops accepting until the
// others catch up; a stopped or hung peer is not counted, so it never strands the queue.
// The slack grows with the mean so that a burst of thousands of connections settles in
// a few rounds, while at -c64 shares stay within about 12 %.
bool event_loop::over_fair_share() const noexcept {
    if (peers_ == nullptr) {
        return false;
    }
    constexpr std::uint64_t fresh_ms = 1000;
    const std::uint64_t now = monotonic_ms();
    std::uint64_t total = 0;
    std::uint64_t live_workers = 0;
    for (std::size_t i = 0; i < peers_->size(); ++i) {
        const worker_stats& w = (*peers_)[i];
        if (w.state.load(std::memory_order_relaxed) != worker_state::ready) {
            continue;
        }
        const std::uint64_t beat = w.heartbeat_ms.load(std::memory_order_relaxed);
        if (now > beat + fresh_ms) {
            continue;
        }
        total += w.active.load(std::memory_order_relaxed);
        ++live_workers;
    }
    if (live_workers < 2) {
        return false;
    }
    const std::uint64_t mean = total / live_workers;
    return live_ > mean + std::max<std::uint64_t>(1, mean / 8);
}

void event_loop::arm_accept() noexcept {
    io_uring_sqe* sqe = ring_.sqe();
    if (peers_ != nullptr || free_slots_.size() < multishot_accept_min_free) {
        // Shared queue: one connection per accept, so the share is checked between any
        // two (a multishot accept would drain a whole burst into this worker at once).
        // Near max_connections: one per free slot, never more.
        io_uring_prep_accept(sqe, listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    } else {
        io_uring_prep_multishot_accept(sqe, listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    }
    io_uring_sqe_set_data64(sqe, encode(op::accept));
    accept_armed_ = true;
}

void event_loop::arm_recv(std::uint32_t slot) noexcept {
    connection& c = conns_[slot];
    io_uring_sqe* sqe = ring_.sqe();
    // Two calm reads: a new connection's first read finds it idle whatever the client is.
    c.recv_multishot = c.calm_reads >= 2;
    if (c.recv_multishot) {
        io_uring_prep_recv_multishot(sqe, c.fd, nullptr, 0, 0);
    } else {
        io_uring_prep_recv(sqe, c.fd, nullptr, recv_buffer_size, 0);
    }
    sqe->flags |= IOSQE_BUFFER_SELECT;
    sqe->buf_group = bufs_->group();
    io_uring_sqe_set_data64(sqe, encode(op::recv, slot, c.generation));
    c.recv_armed = true;
}

void event_loop::arm_signal() noexcept {
    io_uring_sqe* sqe = ring_.sqe();
    io_uring_prep_read(sqe, signal_fd_.get(), &siginfo_, sizeof siginfo_, 0);
    io_uring_sqe_set_data64(sqe, encode(op::signal));
}

void event_loop::arm_tick() noexcept {
    io_uring_sqe* sqe = ring_.sqe();
    io_uring_prep_timeout(sqe, &tick_, 0, 0);
    io_uring_sqe_set_data64(sqe, encode(op::tick));
}

void event_loop::submit_send(std::uint32_t slot) noexcept {
    connection& c = conns_[slot];
    const auto bytes = c.sess->sending().readable();
    io_uring_sqe* sqe = ring_.sqe();
    io_uring_prep_send(sqe, c.fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    io_uring_sqe_set_data64(sqe, encode(op::send, slot, c.generation));
    c.send_inflight = true;
}

void event_loop::cancel(std::uint64_t target) noexcept {
    io_uring_sqe* sqe = ring_.sqe();
    io_uring_prep_cancel64(sqe, target, 0);
    io_uring_sqe_set_data64(sqe, encode(op::cancel));
}

std::unique_ptr<session> event_loop::acquire_session() noexcept {
    sessions_peak_ = std::max(sessions_peak_, ++sessions_in_use_);
    if (idle_sessions_.empty()) {
        return std::make_unique<session>(ctx_, limits_);
    }
    std::unique_ptr<session> s = std::move(idle_sessions_.back());
    idle_sessions_.pop_back();
    return s;
}

void event_loop::release_session(connection& c) noexcept {
    std::unique_ptr<session> s = std::exchange(c.sess, nullptr);
    if (s == nullptr) {
        return;
    }
    --sessions_in_use_;
    {
        const decommit_scope now{c.slow_reader};
        s->reset(keep_buffer_capacity);
    }
    idle_sessions_.push_back(std::move(s));
}

// Keeps as many sessions as were in use at once since the last trim: a steady load reuses
// them all, and what a burst left behind is freed within two trims.
void event_loop::trim_sessions() noexcept {
    const std::size_t spare = sessions_peak_ - sessions_in_use_;
    if (idle_sessions_.size() > spare) {
        const decommit_scope now{true, true};
        idle_sessions_.resize(spare);
        if (idle_sessions_.capacity() > 2 * spare + 64) {
            idle_sessions_.shrink_to_fit();
        }
    }
    sessions_peak_ = sessions_in_use_;
}

result<unique_fd> make_signal_fd() noexcept {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGTERM, SIGINT, SIGQUIT}) {
        sigaddset(&set, s);
    }
    unique_fd fd{::signalfd(-1, &set, SFD_CLOEXEC)};
    if (!fd.valid()) {
        return fail(errno, "signalfd");
    }
    return fd;
}

}  // namespace

int run(const settings& cfg, int listen_fd, worker_stats& stats, const scoreboard* peers) noexcept {
    std::signal(SIGPIPE, SIG_IGN);
    auto sig = make_signal_fd();
    if (!sig) {
        log_line("%s failed: %s", sig.error().call, std::strerror(sig.error().code));
        return 1;
    }
    auto r = ring::create(sq_entries, cq_entries);
    if (!r) {
        log_line("cannot create an io_uring (%s: %s); io_uring may be disabled "
                 "(sysctl kernel.io_uring_disabled) or unsupported by this kernel",
                 r.error().call, std::strerror(r.error().code));
        return 1;
    }
    auto loop = std::make_unique<event_loop>(cfg, listen_fd, std::move(*r), std::move(*sig), stats, peers);

    if (auto b = loop->set_up_buffers(); !b) {
        log_line("cannot set up receive buffers (%s: %s); needs Linux 5.19 or later",
                 b.error().call, std::strerror(b.error().code));
        return 1;
    }
    return loop->run();
}

}  // namespace pfd::worker
