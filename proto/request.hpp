#pragma once
// The head of one HTTP/1.x request: views into bytes owned by the parser's caller
// (or by the parser's own head buffer when a head arrived in several reads).
#include <array>
#include <cstdint>
#include <string>
#include <string_view>

namespace pfd::proto {

struct header {
    std::string_view name;
    std::string_view value;
};

enum class method : std::uint8_t { get, head, post, put, del, options, connect, other };

// RFC 9112 3.2: how the request target is written.
enum class target_form : std::uint8_t {
    origin,    // "/path?query"
    absolute,  // "http://host/path?query" (a proxy-style request)
    asterisk,  // "*" (OPTIONS only)
};

// What the parser accepts in a request before refusing it.
struct parser_limits {
    std::size_t max_request_line = 8 * 1024;   // method and target, else 414
    std::size_t max_header_bytes = 32 * 1024;  // all header lines, else 431
    std::size_t max_headers = 100;             // header fields, else 431 (at most request_head::max_headers)
    std::uint64_t max_body_bytes = 1024 * 1024;  // request body, else 413
};

struct request_head {
    // A hard cap; [limits] max_headers may set a lower one.
    static constexpr std::size_t max_headers = 100;

    std::string_view method_name;
    proto::method method = method::other;
    std::string_view target;
    target_form form = target_form::origin;
    std::string_view path;       // the target's path, without query; "*" for asterisk-form
    std::string_view authority;  // absolute-form only (not kept up otherwise): the target's authority
    std::uint8_t version_major = 1;
    std::uint8_t version_minor = 1;
    bool keep_alive = true;      // after this request, per version and Connection
    bool has_body = false;       // Content-Length > 0 or chunked
    bool expect_continue = false;  // "Expect: 100-continue" on an HTTP/1.1 request with a body
    std::array<header, max_headers> headers{};
    std::uint16_t header_count = 0;

    // The first line's value of the field `name` ("" if absent).
    [[nodiscard]] std::string_view find_header(std::string_view name) const noexcept;
    // The field's value as RFC 9110 5.3 defines it: the one line's, or, for a field sent on
    // several lines, their values joined in order with ", " in `joined`, a view of which is
    // returned. A singleton field (a date, Range) sent twice so reads as one invalid value,
    // which is what 13.1.3 and 14.2 want ignored. "" if absent.
    [[nodiscard]] std::string_view combined_field(std::string_view name, std::string& joined) const;
    // RFC 9112 3.2.2: an absolute-form target's authority, else Host's (empty if neither).
    [[nodiscard]] std::string_view effective_authority() const noexcept {
        return form == target_form::absolute ? authority : find_header("host");
    }
};

// ASCII case-insensitive equality (field names, tokens); inline: it runs for every header.
inline bool iequals(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size()) {
        return false;
    }
    auto lower = [](char c) noexcept {
        return (c >= 'A' && c <= 'Z') ? static_cast<char>(c | 0x20) : c;
    };
    for (std::size_t i = 0; i < a.size(); ++i) {
        if (lower(a[i]) != lower(b[i])) {
            return false;
        }
    }
    return true;
}


}  // namespace pfd::proto
