// A connection's life in the event loop: reads, deadlines, the lingering close, close.
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>

#include "worker/event_loop.hpp"

namespace pfd::worker {

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
        c.recv = recv_op::idle;
    }
    if (res > 0) {
        worker_stats::add(stats_->bytes_in, static_cast<std::uint64_t>(res));
        // Calm: the socket is drained, and nothing we owe the client is waiting (the rest
        // of a request body may well come while it waits; a pipeline sent on top of
        // unread answers may not).
        if (static_cast<std::uint32_t>(res) < recv_buffer_size &&
            (c.sess == nullptr || (!c.sess->has_output() && !c.sess->backlogged()))) {
            if (c.calm_reads < 2) {   // two make the receive multishot (arm_recv)
                ++c.calm_reads;
            }
        } else {
            c.calm_reads = 0;
            if (c.recv == recv_op::multishot) {
                cancel_recv(slot);   // the client sends without waiting for answers: one buffer per batch
            }
        }
        // A lingering connection's input is read only to be dropped.
        if (c.state == conn_state::open) {
            if (c.sess == nullptr) {
                c.sess = sessions_.acquire();
                c.sess->attach(c.requests, slot);
            }
            c.sess->feed(bufs_->data(buffer_id, static_cast<std::size_t>(res)));
            queue_flush(slot);
            if (!c.sess->has_output()) {
                refresh_timer(slot, progress::input);   // with output, the flush sets the send deadline
            }
            if ((c.sess->backlogged() || c.sess->output_full()) && c.input == input_state::reading) {
                pause_input(slot);
            }
        }
        if (has_buffer) {
            bufs_->recycle(buffer_id);
        }
    } else if (res == 0) {
        c.input = input_state::finished;
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
    } else if (c.recv == recv_op::idle && c.input == input_state::reading && !c.rearm_queued) {
        c.rearm_queued = true;
        rearm_list_.push(slot);
    }
}

void event_loop::arm_recv(std::uint32_t slot) noexcept {
    connection& c = conns_[slot];
    // Two calm reads: a new connection's first read finds it idle whatever the client is.
    const bool multishot = c.calm_reads >= 2;
    submit_.recv(c.fd, bufs_->group(), multishot, recv_buffer_size, tag(op::recv, slot));
    c.recv = multishot ? recv_op::multishot : recv_op::one_shot;
}

// The armed receive is cancelled; its last completion (ECANCELED, or data that beat the
// cancel) comes as a one-shot's does.
void event_loop::cancel_recv(std::uint32_t slot) noexcept {
    submit_.cancel(tag(op::recv, slot));
    conns_[slot].recv = recv_op::one_shot;
}

// Backpressure: leave the rest in the kernel (TCP then stops the client) until the client
// has read some of what it asked for, or until this turn's answers are sent (a deep
// pipeline). What this batch still holds for the connection is kept unparsed
// (session::feed): the output stays within max_pending_output plus one answer.
void event_loop::pause_input(std::uint32_t slot) noexcept {
    connection& c = conns_[slot];
    c.input = input_state::paused;
    c.slow_reader = c.slow_reader || c.sess->output_full();
    if (c.recv != recv_op::idle) {
        cancel_recv(slot);
    }
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
        case timer_kind::answer:
            if (c.sess != nullptr && c.sess->answer_timed_out()) {
                queue_flush(slot);   // 504, then close
            } else {
                begin_close(slot);   // part of the answer is out: cut it short
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
// not extended by each byte, so a trickling client is cut off on time. Before the first
// request, empty lines (which a parser skips, RFC 9112 2.2) do not start a request: the
// deadline still runs from accept, or a client sending "\r\n" now and then would hold a
// connection for ever.
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
    } else if (s != nullptr && s->awaiting_answer()) {
        want = timer_kind::answer;
        after = timeouts_.answer;
    } else if ((s != nullptr && s->in_head()) || (c.requests == 0 && (s == nullptr || !s->mid_request()))) {
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
                         (moved == progress::output && (want == timer_kind::send || want == timer_kind::answer));
    if (restart) {
        set_deadline(slot, want, ticks(after));
    }
}

// Everything is sent and the connection is to close. If the client may still be
// sending, shut down our side and read until it finishes (or linger_time passes):
// closing with unread input would send a reset that can destroy our last response
// before the client reads it.
void event_loop::close_when_sent(std::uint32_t slot) noexcept {
    connection& c = conns_[slot];
    const bool linger = !c.peer_eof() && c.sess != nullptr && c.sess->needs_linger();
    if (!linger) {
        begin_close(slot);
        return;
    }
    c.state = conn_state::lingering;
    c.input = input_state::reading;   // what it sends now is read only to be dropped
    release_session(c);
    // A direct call, not IORING_OP_SHUTDOWN: io_uring runs that one in a worker thread
    // and looks up the descriptor only then, which can be after this connection has
    // closed and a new one was accepted under the same number (the new client then got
    // our FIN before its answer). It never blocks on a TCP socket.
    ::shutdown(c.fd, SHUT_WR);
    if (c.recv == recv_op::idle && !c.rearm_queued) {
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
    if (c.recv != recv_op::idle) {
        submit_.cancel(tag(op::recv, slot));
    }
    if (c.send_inflight) {
        submit_.cancel(tag(c.output_op, slot));
    }
    finish_close_if_done(slot);
}

void event_loop::finish_close_if_done(std::uint32_t slot) noexcept {
    connection& c = conns_[slot];
    if (c.recv != recv_op::idle || c.send_inflight) {
        return;   // the kernel still uses the socket or the session's buffers
    }
    submit_.close(c.fd);
    release_session(c);
    wheel_.disarm(slot);
    const std::uint32_t next_gen = c.generation + 1;
    c = connection{};
    c.generation = next_gen;
    free_slots_.push_back(slot);
    --live_;
    stats_->active.store(live_, std::memory_order_relaxed);
}

void event_loop::release_session(connection& c) noexcept {
    sessions_.release(std::exchange(c.sess, nullptr), c.slow_reader);
}

// A keep-alive connection keeps its session between requests (from its second one on,
// see flush): giving it back to the pool and taking it again (a reset of the parser and
// buffers) cost ~150 instructions a request. Once a trim period, every connection idle at
// that moment gives its session back, so one that stays idle holds only its slot (about
// a second later at most). Returns how many did.
std::size_t event_loop::release_idle_sessions() noexcept {
    std::size_t released = 0;
    // Every session in use belongs to a connection: the walk ends at the last of them.
    std::size_t to_see = sessions_.in_use();
    for (std::size_t slot = 0; slot < conns_.size() && to_see > 0; ++slot) {
        connection& c = conns_[slot];
        if (c.sess == nullptr) {
            continue;
        }
        --to_see;
        if (c.state == conn_state::open && !c.send_inflight && c.sess->idle()) {
            release_session(c);
            ++released;
        }
    }
    return released;
}

}  // namespace pfd::worker
