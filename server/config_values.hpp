#pragma once
// Typed values written as strings in the configuration: durations, sizes, route paths.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

namespace pfd::server {

// "250ms", "10s", "2m", "1h" (a whole number and a unit).
tl::expected<std::chrono::milliseconds, std::string> parse_duration(std::string_view text);

// "512", "512B", "64KiB", "1MiB", "2GiB" (also "k"/"K", "M", "G", as nginx: powers of 1024).
tl::expected<std::uint64_t, std::string> parse_size(std::string_view text);

// What a route path can match. The router compares it byte for byte with the path of a
// request target, which is never decoded, so the path must be spelled as a client sends
// it: an origin-form absolute-path (RFC 9112 3.2.1), "/" and segments of pchar (RFC 3986
// 3.3: unreserved, pct-encoded, sub-delims, ':' and '@').
struct route_path_check {
    std::string error;    // set: no request can ever match it
    std::string warning;  // set: matches only clients that do not normalise what they send
};
route_path_check check_route_path(std::string_view path);

}  // namespace pfd::server
