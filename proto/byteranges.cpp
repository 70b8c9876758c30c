#include "proto/byteranges.hpp"

#include <algorithm>
#include <charconv>

namespace pfd::proto {

namespace {
constexpr std::string_view dash_dash = "\r\n--";
constexpr std::string_view type_name = "\r\nContent-Type: ";
constexpr std::string_view range_name = "\r\nContent-Range: ";
constexpr std::string_view head_end = "\r\n\r\n";
constexpr std::string_view close_end = "--\r\n";
constexpr std::string_view multipart_prefix = "multipart/byteranges; boundary=";
}  // namespace

boundary_text make_boundary(std::uint64_t bits) noexcept {
    // splitmix64's finalizer: a bijection, so distinct inputs give distinct boundaries.
    bits = (bits ^ (bits >> 30)) * 0xbf58476d1ce4e5b9ULL;
    bits = (bits ^ (bits >> 27)) * 0x94d049bb133111ebULL;
    bits ^= bits >> 31;
    boundary_text out;
    constexpr std::string_view name = "preforkd";
    char* p = std::copy(name.begin(), name.end(), out.text.data());
    for (int shift = 60; shift >= 0; shift -= 4) {
        *p++ = "0123456789abcdef"[(bits >> shift) & 0xF];
    }
    out.size = static_cast<std::uint8_t>(p - out.text.data());
    return out;
}

multipart_type_text multipart_content_type(std::string_view boundary) noexcept {
    boundary = boundary.substr(0, boundary_max);
    multipart_type_text out;
    char* p = std::copy(multipart_prefix.begin(), multipart_prefix.end(), out.text.data());
    p = std::copy(boundary.begin(), boundary.end(), p);
    out.size = static_cast<std::uint8_t>(p - out.text.data());
    return out;
}

std::size_t part_head_size(std::string_view boundary, std::string_view content_type, byte_range r,
                           std::uint64_t size) noexcept {
    const std::size_t type = content_type.empty() ? 0 : type_name.size() + content_type.size();
    return dash_dash.size() + boundary.size() + type + range_name.size() +
           format_content_range(r, size).view().size() + head_end.size();
}

void append_part_head(byte_buffer& out, std::string_view boundary, std::string_view content_type,
                      byte_range r, std::uint64_t size) {
    out.append(dash_dash);
    out.append(boundary);
    if (!content_type.empty()) {
        out.append(type_name);
        out.append(content_type);
    }
    out.append(range_name);
    out.append(format_content_range(r, size).view());
    out.append(head_end);
}

std::size_t closing_delimiter_size(std::string_view boundary) noexcept {
    return dash_dash.size() + boundary.size() + close_end.size();
}

void append_closing_delimiter(byte_buffer& out, std::string_view boundary) {
    out.append(dash_dash);
    out.append(boundary);
    out.append(close_end);
}

std::uint64_t multipart_length(std::string_view boundary, std::string_view content_type,
                               std::span<const byte_range> ranges, std::uint64_t size) noexcept {
    std::uint64_t total = closing_delimiter_size(boundary);
    for (const byte_range& r : ranges) {
        total += part_head_size(boundary, content_type, r, size) + r.length();
    }
    return total;
}

}  // namespace pfd::proto
