// Answers going out: every answer a batch of reads produced for a connection leaves in
// one send; while it is in flight, new answers collect in the session's other buffer.
// A file range in the output is spliced from the file through the session's pipe into
// the socket, between the bytes before and after it. The kernel reading from session
// memory (or the pipe) is why a connection closes only once its output op has come back.
#include <cstring>

#include "base/log.hpp"
#include "worker/event_loop.hpp"
#include "worker/memory_return.hpp"

namespace pfd::worker {

void event_loop::flush(std::uint32_t slot) noexcept {
    connection& c = conns_[slot];
    c.flush_queued = false;
    if (c.state != conn_state::open || c.send_inflight) {
        return;
    }
    session* s = c.sess.get();
    if (s != nullptr && (!s->out().empty() || !s->out_files().empty())) {
        s->start_sending();
        send_next(slot);
        wait_for_send(slot);   // what refresh_timer would choose
        return;
    }
    all_sent(slot);
}

// An open connection with nothing queued or in flight: it closes, or waits for what
// comes next (the next request, the answer its handler owes, the rest of a request).
void event_loop::all_sent(std::uint32_t slot) noexcept {
    connection& c = conns_[slot];
    session* s = c.sess.get();
    const bool idle = s == nullptr || s->idle();
    const bool between_requests = idle && c.requests > 0;
    // While draining, an idle connection is not closed here: its last response may have
    // promised keep-alive, and the client's next request may be on its way. It is
    // answered with Connection: close, or closed by the drain grace timer. A client that
    // shut down its side still gets the answer its handler is working on.
    const bool awaiting = s != nullptr && s->awaiting_answer();
    if (!awaiting && (c.peer_eof() || (s != nullptr && s->closing()))) {
        close_when_sent(slot);
        return;
    }
    // A connection keeps its session between requests from its second request on (see
    // release_idle_sessions). One that has sent a single request may well stay idle for
    // long (a browser's spare connection): it gives its session back at once, as does
    // one whose buffers grew for a large answer (they are freed now), and a slow reader
    // (what it held goes back to the kernel).
    if (s != nullptr && idle && (c.slow_reader || c.requests < 2 || s->grown(sessions_.keep_capacity()))) {
        release_session(c);
    }
    if (between_requests) {
        wait_for_next_request(slot);
    } else {
        refresh_timer(slot, progress::none);
    }
}

// sending() has a file range: its bytes up to the range, or the range.
bool event_loop::send_next_with_files(std::uint32_t slot) noexcept {
    connection& c = conns_[slot];
    session& s = *c.sess;
    if (const std::size_t upto = s.sending_files().front().at; upto > 0) {
        submit_.send(c.fd, s.sending().readable().first(upto), tag(op::send, slot));
        c.send_inflight = true;
        c.output_op = op::send;
        return true;
    }
    if (auto ok = s.transfer().ready(); !ok) {
        log_line("worker: cannot send a file: %s: %s", ok.error().call, std::strerror(ok.error().code));
        begin_close(slot);
        return true;
    }
    s.transfer().begin();
    splice_in(slot);
    return true;
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
    c.sess->sent(static_cast<std::size_t>(res));
    proto::byte_buffer& sending = c.sess->sending();
    if (c.slow_reader && sending.empty() && sending.capacity() > keep_buffer_capacity) {
        // It grew while the client did not read: hold only what is still to be sent.
        const decommit_scope now{true};
        sending.release();
    }
    output_moved(slot);
}

// Some output reached the socket: input held back for it may be parsed, and the next
// piece goes out.
void event_loop::output_moved(std::uint32_t slot) noexcept {
    connection& c = conns_[slot];
    // Input read while the output was full is parsed first (also once the client has
    // finished sending); reading resumes only once all of it is answered with room to spare.
    const bool held_back = c.input == input_state::paused || (c.peer_eof() && c.sess->backlogged());
    if (held_back && c.sess->output_bytes() <= ctx_.max_pending_output / 2) {
        c.sess->resume();
        if (!c.sess->backlogged() && !c.sess->output_full() && c.input == input_state::paused) {
            c.input = input_state::reading;
            if (c.recv == recv_op::idle) {
                arm_recv(slot);
            }
        }
    }
    if (send_next(slot)) {   // the rest, before anything queued after it
        refresh_timer(slot, progress::output);
        return;
    }
    session& s = *c.sess;
    if (!c.flush_queued && s.out().empty() && s.out_files().empty() && c.state == conn_state::open) {
        all_sent(slot);   // nothing new to send (so nothing to batch): the connection's next step now
        return;
    }
    queue_flush(slot);
}

}  // namespace pfd::worker
