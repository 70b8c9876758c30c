#include <catch2/catch.hpp>

#include <optional>
#include <string>

#include "proto/http_date.hpp"

using namespace pfd::proto;

namespace {
constexpr std::time_t t_1994 = 784111777;       // Sun, 06 Nov 1994 08:49:37 GMT (RFC 9110 5.6.7)
constexpr std::time_t now_2025 = 1748736000;    // 2025-06-01 00:00:00 UTC
constexpr std::time_t now_2099 = 4084300800;    // 2099-06-05 00:00:00 UTC
}  // namespace

TEST_CASE("HTTP-date: the three forms of RFC 9110 5.6.7", "[proto][date]") {
    struct row {
        std::string_view text;
        std::optional<std::time_t> want;
    };
    const row rows[] = {
        {"Sun, 06 Nov 1994 08:49:37 GMT", t_1994},
        {"Sunday, 06-Nov-94 08:49:37 GMT", t_1994},
        {"Sun Nov  6 08:49:37 1994", t_1994},
        {"Sun Nov 06 08:49:37 1994", t_1994},  // date3 = month SP ( 2DIGIT / ( SP DIGIT ) )
        {"Thu, 01 Jan 1970 00:00:00 GMT", 0},
        {"Wed, 31 Dec 1969 23:59:59 GMT", -1},
        {"Tue, 19 Jan 2038 03:14:08 GMT", 2147483648},
        {"Fri, 31 Dec 9999 23:59:59 GMT", 253402300799},
        {"  Sun, 06 Nov 1994 08:49:37 GMT\t", t_1994},  // OWS around a field value
        // leap years and month lengths
        {"Thu, 29 Feb 2024 00:00:00 GMT", 1709164800},
        {"Tue, 29 Feb 2000 00:00:00 GMT", 951782400},
        {"Wed, 29 Feb 2023 00:00:00 GMT", std::nullopt},
        {"Thu, 29 Feb 1900 00:00:00 GMT", std::nullopt},
        {"Mon, 31 Apr 2024 00:00:00 GMT", std::nullopt},
        {"Mon, 00 Apr 2024 00:00:00 GMT", std::nullopt},
        {"Mon, 32 Jan 2024 00:00:00 GMT", std::nullopt},
        // a leap second is the next minute's first second
        {"Sat, 31 Dec 2016 23:59:60 GMT", 1483228800},
        {"Sun, 06 Nov 1994 24:00:00 GMT", std::nullopt},
        {"Sun, 06 Nov 1994 08:60:00 GMT", std::nullopt},
        {"Sun, 06 Nov 1994 08:49:61 GMT", std::nullopt},
        // the weekday is a name, not checked against the date (nginx, curl)
        {"Mon, 06 Nov 1994 08:49:37 GMT", t_1994},
        // case-sensitive grammar
        {"sun, 06 Nov 1994 08:49:37 GMT", std::nullopt},
        {"Sun, 06 nov 1994 08:49:37 GMT", std::nullopt},
        {"Sun, 06 Nov 1994 08:49:37 gmt", std::nullopt},
        {"SUN, 06 NOV 1994 08:49:37 GMT", std::nullopt},
        // malformed
        {"", std::nullopt},
        {"Sun", std::nullopt},
        {"Sun, 06 Nov 1994 08:49:37", std::nullopt},
        {"Sun, 06 Nov 1994 08:49:37 UTC", std::nullopt},
        {"Sun, 06 Nov 1994 08:49:37 +0000", std::nullopt},
        {"Sun, 06 Nov 1994 08:49:37 GMT, Mon, 07 Nov 1994 08:49:37 GMT", std::nullopt},
        {"Sun, 6 Nov 1994 08:49:37 GMT", std::nullopt},
        {"Sun, 06 Nov 94 08:49:37 GMT", std::nullopt},
        {"Sun, 06 Nov 19940 08:49:37 GMT", std::nullopt},
        {"Sun,  06 Nov 1994 08:49:37 GMT", std::nullopt},
        {"Sun 06 Nov 1994 08:49:37 GMT", std::nullopt},
        {"Sun, 06 Nov 1994 8:49:37 GMT", std::nullopt},
        {"Sun, 06 Nov 1994 08:49 GMT", std::nullopt},
        {"Sun, 06 Foo 1994 08:49:37 GMT", std::nullopt},
        {"Xyz, 06 Nov 1994 08:49:37 GMT", std::nullopt},
        {"Sunday, 06 Nov 1994 08:49:37 GMT", std::nullopt},  // long name: RFC 850 only
        {"Sun, 06-Nov-94 08:49:37 GMT", std::nullopt},       // short name: not RFC 850
        {"Sunday, 06-Nov-1994 08:49:37 GMT", std::nullopt},
        {"Sunday, 06-Nov-94 08:49:37", std::nullopt},
        {"Sun Nov  6 08:49:37 94", std::nullopt},
        {"Sun Nov 6 08:49:37 1994", std::nullopt},
        {"Sun Nov  6 08:49:37 1994 GMT", std::nullopt},
        {"784111777", std::nullopt},
        {std::string_view("Sun, 06 Nov 1994 08:49:37 GMT\0", 30), std::nullopt},
    };
    for (const auto& r : rows) {
        INFO("'" << std::string(r.text) << "'");
        CHECK(parse_http_date(r.text, now_2025) == r.want);
    }
}

TEST_CASE("HTTP-date: RFC 850 two-digit years are within 50 years of now", "[proto][date]") {
    // 2025: 75 is 2075 (50 years ahead, not more), 76 would be 51 ahead so 1976.
    CHECK(parse_http_date("Tuesday, 01-Jan-75 00:00:00 GMT", now_2025) == 3313526400);
    CHECK(parse_http_date("Thursday, 01-Jan-76 00:00:00 GMT", now_2025) == 189302400);
    CHECK(parse_http_date("Saturday, 01-Jan-00 00:00:00 GMT", now_2025) == 946684800);
    // 2099: "01" is two years ahead (2101), not 98 years ago.
    CHECK(parse_http_date("Saturday, 01-Jan-01 00:00:00 GMT", now_2099) == 4133980800);
    CHECK(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", now_2099) == 3939871777);
    // 1994 itself: "94" is 1994.
    CHECK(parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", t_1994) == t_1994);
}

TEST_CASE("HTTP-date: parse inverts format_http_date", "[proto][date]") {
    // Every ~37 hours from 1970 to beyond 2100 (leap days, century rules, 2038).
    for (std::time_t t = 0; t < 4200000000; t += 37 * 3600 + 1234) {
        const auto text = format_http_date(t);
        const std::string_view v(text.data(), text.size());
        INFO(std::string(v));
        REQUIRE(parse_http_date(v, now_2025) == t);
    }
}
