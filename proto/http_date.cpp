#include "proto/http_date.hpp"

#include <cstdint>

#include "proto/http_chars.hpp"

namespace pfd::proto {

namespace {
constexpr std::string_view days = "SunMonTueWedThuFriSat";
constexpr std::string_view months = "JanFebMarAprMayJunJulAugSepOctNovDec";

char* put2(char* p, int v) noexcept {
    p[0] = static_cast<char>('0' + v / 10);
    p[1] = static_cast<char>('0' + v % 10);
    return p + 2;
}
}  // namespace

std::array<char, http_date_size> format_http_date(std::time_t t) noexcept {
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::array<char, http_date_size> out{};
    char* p = out.data();
    for (int i = 0; i < 3; ++i) {
        *p++ = days[static_cast<std::size_t>(tm.tm_wday * 3 + i)];
    }
    *p++ = ',';
    *p++ = ' ';
    p = put2(p, tm.tm_mday);
    *p++ = ' ';
    for (int i = 0; i < 3; ++i) {
        *p++ = months[static_cast<std::size_t>(tm.tm_mon * 3 + i)];
    }
    *p++ = ' ';
    const int year = tm.tm_year + 1900;
    p = put2(p, year / 100);
    p = put2(p, year % 100);
    *p++ = ' ';
    p = put2(p, tm.tm_hour);
    *p++ = ':';
    p = put2(p, tm.tm_min);
    *p++ = ':';
    p = put2(p, tm.tm_sec);
    *p++ = ' ';
    *p++ = 'G';
    *p++ = 'M';
    *p = 'T';
    return out;
}

namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil):
// exact for every year, no table, no libc time zone state.
constexpr std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) noexcept {
    y -= m <= 2 ? 1 : 0;
    const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
    const auto yoe = static_cast<unsigned>(y - era * 400);
    const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

// The Gregorian year containing unix second t (the inverse of the above, year only).
constexpr std::int64_t year_of(std::time_t t) noexcept {
    std::int64_t z = static_cast<std::int64_t>(t) / 86400;
    if (static_cast<std::int64_t>(t) % 86400 < 0) {
        --z;
    }
    z += 719468;
    const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    const auto doe = static_cast<unsigned>(z - era * 146097);
    const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    const unsigned mp = (5 * doy + 2) / 153;
    return static_cast<std::int64_t>(yoe) + era * 400 + (mp >= 10 ? 1 : 0);
}

constexpr bool is_leap(std::int64_t y) noexcept {
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

constexpr unsigned days_in_month(std::int64_t y, unsigned m) noexcept {
    constexpr unsigned len[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : len[m - 1];
}

constexpr std::string_view long_days[7] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                           "Thursday", "Friday", "Saturday"};

// A left-to-right reader over the field value; every take_* fails without consuming.
struct date_reader {
    std::string_view s;

    bool lit(std::string_view l) noexcept {
        if (!s.starts_with(l)) {
            return false;
        }
        s.remove_prefix(l.size());
        return true;
    }
    // Exactly n ASCII digits.
    bool digits(std::size_t n, unsigned& out) noexcept {
        if (s.size() < n) {
            return false;
        }
        unsigned v = 0;
        for (std::size_t i = 0; i < n; ++i) {
            if (s[i] < '0' || s[i] > '9') {
                return false;
            }
            v = v * 10 + static_cast<unsigned>(s[i] - '0');
        }
        s.remove_prefix(n);
        out = v;
        return true;
    }
    // A three-letter name from a table of concatenated names; its index.
    bool name3(std::string_view table, unsigned& out) noexcept {
        if (s.size() < 3) {
            return false;
        }
        for (std::size_t i = 0; i + 3 <= table.size(); i += 3) {
            if (s.substr(0, 3) == table.substr(i, 3)) {
                out = static_cast<unsigned>(i / 3);
                s.remove_prefix(3);
                return true;
            }
        }
        return false;
    }
    // time-of-day = hour ":" minute ":" second
    bool time_of_day(unsigned& h, unsigned& m, unsigned& sec) noexcept {
        return digits(2, h) && lit(":") && digits(2, m) && lit(":") && digits(2, sec);
    }
};

struct civil {
    std::int64_t year;
    unsigned month;  // 1..12
    unsigned day, hour, minute, second;
};

std::optional<std::time_t> to_unix(const civil& c) noexcept {
    // second 60: a leap second the grammar admits (RFC 5322 3.3); unix time has none,
    // so it lands on the next minute's first second.
    if (c.month < 1 || c.month > 12 || c.day < 1 || c.day > days_in_month(c.year, c.month) ||
        c.hour > 23 || c.minute > 59 || c.second > 60) {
        return std::nullopt;
    }
    const std::int64_t day_number = days_from_civil(c.year, c.month, c.day);
    return static_cast<std::time_t>(day_number * 86400 + c.hour * 3600 + c.minute * 60 + c.second);
}

// IMF-fixdate after the day name: ", 06 Nov 1994 08:49:37 GMT"
std::optional<std::time_t> imf_fixdate(date_reader r) noexcept {
    civil c{};
    unsigned year = 0;
    unsigned mon = 0;
    if (!(r.lit(", ") && r.digits(2, c.day) && r.lit(" ") && r.name3(months, mon) && r.lit(" ") &&
          r.digits(4, year) && r.lit(" ") && r.time_of_day(c.hour, c.minute, c.second) &&
          r.lit(" GMT") && r.s.empty())) {
        return std::nullopt;
    }
    c.year = year;
    c.month = mon + 1;
    return to_unix(c);
}

// asctime after the day name: " Nov  6 08:49:37 1994" (day is 2DIGIT or SP DIGIT)
std::optional<std::time_t> asctime_date(date_reader r) noexcept {
    civil c{};
    unsigned year = 0;
    unsigned mon = 0;
    if (!(r.lit(" ") && r.name3(months, mon) && r.lit(" "))) {
        return std::nullopt;
    }
    if (!(r.lit(" ") ? r.digits(1, c.day) : r.digits(2, c.day))) {
        return std::nullopt;
    }
    if (!(r.lit(" ") && r.time_of_day(c.hour, c.minute, c.second) && r.lit(" ") &&
          r.digits(4, year) && r.s.empty())) {
        return std::nullopt;
    }
    c.year = year;
    c.month = mon + 1;
    return to_unix(c);
}

// rfc850-date after the long day name: ", 06-Nov-94 08:49:37 GMT"
std::optional<std::time_t> rfc850_date(date_reader r, std::time_t now) noexcept {
    civil c{};
    unsigned yy = 0;
    unsigned mon = 0;
    if (!(r.lit(", ") && r.digits(2, c.day) && r.lit("-") && r.name3(months, mon) && r.lit("-") &&
          r.digits(2, yy) && r.lit(" ") && r.time_of_day(c.hour, c.minute, c.second) &&
          r.lit(" GMT") && r.s.empty())) {
        return std::nullopt;
    }
    // RFC 9110 5.6.7: more than 50 years in the future means the previous century; so
    // the year lands in (now - 50, now + 50].
    const std::int64_t this_year = year_of(now);
    std::int64_t y = this_year - this_year % 100 + yy;
    if (y > this_year + 50) {
        y -= 100;
    } else if (y <= this_year - 50) {
        y += 100;
    }
    c.year = y;
    c.month = mon + 1;
    return to_unix(c);
}

}  // namespace

std::optional<std::time_t> parse_http_date(std::string_view text, std::time_t now) noexcept {
    date_reader r{trim_ows(text)};
    // The three forms differ from their first bytes: "Sun," fixdate, "Sun " asctime,
    // "Sunday," RFC 850.
    for (const std::string_view name : long_days) {
        date_reader l = r;
        if (l.lit(name) && l.s.starts_with(',')) {
            return rfc850_date(l, now);
        }
    }
    unsigned wday = 0;
    if (!r.name3(days, wday)) {
        return std::nullopt;
    }
    if (r.s.starts_with(',')) {
        return imf_fixdate(r);
    }
    return asctime_date(r);
}

}  // namespace pfd::proto
