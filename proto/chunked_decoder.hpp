#pragma once
// The chunked transfer coding of a request body (RFC 9112 7.1), decoded strictly:
// bytes in, how many of them belong to the body and where its data lies out; no I/O,
// no copies.
//
// feed() stops at each run of chunk data and hands it out as a view into the bytes it
// was given (only data: never a size, an extension, a CRLF or a trailer). What is
// checked is the framing, since a body misread here is a request smuggled into the next one:
//   chunk-size = 1*HEXDIG, never over the body limit (413 at the end of its digits,
//   before any data arrives; 400 for digits no 64 bits hold);
//   chunk-ext = *( BWS ";" BWS name [ BWS "=" BWS value ] ), value a token or quoted-string; every line ends in CRLF (a bare CR or LF is a 400);
//   chunk data is followed by CRLF; trailer fields are "name:value" lines with a token
//   name and no CTL but HTAB in the value, counted against the header limits (431).
#include <cstddef>
#include <cstdint>
#include <span>

namespace pfd::proto {

struct chunked_limits {
    std::uint64_t max_body_bytes = 1024 * 1024;  // chunk data, summed (else 413)
    std::size_t max_trailer_bytes = 32 * 1024;   // trailer section (else 431)
    std::size_t max_trailer_fields = 100;        // trailer fields (else 431)
    std::size_t max_line = 4096;                 // a chunk-size line with its extensions (else 400)
};

class chunked_decoder {
public:
    enum class status : std::uint8_t {
        need_more,  // every byte given belongs to the body; feed more
        data,       // `data` is chunk data (ending `consumed` bytes in); feed the rest
        done,       // the body ended `consumed` bytes in; the rest is the next request
        error,      // malformed or over a limit: error_status(), then close
    };
    struct progress {
        status st;
        std::size_t consumed;
        std::span<const char> data{};   // with status::data: never empty
    };

    // Ready for a new body.
    void start(chunked_limits limits) noexcept;
    progress feed(std::span<const char> bytes) noexcept;

    [[nodiscard]] std::uint64_t body_bytes() const noexcept { return body_bytes_; }
    [[nodiscard]] int error_status() const noexcept { return error_status_; }
    [[nodiscard]] const char* error_reason() const noexcept { return error_reason_; }

private:
    enum class state : std::uint8_t {
        size_first,       // the first hex digit of a chunk size
        size,             // more hex digits
        ext_ws,           // BWS, then only ';' may follow
        ext_name_start,   // after ';': BWS, then a token
        ext_name,         // in an extension name
        ext_name_ws,      // BWS after a name: '=' or ';'
        ext_value_start,  // after '=': BWS, then a token or quoted-string
        ext_token,        // in a token value
        ext_quoted,       // in a quoted-string value
        ext_quoted_pair,  // after a backslash in a quoted-string
        ext_after_value,  // after a closing quote
        size_line_lf,     // the LF of a chunk-size line
        data,             // chunk data
        data_cr,          // the CR after chunk data
        data_lf,          // the LF after chunk data
        trailer_start,    // a trailer field's first byte, or the CR of the last line
        trailer_name,     // in a trailer field name
        trailer_value,    // in a trailer field value
        trailer_lf,       // the LF ending a trailer field
        last_lf,          // the LF of the empty line ending the body
        done,
        failed,
    };

    // One byte of a framing line; false when it is malformed (error already set).
    bool step(char c) noexcept;
    bool fail(int status_code, const char* reason) noexcept;

    chunked_limits limits_{};
    state state_ = state::size_first;
    std::uint64_t chunk_left_ = 0;   // data bytes of the current chunk still to come
    bool size_overflows_ = false;    // the chunk-size being read does not fit in 64 bits
    std::uint64_t body_bytes_ = 0;
    std::size_t line_bytes_ = 0;     // of the current chunk-size line
    std::size_t trailer_bytes_ = 0;
    std::size_t trailer_fields_ = 0;
    int error_status_ = 0;
    const char* error_reason_ = "";
};

}  // namespace pfd::proto
