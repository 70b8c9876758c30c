#pragma once
// IMF-fixdate (RFC 9110 5.6.7), e.g. "Sun, 06 Nov 1994 08:49:37 GMT": always 29 bytes.
#include <array>
#include <ctime>
#include <string_view>

namespace pfd::proto {

inline constexpr std::size_t http_date_size = 29;

std::array<char, http_date_size> format_http_date(std::time_t t) noexcept;

// The Date header value for the current second, reformatted only when the second changes.
class date_cache {
public:
    date_cache() noexcept { refresh(std::time(nullptr)); }
    void refresh(std::time_t now) noexcept {
        if (now != second_) {
            second_ = now;
            text_ = format_http_date(now);
        }
    }
    [[nodiscard]] std::string_view view() const noexcept { return {text_.data(), text_.size()}; }

private:
    std::time_t second_ = -1;
    std::array<char, http_date_size> text_{};
};

}  // namespace pfd::proto
