#include "worker/event_loop.hpp"

#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstring>

#include "base/clock.hpp"
#include "worker/builtin_routes.hpp"
#include "base/log.hpp"

namespace pfd::worker {

namespace {
// Takes the inherited log file in any case (a worker started after a reload that turned
// the log off closes it).
std::unique_ptr<access_log> make_access_log(const settings& cfg, std::uint32_t slot) noexcept {
    unique_fd fd = take_access_log(cfg.access_log);
    if (!fd.valid()) {
        return nullptr;
    }
    try {
        return std::make_unique<access_log>(std::move(fd), cfg.access_log_json, slot, cfg.max_connections);
    } catch (...) {
        log_error("no memory for the access log's buffers; this worker logs no requests");
        return nullptr;
    }
}
}  // namespace

event_loop::event_loop(const settings& cfg, int listen_fd, ring r, unique_fd sig, worker_stats& stats,
                       const scoreboard& board, bool shared_listener) noexcept
    : stats_{&stats},
      messages_{cfg.message_fd},
      ring_{std::move(r)},
      submit_{ring_},
      signal_fd_{std::move(sig)},
      listen_fd_{listen_fd},
      timeouts_{cfg.timeouts},
      send_ticks_{ticks(cfg.timeouts.send)},
      keepalive_ticks_{ticks(cfg.timeouts.keepalive)},
      access_{make_access_log(cfg, stats.slot.load(std::memory_order_relaxed))},
      routes_{cfg.routes, cfg.mime, &offload_, stats.slot.load(std::memory_order_relaxed), &messages_,
              &stats.in_module,
              [this, &board](const handlers::route_spec& spec, const handlers::error_pages& errors,
                             const proto::prepared_response& options) {
                  return make_builtin_route(spec, builtin_context{&board, stats_, &ctx_}, {&errors, &options});
              },
              &date_},
      sessions_{ctx_, cfg.parser_limits, keep_buffer_capacity},
      conns_(cfg.max_connections),
      wheel_{cfg.max_connections, wheel_slots},
      start_ms_{monotonic_coarse_ms()},
      flush_list_{cfg.max_connections},
      rearm_list_{cfg.max_connections},
      accepts_{shared_listener ? &board : nullptr},
      offload_{cfg.offload_threads, cfg.offload_queue, cfg.offload_nudge, stats.slot.load(std::memory_order_relaxed)} {
    ctx_.routes = &routes_;
    ctx_.date = &date_;
    ctx_.stats = stats_;
    ctx_.server = &board.server();
    ctx_.max_requests_per_connection = cfg.max_requests_per_connection;
    ctx_.max_pending_output = max_pending_output;
    ctx_.waker = this;
    ctx_.access = access_.get();
    free_slots_.reserve(conns_.size());
    for (std::uint32_t i = static_cast<std::uint32_t>(conns_.size()); i-- > 0;) {
        free_slots_.push_back(i);
    }
}

result<bool> event_loop::set_up_buffers() noexcept {
    auto b = buffer_ring::create(ring_.get(), buffer_group, recv_buffers, recv_buffer_size);
    if (!b) {
        return tl::unexpected(b.error());
    }
    bufs_.emplace(std::move(*b));
    return true;
}

timer_wheel::tick_t event_loop::now_tick() const noexcept {
    return (monotonic_coarse_ms() - start_ms_) / static_cast<std::uint64_t>(tick_length.count());
}

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
    arm_wake();
    arm_messages();
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
            log_error("io_uring_submit_and_wait failed: %s; exiting", std::strerror(-rc));
            release_listener_now();
            return 1;
        }
        ctx_.clock.next_batch();
        // The tail read once (liburing's loop reads it per completion): what the kernel
        // posts meanwhile is the next round's. Nothing dispatch() calls consumes completions,
        // and the ring has no CQE32, so an index is the plain masked count.
        const io_uring_cq& cq = ring_.get()->cq;
        const unsigned head = *cq.khead;
        const unsigned seen = io_uring_smp_load_acquire(cq.ktail) - head;
        for (unsigned i = 0; i < seen; ++i) {
            dispatch(cq.cqes[(head + i) & cq.ring_mask]);
        }
        io_uring_cq_advance(ring_.get(), seen);
        bufs_->publish();
        after_batch();
        wait_for = next_wait(seen, wait_for);
    }
    stats_->state.store(worker_state::exiting, std::memory_order_relaxed);
    release_listener_now();
    return 0;
}

// The ring's armed accept holds the listening socket, and a ring is torn down after its
// process has exited, asynchronously: the socket would go on completing handshakes for a
// moment after every process had gone (a client connecting just after a fast stop was
// accepted, then reset). So the accept is taken back before the worker exits.
void event_loop::release_listener_now() noexcept {
    if (accept_armed_) {
        submit_.cancel(encode(op::accept));
    }
    // Bounded by time, not rounds: a busy worker's other completions come meanwhile.
    // A log write to a file is back within milliseconds; one to a stalled pipe is
    // given up on (its lines may be lost, the worker is not kept).
    const std::uint64_t start = monotonic_ms();
    const std::uint64_t give_up_at = start + 100;
    const std::uint64_t log_give_up_at = start + 2'000;
    const auto log_writing = [this] { return access_ != nullptr && access_->write_in_flight(); };
    for (;;) {
        const std::uint64_t now = monotonic_ms();
        if (!(accept_armed_ && now < give_up_at) && !(log_writing() && now < log_give_up_at)) {
            break;
        }
        io_uring_cqe* first = nullptr;
        __kernel_timespec patience{.tv_sec = 0, .tv_nsec = 10'000'000};
        const int rc = io_uring_submit_and_wait_timeout(ring_.get(), &first, 1, &patience, nullptr);
        if (rc < 0 && rc != -ETIME && rc != -EINTR) {
            break;
        }
        unsigned head = 0;
        unsigned seen = 0;
        io_uring_cqe* cqe = nullptr;
        io_uring_for_each_cqe(ring_.get(), head, cqe) {
            if (op_of(cqe->user_data) == op::accept) {
                if (cqe->res >= 0) {
                    ::close(cqe->res);   // came in meanwhile: nobody is left to serve it
                }
                if ((cqe->flags & IORING_CQE_F_MORE) == 0) {
                    accept_armed_ = false;
                }
            } else if (op_of(cqe->user_data) == op::access_write && access_ != nullptr) {
                submit_access_write(access_->written(cqe->res));   // the rest of a short write
            }
            ++seen;
        }
        io_uring_cq_advance(ring_.get(), seen);
    }
    if (listen_fd_ >= 0) {
        ::close(listen_fd_);
        listen_fd_ = -1;
        stats_->holds_listener.store(false, std::memory_order_relaxed);
    }
    if (access_ != nullptr) {
        // The ring's writes are done with (or given up on): the rest is written here.
        access_->flush_sync();
        access_->report_drops();
        if (access_->write_in_flight()) {
            // Given up on (a stalled pipe): the kernel may still read its buffer after
            // the ring is gone, so it is never freed (kept reachable, for LeakSanitizer);
            // the process exits next.
            static std::unique_ptr<access_log> abandoned;
            abandoned = std::move(access_);
        }
    }
}

void event_loop::maybe_write_access() noexcept {
    const std::uint64_t now_ms = ctx_.clock.now_us() / 1000;
    if (access_->write_due(now_ms)) {
        submit_access_write(access_->start_write(now_ms));
    }
}

void event_loop::submit_access_write(std::span<const char> bytes) noexcept {
    if (!bytes.empty()) {
        submit_.write(access_->fd(), bytes, encode(op::access_write));
    }
}

void event_loop::on_access_written(int res) noexcept {
    if (access_ == nullptr) {
        return;
    }
    const std::span<const char> rest = access_->written(res);
    if (!rest.empty()) {
        submit_access_write(rest);
    } else {
        maybe_write_access();   // a reopen waiting for this write, or a full buffer
    }
}

void event_loop::dispatch(const io_uring_cqe& cqe) noexcept {
    const std::uint64_t d = cqe.user_data;
    switch (op_of(d)) {
        case op::accept: on_accept(cqe.res, cqe.flags); break;
        case op::recv: on_recv(slot_of(d), gen_of(d), cqe.res, cqe.flags); break;
        case op::send: on_send(slot_of(d), gen_of(d), cqe.res); break;
        case op::splice_in: on_splice_in(slot_of(d), gen_of(d), cqe.res); break;
        case op::file_check: on_file_check(slot_of(d), gen_of(d), cqe.res); break;
        case op::file_wait: on_file_wait(slot_of(d), gen_of(d), cqe.res); break;
        case op::wake: on_wake(cqe.res); break;
        case op::message: on_messages(cqe.res); break;
        case op::access_write: on_access_written(cqe.res); break;
        case op::signal: on_signal(cqe.res); break;
        case op::tick: on_tick(); break;
        case op::rebalance: rebalance_armed_ = false; break;   // after_batch looks again
        case op::close:
        case op::cancel:
            break;
    }
}

void event_loop::after_batch() noexcept {
    for (std::uint32_t i = 0; i < rearm_list_.size(); ++i) {
        const std::uint32_t slot = rearm_list_[i];
        connection& c = conns_[slot];
        c.rearm_queued = false;
        if (c.wants_recv()) {
            arm_recv(slot);
        }
    }
    rearm_list_.clear();
    // Every response a batch of reads produced for a connection goes out in one send.
    for (std::uint32_t i = 0; i < flush_list_.size(); ++i) {
        flush(flush_list_[i]);
    }
    flush_list_.clear();
    if (access_ != nullptr) [[unlikely]] {
        maybe_write_access();   // a full buffer goes now, not at the next tick
    }
    if (!accept_armed_ && !accepts_.backing_off() && !draining_ && !free_slots_.empty()) {
        if (!accepts_.over_fair_share(live_)) {
            arm_accept();
        } else if (!rebalance_armed_) {
            // Paused for balance: look again soon, not only at the next event; the
            // others may have caught up within a millisecond.
            submit_.timeout(&rebalance_after_, encode(op::rebalance));
            rebalance_armed_ = true;
        }
    }
}

void event_loop::on_accept(int res, unsigned flags) noexcept {
    if ((flags & IORING_CQE_F_MORE) == 0) {
        accept_armed_ = false;
    }
    if (res < 0) {
        accepts_.failed(-res);
    } else if (free_slots_.empty()) {
        // Accepted while the cancel of the accept was in flight, at the limit.
        ::close(res);
    } else {
        // Also when draining (the cancel was in flight): it is served, with Connection:
        // close, rather than reset a client that did nothing wrong.
        adopt(res);
        if (accept_armed_ && accepts_.stop_after(live_, free_slots_.size())) {
            // Let the other workers take the next connections from the shared queue, or,
            // near the connection limit, go on one accept at a time (after_batch), so
            // that at the limit connections wait in the kernel's queue.
            submit_.cancel(encode(op::accept));
        }
    }
    if (draining_ && !accept_armed_) {
        let_go_of_listener();   // the accept begin_drain cancelled is back
    }
}

void event_loop::arm_accept() noexcept {
    submit_.accept(listen_fd_, accepts_.multishot(free_slots_.size()));
    accept_armed_ = true;
}

void event_loop::adopt(int fd) noexcept {
    const std::uint32_t slot = free_slots_.back();
    free_slots_.pop_back();
    connection& c = conns_[slot];
    c.fd = fd;
    c.state = conn_state::open;
    if (access_ != nullptr) [[unlikely]] {
        // One getpeername per connection, only with the log on: a multishot accept
        // has no per-connection address to fill.
        access_->set_peer(slot, fd);
    }
    ++live_;
    worker_stats::add(stats_->accepted, std::uint64_t{1});
    stats_->active.store(live_, std::memory_order_relaxed);
    arm_recv(slot);
    refresh_timer(slot, progress::none);
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
        const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK);
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

void event_loop::arm_signal() noexcept {
    submit_.read(signal_fd_.get(), &siginfo_, sizeof siginfo_, encode(op::signal));
}

void event_loop::on_tick() noexcept {
    // The master kills a worker whose heartbeat stops (an endless loop, SIGSTOP).
    stats_->heartbeat_ms.store(monotonic_ms(), std::memory_order_relaxed);
    // Here, not per batch: the Date is at most one tick late into a new second, and
    // a busy loop does not read the clock for it.
    date_.refresh(unix_seconds_coarse());
    accepts_.on_tick();
    if (--ticks_to_trim_ == 0) {
        ticks_to_trim_ = session_trim_ticks;
        sessions_.trim(release_idle_sessions());
    }
    wheel_.advance(now_tick(), [this](std::uint32_t slot) { on_timeout(slot); });
    if (access_ != nullptr) {
        maybe_write_access();   // at least once a second
        access_->report_drops();
    }
    arm_tick();
}

void event_loop::arm_tick() noexcept {
    submit_.timeout(&tick_, encode(op::tick));
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
        submit_.cancel(encode(op::accept));
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

}  // namespace pfd::worker
