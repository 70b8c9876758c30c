// A file range of a connection's output, sent without passing through user space:
//   splice_in   file -> pipe (io_uring runs it on a helper thread: a cold file blocks
//               nobody else on this worker)
//   file_check  before the range's last chunk leaves the pipe, the file's size and mtime:
//               if it changed since it was opened, the bytes may be a mix of old and
//               new, and the last chunk is not sent, so the body ends short. (Checked
//               once per range, not per chunk: each check is another io-wq hop.)
//   splice_out  pipe -> socket, a non-blocking splice on the loop thread; when the socket
//               is full, a poll for room (file_wait), then again, until the pipe is
//               empty; then the next chunk, or what follows the range in the output
// A file that ends early or changes closes the connection: the client sees a body
// shorter than its Content-Length, never a complete-looking wrong one.
#include <fcntl.h>

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
    if (t.done + t.in_pipe < c.sess->sending_files().front().piece.length) {
        splice_out(slot);   // not the last chunk: a change is caught before that one
        return;
    }
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

// The pipe into the socket, on the loop thread: the pipe's pages are in memory and the
// socket is non-blocking, so this splice cannot wait (and saves the io-wq hop io_uring's
// splice would take). A full socket gets a poll for room.
void event_loop::splice_out(std::uint32_t slot) noexcept {
    connection& c = conns_[slot];
    session& s = *c.sess;
    file_transfer& t = s.transfer();
    const std::uint64_t length = s.sending_files().front().piece.length;
    while (t.in_pipe != 0) {
        const bool more = t.done + t.in_pipe < length || s.sending().size() != 0;
        const ssize_t n = ::splice(t.read_end(), nullptr, c.fd, nullptr, t.in_pipe,
                                   SPLICE_F_NONBLOCK | (more ? SPLICE_F_MORE : 0U));
        if (n > 0) {
            const auto moved = static_cast<std::uint32_t>(n);
            worker_stats::add(stats_->bytes_out, std::uint64_t{moved});
            t.in_pipe -= std::min(moved, t.in_pipe);
            t.done += moved;
            refresh_timer(slot, progress::output);
            continue;
        }
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && errno == EAGAIN) {
            submit_.poll_out(c.fd, tag(op::file_wait, slot));   // the client has not read yet
            c.send_inflight = true;
            c.output_op = op::file_wait;
            return;
        }
        begin_close(slot);   // EPIPE, ECONNRESET: the client is gone
        return;
    }
    t.emptied();
    if (t.done < length) {
        splice_in(slot);
        return;
    }
    s.file_sent();
    output_moved(slot);
}

void event_loop::on_file_wait(std::uint32_t slot, std::uint32_t gen, int res) noexcept {
    if (!file_step_back(slot, gen, res == 0 ? 1 : res)) {
        return;
    }
    splice_out(slot);
}

}  // namespace pfd::worker
