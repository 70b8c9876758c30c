#pragma once
// multipart/byteranges (RFC 9110 14.6) for a 206 with several ranges: the bytes around
// each part, so the handler can send Content-Length first and the file's bytes between
// the heads without copying them.
//
//   body = for each range: part_head, the range's bytes;  then closing_delimiter
//   part_head         = "\r\n--" boundary "\r\n" [ "Content-Type: " type "\r\n" ]
//                       "Content-Range: bytes a-b/N\r\n\r\n"
//   closing_delimiter = "\r\n--" boundary "--\r\n"
// (The first head's leading CRLF is the multipart preamble's end, as nginx and Apache
// send it; RFC 2046 5.1.1 allows it.)
#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "proto/byte_buffer.hpp"
#include "proto/http_range.hpp"

namespace pfd::proto {

// "preforkd" + 16 hex digits. The boundary must not occur in the file's bytes (RFC 2046
// 5.1.1): pass bits nobody choosing the file's content can guess per response, e.g. a
// per-worker getrandom seed plus a counter; they go through splitmix64's finalizer so a
// counter's neighbours do not give neighbouring boundaries. Proto stays pure: no
// randomness of its own.
struct boundary_text {
    std::array<char, 24> text{};
    std::uint8_t size = 0;
    [[nodiscard]] std::string_view view() const noexcept { return {text.data(), size}; }
};
[[nodiscard]] boundary_text make_boundary(std::uint64_t bits) noexcept;

// The response's Content-Type: "multipart/byteranges; boundary=<boundary>"; a boundary
// is at most 70 bytes (RFC 2046), longer ones are cut there.
inline constexpr std::size_t boundary_max = 70;
struct multipart_type_text {
    std::array<char, 31 + boundary_max> text{};
    std::uint8_t size = 0;
    [[nodiscard]] std::string_view view() const noexcept { return {text.data(), size}; }
};
[[nodiscard]] multipart_type_text multipart_content_type(std::string_view boundary) noexcept;

// `content_type` is the file's own ("" = no Content-Type line in the parts).
[[nodiscard]] std::size_t part_head_size(std::string_view boundary, std::string_view content_type,
                                         byte_range r, std::uint64_t size) noexcept;
void append_part_head(byte_buffer& out, std::string_view boundary, std::string_view content_type,
                      byte_range r, std::uint64_t size);

[[nodiscard]] std::size_t closing_delimiter_size(std::string_view boundary) noexcept;
void append_closing_delimiter(byte_buffer& out, std::string_view boundary);

// The whole body's length: every head, every range's bytes, the closing delimiter.
[[nodiscard]] std::uint64_t multipart_length(std::string_view boundary, std::string_view content_type,
                                             std::span<const byte_range> ranges, std::uint64_t size) noexcept;

}  // namespace pfd::proto
