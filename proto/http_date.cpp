#include "proto/http_date.hpp"

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

}  // namespace pfd::proto
