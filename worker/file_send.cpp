// A file range of a connection's output, sent without passing through user space:
//   splice_in   file -> pipe (io_uring runs it on a helper thread: a cold file blocks
//               nobody else on this worker)
//   file_check  the file's size and mtime: if it changed since it was opened, what the
//               pipe holds may be a mix of old and new bytes, and is not sent
//   splice_out  pipe -> socket without waiting (io_uring runs splices on its helper
//               threads, blocking: a client that does not read would hold one each); when
//               the socket is full, a poll for room (file_wait), then again, until the
//               pipe is empty; then the next chunk, or what follows the range in the output
// A file that ends early or changes closes the connection: the client sees a body
// shorter than its Content-Length, never a complete-looking wrong one.
#include <algorithm>
#include <cerrno>

#include "base/log.hpp"
#include "worker/event_loop.hpp"

namespace pfd::worker {

namespace {
// A file rewritten under load would otherwise log a line per connection.
log_limiter changed_files_log;
}

void event_loop::splice_in(std::uint32_t slot) noexcept {
    connection& c = conns_[slot];
    session& s = *c.sess;
    const handlers::file_piece& piece = s.sending_files().front().piece;
    file_transfer& t = s.transfer();
    t.filling();
    const std::uint64_t left = piece.length - t.done;
    const auto n = static_cast<unsigned>(std::min<std::uint64_t>(left, file_transfer::chunk));
    submit_.splice(piece.file->fd.get(), static_cast<std::int64_t>(piece.offset + t.done), t.write_end(), n, 0,
                   tag(op::splice_in, slot));
    c.send_inflight = true;
    c.output_op = op::splice_in;
}

// What comes back for any step: false if the connection is done with (closing, stale, failed).
bool event_loop::file_step_back(std::uint32_t slot, std::uint32_t gen, int res) noexcept {
    connection& c = conns_[slot];
    if (stale(c, gen)) {
        return false;
    }
    c.send_inflight = false;
    if (c.state == conn_state::closing) {
        finish_close_if_done(slot);
        return false;
    }
    if (res <= 0) {
        // 0 from the file: it is shorter than when it was opened. From the socket, or an
        // error: the client is gone.
        if (res == 0 && c.output_op == op::splice_in) {
            changed_files_log.log("worker: a file was truncated while being sent: closing the connection");
        }
        begin_close(slot);
        return false;
    }
    return true;
}

void event_loop::on_splice_in(std::uint32_t slot, std::uint32_t gen, int res) noexcept {
    if (!file_step_back(slot, gen, res)) {
        return;
    }
    connection& c = conns_[slot];
    file_transfer& t = c.sess->transfer();
    t.in_pipe = static_cast<std::uint32_t>(res);
    submit_.fstatx(c.sess->sending_files().front().piece.file->fd.get(), &t.seen, tag(op::file_check, slot));
    c.send_inflight = true;
    c.output_op = op::file_check;
}

void event_loop::on_file_check(std::uint32_t slot, std::uint32_t gen, int res) noexcept {
    if (!file_step_back(slot, gen, res == 0 ? 1 : res)) {
        return;
    }
    connection& c = conns_[slot];
    const file_transfer& t = c.sess->transfer();
    const handlers::open_file& f = *c.sess->sending_files().front().piece.file;
    const std::int64_t mtime_ns = t.seen.stx_mtime.tv_sec * 1'000'000'000LL + t.seen.stx_mtime.tv_nsec;
    if (t.seen.stx_size != f.size || mtime_ns != f.mtime_ns) {
        changed_files_log.log("worker: a file changed while being sent: closing the connection");
        begin_close(slot);
        return;
    }
    splice_out(slot);
}

void event_loop::splice_out(std::uint32_t slot) noexcept {
    connection& c = conns_[slot];
    session& s = *c.sess;
    const file_transfer& t = s.transfer();
    const bool more = t.done + t.in_pipe < s.sending_files().front().piece.length || s.sending().size() != 0;
    submit_.splice(t.read_end(), -1, c.fd, t.in_pipe, SPLICE_F_NONBLOCK | (more ? SPLICE_F_MORE : 0U),
                   tag(op::splice_out, slot));
    c.send_inflight = true;
    c.output_op = op::splice_out;
}

void event_loop::on_file_wait(std::uint32_t slot, std::uint32_t gen, int res) noexcept {
    if (!file_step_back(slot, gen, res == 0 ? 1 : res)) {
        return;
    }
    splice_out(slot);
}

void event_loop::on_splice_out(std::uint32_t slot, std::uint32_t gen, int res) noexcept {
    if (res == -EAGAIN && !stale(conns_[slot], gen) && conns_[slot].state == conn_state::open) {
        connection& c = conns_[slot];
        submit_.poll_out(c.fd, tag(op::file_wait, slot));   // the client has not read yet
        c.output_op = op::file_wait;
        return;
    }
    if (!file_step_back(slot, gen, res)) {
        return;
    }
    connection& c = conns_[slot];
    session& s = *c.sess;
    file_transfer& t = s.transfer();
    const auto n = static_cast<std::uint32_t>(res);
    worker_stats::add(stats_->bytes_out, std::uint64_t{n});
    t.in_pipe -= std::min(n, t.in_pipe);
    t.done += n;
    refresh_timer(slot, progress::output);
    if (t.in_pipe != 0) {
        splice_out(slot);
        return;
    }
    t.emptied();
    if (t.done < s.sending_files().front().piece.length) {
        splice_in(slot);
        return;
    }
    s.file_sent();
    output_moved(slot);
}

}  // namespace pfd::worker
