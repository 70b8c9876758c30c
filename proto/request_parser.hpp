#pragma once
// A streaming HTTP/1.x request parser over llhttp in strict mode, with the checks
// llhttp leaves to its user (RFC 9112): bytes in, events out; no I/O.
//
// Header views point into the bytes given to feed() while a head lies within one
// read. When a read ends inside a head, the head's raw bytes are kept in a buffer
// owned by the parser and later reads are appended to it until the head is complete,
// so a head is always contiguous, whatever the split. Body bytes go to the sink as they
// arrive, without a copy: a Content-Length body as llhttp delimits it, a chunked one as
// chunked_decoder de-chunks it.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "proto/byte_buffer.hpp"
#include "proto/chunked_decoder.hpp"
#include "proto/request.hpp"
#include "proto/simple_head.hpp"

namespace pfd::proto {

// The version of llhttp the parser runs on, as "8.1.0" (for -v).
[[nodiscard]] const char* llhttp_version() noexcept;

// Receives parser events, in order, during feed().
class request_sink {
public:
    // The head is complete; its views are valid only during this call.
    virtual void on_request_head(const request_head& head) noexcept = 0;
    // The next bytes of the request's body, in order, after its head: a Content-Length
    // body as it arrives, a chunked one de-chunked (chunk data only). Never empty, never
    // after an error, and never past the body limit: a Content-Length over it is refused
    // on the head, a chunk at the size line that takes the body over it (the chunks
    // before were given). The bytes are valid only during this call. Requests without a
    // body never come here.
    virtual void on_request_body(std::span<const char> /*bytes*/) noexcept {}
    // The whole request, including any body, has arrived.
    virtual void on_request_complete() noexcept = 0;

protected:
    ~request_sink() = default;
};

enum class parse_status : std::uint8_t {
    need_more,  // all bytes consumed; feed more
    closed,     // stopped after a request that ends the connection; ignore the rest
    error,      // malformed or over a limit: answer error_status(), then close
    held,       // stopped after a request whose answer comes later (hold_after_this_request):
                // the last held_back() bytes fed were not parsed; feed them after release_hold()
};

class request_parser {
public:
    request_parser(request_sink& sink, parser_limits limits) noexcept;
    request_parser(const request_parser&) = delete;
    request_parser& operator=(const request_parser&) = delete;

    parse_status feed(std::span<const char> bytes) noexcept;

    // Ready for a fresh connection.
    void reset() noexcept;
    // Whether a common head is read by read_simple_head (on, the default) or every head by
    // llhttp: the tests and the fuzzer compare the two.
    void use_simple_heads(bool on) noexcept { simple_heads_ = on; }
    // The server will close after the request being parsed (a limit, a graceful stop):
    // stop after it as after a client's "Connection: close". Called from the sink.
    void finish_after_this_request() noexcept { last_request_ = true; }
    // The answer to the request being parsed will come later: stop after it, so that what
    // the client pipelined behind it is parsed only once it is answered (answers go out
    // in order). Called from the sink.
    void hold_after_this_request() noexcept { hold_ = true; }
    // The answer came: parsing can go on, from the bytes that were held back.
    void release_hold() noexcept;
    // After feed() returned held: how many of the bytes it was given (at their end) it did not parse.
    [[nodiscard]] std::size_t held_back() const noexcept { return held_back_; }
    [[nodiscard]] bool holding() const noexcept { return stopped_ == parse_status::held; }

    // True between requests: nothing of a next request has arrived yet.
    [[nodiscard]] bool idle() const noexcept { return !in_message_; }
    // Part of a request head has arrived, not all of it.
    [[nodiscard]] bool in_head() const noexcept { return in_head_; }
    // The parser stopped before using every byte it was given (error, or a last request
    // followed by more): the peer may still be sending.
    [[nodiscard]] bool left_input() const noexcept { return left_input_; }
    // The request being parsed, or the one that failed, is a HEAD as far as it has
    // arrived: its answer, an error's too, has no content (RFC 9110 9.3.2). Valid while
    // its head is parsed or kept (during feed(), or between reads), and after an error.
    [[nodiscard]] bool request_is_head() const noexcept;
    // During on_request_head of a head that asks for 100 Continue: whether its whole
    // Content-Length body came in the same bytes (RFC 9110 10.1.1: the 100 may then be
    // omitted). How the bytes were split, not what the head says: not in request_head.
    [[nodiscard]] bool content_came_with_head() const noexcept { return content_with_head_; }
    [[nodiscard]] int error_status() const noexcept { return error_status_; }
    [[nodiscard]] const char* error_reason() const noexcept { return error_reason_; }

private:
    friend struct parser_callbacks;

    // llhttp's callbacks, in request_parser_callbacks.cpp.
    int on_message_begin() noexcept;
    int on_method(const char* at, std::size_t n) noexcept;
    int on_target(const char* at, std::size_t n) noexcept;
    int on_version(const char* at, std::size_t n) noexcept;
    int on_version_complete() noexcept;
    int on_header_name(const char* at, std::size_t n) noexcept;
    int on_header_value(const char* at, std::size_t n) noexcept;
    int on_header_value_complete() noexcept;
    int on_headers_complete() noexcept;
    int on_body(const char* at, std::size_t n) noexcept;
    int on_message_complete() noexcept;
    int finish_message() noexcept;

    void init_llhttp() noexcept;
    const char* read_simple_heads(const char* p, const char* end) noexcept;
    enum class respell : std::uint8_t { reparse, wait, refuse };
    respell respell_content_length_ows(const char* tab, const char* end) noexcept;
    respell respell_kept_ows() noexcept;
    parse_status after_execute(int err, const char* end) noexcept;   // err: an llhttp_errno_t
    parse_status on_unknown_method(const char* end) noexcept;
    parse_status judge_unknown_method() noexcept;
    int fail(int status, const char* reason) noexcept;
    parse_status stop(parse_status why, const char* stopped_at, const char* end) noexcept;
    parse_status hold_at(const char* stopped_at, const char* end) noexcept;
    [[nodiscard]] bool bare_lf_ends_a_line() const noexcept;
    [[nodiscard]] bool content_already_read(std::uint64_t length) const noexcept;
    [[nodiscard]] bool holds_after_message() const noexcept { return hold_ && head_.keep_alive && !last_request_; }
    void keep_partial_head(const char* end) noexcept;
    void keep_from_head_start(const char* end) noexcept;
    [[nodiscard]] bool kept_head_too_large() const noexcept;
    void rebase(const char* old_begin, const char* old_end, const char* new_begin) noexcept;

    // The llhttp_t, held in place (no allocation, no pointer to follow) so that llhttp.h
    // stays inside proto/; request_parser.cpp checks this size and alignment against it.
    static constexpr std::size_t llhttp_size = 96;
    static constexpr std::size_t llhttp_align = 8;
    alignas(llhttp_align) std::byte llhttp_[llhttp_size];
    request_sink* sink_;
    parser_limits limits_;
    request_head head_;
    std::string_view version_;
    byte_buffer spilled_;              // raw bytes of a head that spans reads
    const char* head_start_ = nullptr;
    const char* parse_end_ = nullptr;   // the end of the bytes llhttp is running over
    // Non-zero: the kept head ends inside a Content-Length's trailing OWS, respelled from
    // HTAB to SP up to this offset; llhttp runs over it again once the OWS ends.
    std::size_t ows_kept_ = 0;
    std::size_t header_bytes_ = 0;
    std::uint64_t body_bytes_ = 0;
    chunked_decoder chunked_;
    bool chunked_body_ = false;         // a chunked body is being read (by chunked_)
    bool unknown_method_ = false;       // a method llhttp refused: its line is kept in spilled_
    bool last_request_ = false;         // finish_after_this_request()
    bool hold_ = false;                 // hold_after_this_request()
    std::size_t held_back_ = 0;
    bool simple_heads_ = true;
    simple_head_memo simple_memo_;
    bool in_message_ = false;
    bool in_head_ = false;
    bool left_input_ = false;
    parse_status stopped_ = parse_status::need_more;
    int error_status_ = 0;
    const char* error_reason_ = "";
    bool content_with_head_ = false;    // content_came_with_head()
    bool failed_on_head_ = false;       // request_is_head() when the error came
};

}  // namespace pfd::proto
