#pragma once
// A streaming HTTP/1.x request parser over llhttp. Bytes in, events out; no I/O.
//
// Header views point into the bytes given to feed() while a head lies within one
// read. When a read ends inside a head, the head's tokens are copied into a buffer
// owned by the parser (the caller's bytes may be recycled), so a head can arrive
// over any number of reads. Only heads are kept: bodies are passed over.
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include <llhttp.h>

#include "proto/byte_buffer.hpp"
#include "proto/request.hpp"

namespace pfd::proto {

struct parser_limits {
    std::size_t max_request_line = 8 * 1024;   // target length, else 414
    std::size_t max_header_bytes = 32 * 1024;  // all header lines, else 431
};

// Receives parser events, in order, during feed().
class request_sink {
public:
    // The head is complete; its views are valid only during this call.
    virtual void on_request_head(const request_head& head) noexcept = 0;
    // The whole request, including any body, has arrived.
    virtual void on_request_complete() noexcept = 0;

protected:
    ~request_sink() = default;
};

enum class parse_status : std::uint8_t {
    need_more,  // all bytes consumed; feed more
    closed,     // stopped after a request that ends the connection; ignore the rest
    error,      // malformed or over a limit: answer error_status(), then close
};

class request_parser {
public:
    request_parser(request_sink& sink, parser_limits limits) noexcept;
    request_parser(const request_parser&) = delete;
    request_parser& operator=(const request_parser&) = delete;

    parse_status feed(std::span<const char> bytes) noexcept;

    // Ready for a fresh connection.
    void reset() noexcept;

    // True between requests: nothing of a next request has arrived yet.
    [[nodiscard]] bool idle() const noexcept { return !in_message_; }
    [[nodiscard]] int error_status() const noexcept { return error_status_; }
    [[nodiscard]] const char* error_reason() const noexcept { return error_reason_; }

private:
    friend struct parser_callbacks;

    int on_message_begin() noexcept;
    int on_method(const char* at, std::size_t n) noexcept;
    int on_target(const char* at, std::size_t n) noexcept;
    int on_header_name(const char* at, std::size_t n) noexcept;
    int on_header_value(const char* at, std::size_t n) noexcept;
    int on_header_value_complete() noexcept;
    int on_headers_complete() noexcept;
    int on_message_complete() noexcept;

    int fail(int status, const char* reason) noexcept;
    // Adds bytes to a token, copying them into the head buffer once spilled.
    int extend(std::string_view& token, const char* at, std::size_t n) noexcept;
    void spill(const char* chunk_end) noexcept;
    void rebase(const char* old_begin, const char* old_end, const char* new_begin) noexcept;

    llhttp_t llhttp_{};
    request_sink* sink_;
    parser_limits limits_;
    request_head head_;
    byte_buffer spilled_;           // the head's tokens, once a head spans reads
    const char* head_start_ = nullptr;
    std::size_t header_bytes_ = 0;
    bool in_message_ = false;
    bool in_head_ = false;
    bool is_spilled_ = false;
    parse_status stopped_ = parse_status::need_more;
    int error_status_ = 0;
    const char* error_reason_ = "";
};

}  // namespace pfd::proto
