#pragma once
// Equality of short byte strings (a route's path, a Host, a Date) in a few word loads
// instead of a call to memcmp, which for a few bytes costs more in the call than in
// the comparing. Words overlap where the length is not a multiple of 8.
#include <cstdint>
#include <cstring>
#include <string_view>

namespace pfd::proto {

namespace detail {
[[gnu::always_inline]] inline std::uint64_t word_at(const char* p) noexcept {
    std::uint64_t w = 0;
    std::memcpy(&w, p, sizeof w);
    return w;
}
}  // namespace detail

[[gnu::always_inline]] inline bool bytes_equal(std::string_view a, std::string_view b) noexcept {
    const std::size_t n = a.size();
    if (n != b.size()) {
        return false;
    }
    const char* x = a.data();
    const char* y = b.data();
    using detail::word_at;
    if (n >= 8 && n <= 16) {
        return ((word_at(x) ^ word_at(y)) | (word_at(x + n - 8) ^ word_at(y + n - 8))) == 0;
    }
    if (n > 16 && n <= 32) {
        return ((word_at(x) ^ word_at(y)) | (word_at(x + 8) ^ word_at(y + 8)) |
                (word_at(x + n - 16) ^ word_at(y + n - 16)) | (word_at(x + n - 8) ^ word_at(y + n - 8))) == 0;
    }
    if (n < 8) {
        for (std::size_t i = 0; i < n; ++i) {
            if (x[i] != y[i]) {
                return false;
            }
        }
        return true;
    }
    return std::memcmp(x, y, n) == 0;
}

}  // namespace pfd::proto
