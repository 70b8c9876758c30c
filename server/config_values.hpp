#pragma once
// Typed values written as strings in the configuration: durations and sizes.
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

}  // namespace pfd::server
