#pragma once
// Per-connection state. A connection is small; the parser and output buffers live in
// a session, taken from a pool while a request is in progress and returned when the
// connection goes idle, so thousands of idle keep-alive connections cost little memory.
#include <cstdint>

#include "proto/byte_buffer.hpp"
#include "proto/http_date.hpp"
#include "proto/request_parser.hpp"
#include "proto/response.hpp"
#include "proto/router.hpp"

namespace pfd::worker {

// What the worker shares with every session while it answers requests.
struct serve_context {
    const proto::router* router = nullptr;
    const proto::date_cache* date = nullptr;
    bool draining = false;  // graceful stop: answer what is in flight with Connection: close
};

class session final : public proto::request_sink {
public:
    session(const serve_context& ctx, proto::parser_limits limits) noexcept
        : ctx_{&ctx}, parser_{*this, limits} {}

    // Parses one read's bytes, appending the responses they complete to out().
    proto::parse_status feed(std::span<const char> bytes) noexcept;

    // No request half-read and nothing left to send: the session can go back to the pool.
    [[nodiscard]] bool idle() const noexcept { return parser_.idle() && out_.empty() && sending_.empty(); }
    // The connection must close once everything queued is sent.
    [[nodiscard]] bool closing() const noexcept { return close_after_; }

    proto::byte_buffer& out() noexcept { return out_; }
    proto::byte_buffer& sending() noexcept { return sending_; }
    void reset() noexcept;

    void on_request_head(const proto::request_head& head) noexcept override;
    void on_request_complete() noexcept override;

private:
    void write(const proto::prepared_response& r, proto::connection_header conn, bool with_body) noexcept;

    const serve_context* ctx_;
    proto::request_parser parser_;
    proto::byte_buffer out_;      // responses not yet handed to the kernel
    proto::byte_buffer sending_;  // the bytes of the send in flight
    // The answer chosen when the head arrived, written when the body has passed.
    const proto::prepared_response* answer_ = nullptr;
    proto::connection_header answer_conn_ = proto::connection_header::none;
    bool answer_body_ = true;
    bool close_after_ = false;
};

enum class conn_state : std::uint8_t {
    free,     // slot unused
    open,     // reading requests, answering them
    closing,  // waiting for the recv to be cancelled and the send to finish, then close
};

struct connection {
    int fd = -1;
    std::uint32_t generation = 0;  // bumped when the slot is reused: stale completions are ignored
    conn_state state = conn_state::free;
    bool recv_armed = false;
    bool send_inflight = false;
    bool flush_queued = false;   // on the worker's list of connections to send for
    bool rearm_recv = false;     // multishot recv ended (no buffers): arm again after the batch
    bool peer_eof = false;       // the client finished sending
    session* sess = nullptr;
};

}  // namespace pfd::worker
