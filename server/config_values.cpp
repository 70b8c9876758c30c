#include "server/config_values.hpp"

#include <charconv>
#include <limits>

#include "proto/http_chars.hpp"

namespace pfd::server {

namespace {

struct number_and_unit {
    std::uint64_t number = 0;
    std::string_view unit;
};

tl::expected<number_and_unit, std::string> split(std::string_view text) {
    number_and_unit out;
    const char* end = text.data() + text.size();
    auto [p, ec] = std::from_chars(text.data(), end, out.number);
    if (ec != std::errc{} || p == text.data()) {
        return tl::unexpected("\"" + std::string{text} + "\" does not start with a whole number");
    }
    out.unit = std::string_view{p, static_cast<std::size_t>(end - p)};
    return out;
}

bool times_overflows(std::uint64_t a, std::uint64_t b) noexcept {
    return b != 0 && a > std::numeric_limits<std::uint64_t>::max() / b;
}

// RFC 3986 3.3: pchar = unreserved / pct-encoded / sub-delims / ":" / "@"; '/' separates.
bool is_path_char(char c) noexcept { return proto::is_reg_name_char(c) || c == ':' || c == '@' || c == '/'; }

bool is_unreserved(unsigned octet) noexcept {
    const char c = static_cast<char>(octet);
    return proto::is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

bool is_pct_encoding(std::string_view path, std::size_t i) noexcept {
    return path[i] == '%' && i + 2 < path.size() && proto::is_hex(path[i + 1]) && proto::is_hex(path[i + 2]);
}

// A byte as a message shows it: 'c' when printable ASCII, else its hex value.
std::string show_byte(char c) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) {
        return std::string{"'"} + c + "'";
    }
    const auto hex = proto::hex_digits(u);
    return std::string{"0x"} + hex[0] + hex[1];
}

// The path as a client sends it: every byte that may not appear as-is percent-encoded.
std::string percent_encoded(std::string_view path) {
    std::string out;
    for (std::size_t i = 0; i < path.size(); ++i) {
        const char c = path[i];
        if (is_path_char(c) || is_pct_encoding(path, i)) {
            out += c;
        } else {
            const auto hex = proto::hex_digits(static_cast<unsigned char>(c));
            out += '%';
            out += hex[0];
            out += hex[1];
        }
    }
    return out;
}

bool has_dot_segment(std::string_view path) noexcept {
    while (!path.empty()) {
        path.remove_prefix(1);   // the '/'
        const std::string_view segment = path.substr(0, path.find('/'));
        if (segment == "." || segment == "..") {
            return true;
        }
        path.remove_prefix(segment.size());
    }
    return false;
}

}  // namespace

tl::expected<std::chrono::milliseconds, std::string> parse_duration(std::string_view text) {
    auto parts = split(text);
    if (!parts) {
        return tl::unexpected(parts.error() + " (write e.g. \"500ms\", \"10s\", \"2m\")");
    }
    std::uint64_t scale = 0;
    if (parts->unit == "ms") {
        scale = 1;
    } else if (parts->unit == "s") {
        scale = 1000;
    } else if (parts->unit == "m") {
        scale = 60'000;
    } else if (parts->unit == "h") {
        scale = 3'600'000;
    } else {
        return tl::unexpected("\"" + std::string{text} + "\" needs a unit: ms, s, m or h");
    }
    constexpr std::uint64_t max_ms = 7ULL * 24 * 3'600'000;   // a week is plenty for any timeout
    if (times_overflows(parts->number, scale) || parts->number * scale > max_ms) {
        return tl::unexpected("\"" + std::string{text} + "\" is longer than a week");
    }
    return std::chrono::milliseconds{static_cast<std::int64_t>(parts->number * scale)};
}

tl::expected<std::uint64_t, std::string> parse_size(std::string_view text) {
    auto parts = split(text);
    if (!parts) {
        return tl::unexpected(parts.error() + " (write e.g. \"512KiB\", \"1MiB\")");
    }
    const std::string_view u = parts->unit;
    std::uint64_t scale = 0;
    if (u.empty() || u == "B") {
        scale = 1;
    } else if (u == "KiB" || u == "k" || u == "K") {
        scale = 1ULL << 10;
    } else if (u == "MiB" || u == "M") {
        scale = 1ULL << 20;
    } else if (u == "GiB" || u == "G") {
        scale = 1ULL << 30;
    } else {
        return tl::unexpected("\"" + std::string{text} + "\" has an unknown unit; use B, KiB, MiB or GiB");
    }
    if (times_overflows(parts->number, scale)) {
        return tl::unexpected("\"" + std::string{text} + "\" is too large");
    }
    return parts->number * scale;
}

route_path_check check_route_path(std::string_view path) {
    route_path_check out;
    if (path.empty() || path.front() != '/') {
        out.error = "must start with '/'";
        return out;
    }
    std::string_view odd_encoding;
    for (std::size_t i = 0; i < path.size(); ++i) {
        const char c = path[i];
        if (is_path_char(c)) {
            continue;
        }
        if (is_pct_encoding(path, i)) {
            const unsigned octet = proto::hex_value(path[i + 1]) * 16 + proto::hex_value(path[i + 2]);
            const bool lower = (path[i + 1] >= 'a' && path[i + 1] <= 'f') || (path[i + 2] >= 'a' && path[i + 2] <= 'f');
            if (odd_encoding.empty() && (lower || is_unreserved(octet))) {
                odd_encoding = path.substr(i, 3);
            }
            i += 2;
            continue;
        }
        const std::string at = " (byte " + std::to_string(i + 1) + ")";
        if (c == '?') {
            out.error = "'?'" + at + " starts a query, and requests are routed by their path alone: no request "
                        "path contains it (a literal '?' is written %3F)";
        } else if (c == '#') {
            out.error = "'#'" + at + " starts a fragment, which is never sent in a request (a literal '#' is "
                        "written %23)";
        } else if (c == '%') {
            out.error = "'%'" + at + " does not start a percent-encoding (%XX with two hex digits): no valid "
                        "request path contains it; a literal '%' is written %25: \"" + percent_encoded(path) + "\"";
        } else {
            out.error = show_byte(c) + at + " cannot appear in a request path (RFC 9112 3.2.1, RFC 3986 3.3); "
                        "clients send it percent-encoded, and routes are compared with the request path as sent: "
                        "write \"" + percent_encoded(path) + "\"";
        }
        return out;
    }
    if (has_dot_segment(path)) {
        out.warning = "has a \".\" or \"..\" segment, which clients remove before sending (RFC 3986 5.2.4): "
                      "most requests can never match it";
    } else if (!odd_encoding.empty()) {
        out.warning = "spells " + std::string{odd_encoding} + " in a way clients may normalise (RFC 3986 6.2.2: "
                      "uppercase hex digits, unreserved characters not encoded); routes are not decoded before "
                      "matching, so it matches only requests spelled exactly the same way";
    }
    return out;
}

}  // namespace pfd::server
