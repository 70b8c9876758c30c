#pragma once
// Per-connection state. A connection is small; the parser and output buffers live in
// a session, taken from a pool while a request is in progress and returned when the
// connection goes idle, so thousands of idle keep-alive connections cost little memory.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>

#include "proto/byte_buffer.hpp"
#include "proto/http_date.hpp"
#include "proto/request_parser.hpp"
#include "proto/response.hpp"
#include "proto/router.hpp"
#include "worker/scoreboard.hpp"

namespace pfd::worker {

// What the worker shares with every session while it answers requests.
struct serve_context {
    const proto::router* router = nullptr;
    const proto::date_cache* date = nullptr;
    worker_stats* stats = nullptr;
    std::uint32_t max_requests_per_connection = 0;  // 0: unlimited
    // Output queued on one connection beyond which its input is no longer parsed (a client
    // that pipelines but does not read): what it sends meanwhile waits, unparsed.
    std::size_t max_pending_output = 256 * 1024;
    // The most one request can add to the output (the largest answer, plus 100 Continue):
    // input is parsed in pieces small enough that the limit is passed by one answer at most.
    std::size_t max_answer_bytes = 1024;
    bool draining = false;  // graceful stop: answer what is in flight with Connection: close
};

class session final : public proto::request_sink {
public:
    session(const serve_context& ctx, proto::parser_limits limits) noexcept
        : ctx_{&ctx}, parser_{*this, limits} {}

    // Binds the session to a connection's request counter while it serves it.
    void attach(std::uint32_t& requests_served) noexcept { requests_ = &requests_served; }

    // Parses one read's bytes, appending the responses they complete to out(), until the
    // output reaches max_pending_output; the rest is kept, unparsed, for resume().
    void feed(std::span<const char> bytes) noexcept;
    // Parses kept input while the output stays under max_pending_output.
    void resume() noexcept;
    // Input was kept unparsed: the connection should not be read until it is parsed.
    [[nodiscard]] bool backlogged() const noexcept { return !backlog_.empty(); }
    // Enough output is pending that the client must read before more is parsed or read.
    [[nodiscard]] bool output_full() const noexcept { return output_bytes() >= ctx_->max_pending_output; }
    // Answers with an error status (e.g. 408 on a timeout) and closes after it.
    void fail(int status) noexcept;

    // Part of a request (head or body) has arrived, not all of it.
    [[nodiscard]] bool mid_request() const noexcept { return !parser_.idle(); }
    [[nodiscard]] bool in_head() const noexcept { return parser_.in_head(); }
    // Responses are queued or being sent.
    [[nodiscard]] bool has_output() const noexcept { return !out_.empty() || !sending_.empty(); }
    [[nodiscard]] std::size_t output_bytes() const noexcept { return out_.size() + sending_.size(); }
    // No request half-read and nothing left to send: the session can go back to the pool.
    [[nodiscard]] bool idle() const noexcept { return !mid_request() && !has_output() && backlog_.empty(); }
    // The connection must close once everything queued is sent.
    [[nodiscard]] bool closing() const noexcept { return close_after_; }
    // The client may still be sending (an error cut a request short, or it pipelined past
    // a last request): close gracefully so it reads our answer before any reset.
    [[nodiscard]] bool needs_linger() const noexcept { return parser_.left_input() || failed_; }

    proto::byte_buffer& out() noexcept { return out_; }
    proto::byte_buffer& sending() noexcept { return sending_; }
    // Ready for another connection. Buffers that grew past keep_capacity are given back,
    // so a pooled session holds only what ordinary traffic needs.
    void reset(std::size_t keep_capacity) noexcept;

    void on_request_head(const proto::request_head& head) noexcept override;
    void on_request_complete() noexcept override;

private:
    // Parses a prefix of bytes, stopping once the output is full; returns its length.
    std::size_t parse_some(std::span<const char> bytes) noexcept;

    const serve_context* ctx_;
    proto::request_parser parser_;
    proto::byte_buffer out_;      // responses not yet handed to the kernel
    proto::byte_buffer sending_;  // the bytes of the send in flight
    proto::byte_buffer backlog_;  // input read while the output was full, not parsed yet
    std::uint32_t* requests_ = nullptr;
    // The answer chosen when the head arrived, written when the body has passed.
    const proto::prepared_response* answer_ = nullptr;
    proto::connection_header answer_conn_ = proto::connection_header::none;
    bool answer_body_ = true;
    bool close_after_ = false;
    bool failed_ = false;
};

enum class conn_state : std::uint8_t {
    free,       // slot unused
    open,       // reading requests, answering them
    lingering,  // answered and shut down for writing; reading and dropping input until EOF
    closing,    // waiting for the recv to be cancelled and the send to finish, then close
};

// Which deadline a connection is under (one at a time, on the worker's timer wheel).
enum class timer_kind : std::uint8_t {
    none,
    header,     // a request head must arrive in full (from accept, or its first byte)
    body,       // the next piece of a request body must arrive
    keepalive,  // an idle connection may wait this long for its next request
    send,       // the client must take the next piece of our response
    linger,     // a closing client has this long to finish sending
};

struct connection {
    int fd = -1;
    std::uint32_t generation = 0;  // bumped when the slot is reused: stale completions are ignored
    std::uint32_t requests = 0;    // requests answered on this connection
    conn_state state = conn_state::free;
    timer_kind timer = timer_kind::none;
    bool recv_armed = false;
    bool recv_multishot = false;   // the armed recv is multishot, and not being cancelled
    // Reads in a row that found the connection idle (everything answered and sent) and
    // the socket then empty: a client that waits for each answer. Only such a connection
    // gets a multishot recv; the others are read one buffer per batch, because a multishot
    // recv takes as many buffers as the kernel has data for (up to the whole ring, 4 MiB,
    // in one batch), all of it to be kept unparsed if the client does not read.
    std::uint8_t calm_reads = 0;
    bool send_inflight = false;
    bool flush_queued = false;   // on the worker's list of connections to send for
    bool rearm_recv = false;     // the recv ended (one-shot, or out of buffers): arm again after the batch
    bool peer_eof = false;       // the client finished sending
    bool input_paused = false;   // too much output pending: not reading until the client reads
    bool slow_reader = false;    // it has been paused so: its big buffers go back to the kernel
    std::unique_ptr<session> sess;   // while a request is in progress; pooled otherwise
};

}  // namespace pfd::worker
