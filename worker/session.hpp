#pragma once
// What a connection needs while a request is in progress: the parser, the exchange
// with the handler that answers, and the output buffers. Sessions are pooled (a
// connection holds one only while it has something in flight), and need no io_uring:
// bytes in, response bytes out, so they are unit-tested on their own.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "base/clock.hpp"
#include "handlers/exchange.hpp"
#include "handlers/handler.hpp"
#include "handlers/route_table.hpp"
#include "proto/byte_buffer.hpp"
#include "proto/http_date.hpp"
#include "proto/request_parser.hpp"
#include "proto/response.hpp"
#include "worker/access_log.hpp"
#include "worker/file_transfer.hpp"
#include "worker/scoreboard.hpp"

namespace pfd::worker {

// Told when a session has output that came outside a read (a deferred answer).
class output_waker {
public:
    virtual void output_ready(std::uint32_t slot) noexcept = 0;

protected:
    ~output_waker() = default;
};

// CLOCK_MONOTONIC in µs for request durations, read at most once per batch of
// completions, and only for a request that outlasts the batch it began in: most begin
// and end within one batch (0 at this resolution) and need no read at all.
class batch_clock {
public:
    void next_batch() noexcept { ++batch_; }
    [[nodiscard]] std::uint64_t batch() const noexcept { return batch_; }
    [[nodiscard]] std::uint64_t now_us() const noexcept {
        if (read_in_ != batch_) {
            now_ = monotonic_us();
            read_in_ = batch_;
        }
        return now_;
    }

private:
    std::uint64_t batch_ = 1;
    mutable std::uint64_t read_in_ = 0;
    mutable std::uint64_t now_ = 0;
};

// What the worker shares with every session while it answers requests.
struct serve_context {
    handlers::route_table* routes = nullptr;
    const proto::date_cache* date = nullptr;
    worker_stats* stats = nullptr;
    std::uint32_t max_requests_per_connection = 0;  // 0: unlimited
    // Output queued on one connection beyond which its input is no longer parsed (a client
    // that pipelines but does not read): what it sends meanwhile waits, unparsed.
    std::size_t max_pending_output = 256 * 1024;
    // Answers a connection gets in one turn (a read, or a resume once its answers are
    // sent): a client that pipelines thousands of requests then delays everyone else on
    // the worker by this many answers per turn, not by a whole read's (some 300 tiny
    // GETs in 8 KiB) or a whole output allowance's (some 2,000). What is left waits,
    // unparsed, for the connection's next turn. At least 1.
    std::uint32_t answers_per_turn = 64;
    bool draining = false;  // graceful stop: answer what is in flight with Connection: close
    // The master's part of the scoreboard: while the server drains (shutdown_delay, -s
    // drain) answers carry Connection: close though this worker still accepts.
    const server_stats* server = nullptr;
    output_waker* waker = nullptr;
    batch_clock clock;   // request durations
    // [log] access; nullptr: off (then a request costs one predictable branch more).
    access_log* access = nullptr;
};

class session final : public proto::request_sink, handlers::exchange_owner {
public:
    session(const serve_context& ctx, proto::parser_limits limits) noexcept
        : ctx_{&ctx}, parser_{*this, limits} {}
    session(const session&) = delete;
    session& operator=(const session&) = delete;
    ~session() { abort_request(); }

    using file_mark = handlers::exchange::staged_file;

    // Binds the session to a connection (its slot, for wake-ups) and its request counter.
    void attach(std::uint32_t& requests_served, std::uint32_t slot = 0) noexcept {
        requests_ = &requests_served;
        start_request_clock();
        slot_ = slot;
    }

    // Parses one read's bytes, appending the responses they complete to out(), until the
    // output reaches max_pending_output or answers_per_turn are answered; the rest is
    // kept, unparsed, for resume().
    void feed(std::span<const char> bytes) noexcept;
    // Parses kept input, as feed() does: the connection's next turn.
    void resume() noexcept;
    // Input was kept unparsed: the connection should not be read until it is parsed.
    [[nodiscard]] bool backlogged() const noexcept { return !backlog_.empty(); }
    // Enough output is pending that the client must read before more is parsed or read.
    [[nodiscard]] bool output_full() const noexcept { return output_bytes() >= ctx_->max_pending_output; }
    // Answers with an error status (e.g. 408 on a timeout) and closes after it.
    void fail(int status) noexcept;
    // The answer a handler deferred did not come in time: 504 if nothing of it was sent
    // (true), else false (the connection can only be closed).
    bool answer_timed_out() noexcept;

    // Part of a request (head or body) has arrived, not all of it.
    [[nodiscard]] bool mid_request() const noexcept { return !parser_.idle(); }
    [[nodiscard]] bool in_head() const noexcept { return parser_.in_head(); }
    // A whole request has arrived and its handler answers later.
    [[nodiscard]] bool awaiting_answer() const noexcept { return phase_ == phase::awaiting; }
    // Responses are queued or being sent.
    [[nodiscard]] bool has_output() const noexcept {
        return !out_.empty() || !sending_.empty() || !out_files_.empty() || !sending_files_.empty();
    }
    // File ranges count at their length: a pipeline of large files is held back as one of
    // large bodies is.
    [[nodiscard]] std::size_t output_bytes() const noexcept { return out_.size() + sending_.size() + file_bytes_; }
    // No request half-read and nothing left to send: the session can go back to the pool.
    [[nodiscard]] bool idle() const noexcept {
        return !mid_request() && phase_ == phase::reading && !has_output() && backlog_.empty();
    }
    // The connection must close once everything queued is sent.
    [[nodiscard]] bool closing() const noexcept { return close_after_; }
    // The client may still be sending (an error cut a request short, or it pipelined past
    // a last request): close gracefully so it reads our answer before any reset.
    [[nodiscard]] bool needs_linger() const noexcept { return parser_.left_input() || failed_ || dropped_input_; }

    // Output: bytes, and file ranges placed in them (at: bytes of the buffer before the
    // range). out() collects; sending() is what the send path works through, in order.
    proto::byte_buffer& out() noexcept { return out_; }
    proto::byte_buffer& sending() noexcept { return sending_; }
    std::vector<file_mark>& out_files() noexcept { return out_files_; }
    std::vector<file_mark>& sending_files() noexcept { return sending_files_; }
    // Moves what out() collected to sending(), which must be empty.
    void start_sending() noexcept;
    // The send path took n bytes of sending() (up to the next file range).
    void sent(std::size_t n) noexcept;
    // The file range at the front of sending() is sent.
    void file_sent() noexcept;
    file_transfer& transfer() noexcept { return transfer_; }
    // Ready for another connection (a handler still waiting for its request's end is told
    // the client went away). Buffers that grew past keep_capacity are given back, so a
    // pooled session holds only what ordinary traffic needs.
    void reset(std::size_t keep_capacity) noexcept;
    // A buffer grew past keep_capacity (for one large answer or request).
    [[nodiscard]] bool grown(std::size_t keep_capacity) const noexcept {
        return out_.capacity() > keep_capacity || sending_.capacity() > keep_capacity ||
               backlog_.capacity() > keep_capacity;
    }

    void on_request_head(const proto::request_head& head) noexcept override;
    void on_request_body(std::span<const char> bytes) noexcept override;
    void on_request_complete() noexcept override;

private:
    enum class phase : std::uint8_t {
        reading,    // between requests, or a request is being parsed
        awaiting,   // the request is complete; its handler answers later (the parser holds)
    };

    void answer_moved() noexcept override;
    // Appends what the handler gave since the last time: the head, then body pieces.
    void take_built() noexcept;
    // The answer is complete: the request is done with, and parsing may go on.
    void finish_request() noexcept;
    // Parses bytes until the parser holds (the output is full, the turn is over, or an
    // answer is awaited); returns how many it took.
    std::size_t parse_some(std::span<const char> bytes) noexcept;
    // A new turn (feed or resume): its answers count from 0, and a parser held for the
    // last turn goes on if the output has room.
    void start_turn() noexcept;
    // The handler of the request in progress will not see it end.
    void abort_request() noexcept;
    void write_answer() noexcept;
    void unanswered() noexcept;

    const serve_context* ctx_;
    proto::request_parser parser_;
    proto::byte_buffer out_;      // responses not yet handed to the kernel
    proto::byte_buffer sending_;  // the bytes of the send in flight
    proto::byte_buffer backlog_;  // input read but not parsed yet (output full, turn over)
    std::vector<file_mark> out_files_;
    std::vector<file_mark> sending_files_;
    std::size_t file_bytes_ = 0;   // the length of the file ranges in the output
    file_transfer transfer_;
    std::uint32_t* requests_ = nullptr;
    std::uint32_t slot_ = 0;
    phase phase_ = phase::reading;
    bool head_written_ = false;   // of a built answer
    bool dropped_input_ = false;  // pipelined input dropped after a deferred last answer
    bool turn_held_ = false;      // the parser holds: the output is full or the turn is over
    std::uint32_t turn_answers_ = 0;   // answered in this turn (feed or resume)
    handlers::handler* handler_ = nullptr;   // from the head to the end of the request
    handlers::exchange exchange_;
    proto::connection_header answer_conn_ = proto::connection_header::none;
    bool close_after_ = false;
    bool failed_ = false;
    int answer_status_ = 0;             // of the request in progress, once its head is written
    // When the request in progress began (its head; or, for one that fails before its
    // head, the end of the one before): the batch, and its time once it outlasts it (0
    // until then).
    std::uint64_t request_batch_ = 0;
    std::uint64_t request_start_us_ = 0;

    void start_request_clock() noexcept {
        request_batch_ = ctx_->clock.batch();
        request_start_us_ = 0;
    }
    // At the end of a batch's parsing: a request still in progress (its body to come, or
    // its answer) has its start time read, once.
    void time_unfinished_request() noexcept {
        if (request_start_us_ == 0 && request_batch_ == ctx_->clock.batch() && (mid_request() || awaiting_answer())) {
            request_start_us_ = ctx_->clock.now_us();
        }
    }
    [[nodiscard]] std::uint64_t request_duration_us() const noexcept {
        if (request_batch_ == ctx_->clock.batch() || request_start_us_ == 0) {
            return 0;
        }
        return ctx_->clock.now_us() - request_start_us_;
    }
    // The bytes of the answer in progress put in the output (head and body; file ranges
    // at their length), for the access log (counted only while it is on).
    std::uint64_t answer_bytes_ = 0;
    // With the access log on, what its line says of the request, copied from the head
    // (which lives in a receive buffer only while it is parsed): empty when no head came.
    std::string log_request_;
    std::string log_referer_;
    std::string log_agent_;

    // The one place an answer is counted (the scoreboard) and logged (the access log).
    void record_answer(int status) noexcept;
    [[gnu::cold]] void note_head_for_log(const proto::request_head& head) noexcept;
    [[gnu::cold]] void log_access(int status, std::uint64_t duration_us) noexcept;
    // Appends an answer's bytes to out_ and counts them.
    // Counted only with the log on: off, it costs one predictable branch.
    template <class F>
    void write_counted(F&& write) noexcept {
        if (ctx_->access == nullptr) [[likely]] {
            write();
            return;
        }
        const std::size_t before = out_.size();
        write();
        answer_bytes_ += out_.size() - before;
    }
};

}  // namespace pfd::worker
