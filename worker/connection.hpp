#pragma once
// One accepted socket, as the event loop sees it. A connection is small (an idle
// keep-alive one holds no buffer and no parser); its session, taken from a pool while
// a request is in progress, holds the rest.
//
// Its state is a few orthogonal enums (connection_io.cpp and send_path.cpp change them):
//   life:  free -> open -> [lingering] -> closing -> free
//   recv:  idle <-> one_shot | multishot (a cancelled multishot ends as a one_shot does)
//   input: reading <-> paused (backpressure); -> finished when the client shuts down
//   timer: which deadline it is under
#include <cstdint>
#include <memory>

#include "worker/ops.hpp"
#include "worker/session.hpp"

namespace pfd::worker {

enum class conn_state : std::uint8_t {
    free,       // slot unused
    open,       // reading requests, answering them
    lingering,  // answered and shut down for writing; reading and dropping input until EOF
    closing,    // waiting for the recv to be cancelled and the send to finish, then close
};

// The receive the kernel holds for the connection, if any.
enum class recv_op : std::uint8_t {
    idle,       // none armed
    one_shot,   // one buffer, then it ends (also a multishot whose cancel is on its way)
    multishot,  // a buffer per arrival until cancelled
};

// What the connection's input is doing.
enum class input_state : std::uint8_t {
    reading,   // read whenever the client sends
    paused,    // too much output pending: not read until the client reads
    finished,  // the client shut down its side (EOF)
};

// Which deadline a connection is under (one at a time, on the worker's timer wheel).
enum class timer_kind : std::uint8_t {
    none,
    header,     // a request head must arrive in full (from accept, or its first byte)
    body,       // the next piece of a request body must arrive
    keepalive,  // an idle connection may wait this long for its next request
    send,       // the client must take the next piece of our response
    answer,     // a handler that answers later must give the next piece of its answer
    linger,     // a closing client has this long to finish sending
};

struct connection {
    int fd = -1;
    std::uint32_t generation = 0;  // bumped when the slot is reused: stale completions are ignored
    std::uint32_t requests = 0;    // requests answered on this connection
    conn_state state = conn_state::free;
    recv_op recv = recv_op::idle;
    input_state input = input_state::reading;
    timer_kind timer = timer_kind::none;
    bool send_inflight = false;    // one output op at a time; the session's sending() buffer is the kernel's
    op output_op = op::send;       // which (a send, or a step of a file range's splice)
    // Reads in a row (counted up to 2) that found the connection idle (everything answered
    // and sent) and the socket then empty: a client that waits for each answer. Only such
    // a connection gets a multishot recv; the others are read one buffer per batch,
    // because a multishot recv takes as many buffers as the kernel has data for (up to
    // the whole ring, 4 MiB, in one batch), all of it to be kept unparsed if the client
    // does not read.
    std::uint8_t calm_reads = 0;
    bool slow_reader = false;    // it has been paused: its big buffers go back to the kernel
    // The event loop's lists (bookkeeping, not state): to send for after this batch, and
    // to arm a receive for.
    bool flush_queued = false;
    bool rearm_queued = false;
    std::unique_ptr<session> sess;   // while a request is in progress; pooled otherwise

    [[nodiscard]] bool peer_eof() const noexcept { return input == input_state::finished; }
    // Its input is wanted and nothing is armed to read it.
    [[nodiscard]] bool wants_recv() const noexcept {
        return recv == recv_op::idle && input == input_state::reading &&
               (state == conn_state::lingering ||
                // An answer that closes the connection ends the parsing: its input is wanted
                // again only if the close lingers.
                (state == conn_state::open && (sess == nullptr || !sess->closing())));
    }
};

}  // namespace pfd::worker
