#include "server/config_values.hpp"

#include <charconv>
#include <limits>

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

}  // namespace pfd::server
