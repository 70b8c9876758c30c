#pragma once
// IMF-fixdate (RFC 9110 5.6.7), e.g. "Sun, 06 Nov 1994 08:49:37 GMT": always 29 bytes.
#include <array>
#include <ctime>
#include <optional>
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
    [[nodiscard]] std::time_t second() const noexcept { return second_; }

private:
    std::time_t second_ = -1;
    std::array<char, http_date_size> text_{};
};

// An HTTP-date (RFC 9110 5.6.7) as unix seconds: IMF-fixdate and, as a recipient MUST
// accept, the obsolete RFC 850 ("Sunday, 06-Nov-94 08:49:37 GMT") and asctime
// ("Sun Nov  6 08:49:37 1994") forms. Case-sensitive, as the grammar is; OWS around the
// value is ignored. The weekday must be a weekday name but is not checked against the
// date (as nginx and curl do). std::nullopt for anything else, so a conditional header
// with a bad date is ignored (RFC 9110 13.1.3, 13.1.4). `now` resolves RFC 850's two-digit
// year: a year more than 50 years in the future is taken from the previous century.
[[nodiscard]] std::optional<std::time_t> parse_http_date(std::string_view text, std::time_t now) noexcept;

}  // namespace pfd::proto
