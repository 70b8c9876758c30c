#include <catch2/catch.hpp>

#include <string>

#include "proto/conditional.hpp"

using namespace pfd::proto;

namespace {
constexpr std::string_view etag = "\"abc\"";
constexpr std::time_t lm = 784111777;  // Sun, 06 Nov 1994 08:49:37 GMT
constexpr std::string_view at = "Sun, 06 Nov 1994 08:49:37 GMT";
constexpr std::string_view before = "Sun, 06 Nov 1994 08:49:36 GMT";
constexpr std::string_view after = "Sun, 06 Nov 1994 08:49:38 GMT";
constexpr std::string_view at_850 = "Sunday, 06-Nov-94 08:49:37 GMT";
constexpr std::string_view at_asctime = "Sun Nov  6 08:49:37 1994";
constexpr std::time_t now = 1748736000;  // 2025-06-01

constexpr auto pass = precondition::pass;
constexpr auto p304 = precondition::not_modified;
constexpr auto p412 = precondition::failed;

struct row {
    method m;
    std::string_view if_match, if_none_match, if_modified_since, if_unmodified_since;
    precondition want;
};

void check_rows(std::string_view own_etag, std::initializer_list<row> rows) {
    for (const auto& r : rows) {
        INFO("method " << static_cast<int>(r.m) << " If-Match '" << std::string(r.if_match)
                       << "' If-None-Match '" << std::string(r.if_none_match) << "' If-Modified-Since '"
                       << std::string(r.if_modified_since) << "' If-Unmodified-Since '"
                       << std::string(r.if_unmodified_since) << "' etag " << std::string(own_etag));
        const conditional_request rq{r.m, r.if_match, r.if_none_match, r.if_modified_since,
                                     r.if_unmodified_since, now};
        CHECK(evaluate_preconditions(rq, own_etag, lm) == r.want);
    }
}
}  // namespace

TEST_CASE("preconditions: If-Match (strong)", "[proto][conditional]") {
    check_rows(etag, {
        {method::get, "", "", "", "", pass},
        {method::get, "\"abc\"", "", "", "", pass},
        {method::get, "*", "", "", "", pass},
        {method::get, " * ", "", "", "", pass},
        {method::get, "\"x\", \"abc\"", "", "", "", pass},
        {method::get, "\"x\",\"abc\"", "", "", "", pass},
        {method::get, ",\"x\" ,, \"abc\",", "", "", "", pass},
        {method::get, "\"x\"", "", "", "", p412},
        {method::get, "W/\"abc\"", "", "", "", p412},  // weak never matches strongly
        {method::get, "\"ABC\"", "", "", "", p412},    // octet-by-octet
        {method::get, "abc", "", "", "", p412},        // not an entity-tag
        {method::get, "\"abc", "", "", "", p412},
        {method::get, "\"x\" \"abc\"", "", "", "", p412},  // malformed after the first member
        {method::get, "garbage, \"abc\"", "", "", "", p412},
        {method::get, "\"abc\", *", "", "", "", pass},  // matched before the malformed part
        {method::get, "\"x\", *", "", "", "", p412},
        {method::put, "\"x\"", "", "", "", p412},
        {method::put, "\"abc\"", "", "", "", pass},
        // If-Match wins over If-Unmodified-Since, which is then not evaluated
        {method::get, "\"abc\"", "", "", before, pass},
        {method::get, "\"x\"", "", "", after, p412},
        // If-Match failing wins over If-None-Match's 304
        {method::get, "\"x\"", "\"abc\"", "", "", p412},
    });
    // A weak representation tag never passes If-Match but "*".
    check_rows("W/\"abc\"", {
        {method::get, "W/\"abc\"", "", "", "", p412},
        {method::get, "\"abc\"", "", "", "", p412},
        {method::get, "*", "", "", "", pass},
    });
    // No ETag: only "*" (the representation exists).
    check_rows("", {
        {method::get, "\"abc\"", "", "", "", p412},
        {method::get, "*", "", "", "", pass},
        {method::get, "", "*", "", "", p304},
        {method::get, "", "\"abc\"", at, "", pass},  // If-None-Match present: IMS not read
    });
}

TEST_CASE("preconditions: If-Unmodified-Since", "[proto][conditional]") {
    check_rows(etag, {
        {method::get, "", "", "", at, pass},
        {method::get, "", "", "", after, pass},
        {method::get, "", "", "", before, p412},
        {method::put, "", "", "", before, p412},
        {method::get, "", "", "", at_850, pass},
        {method::get, "", "", "", at_asctime, pass},
        {method::get, "", "", "", "Sunday, 06-Nov-94 08:49:36 GMT", p412},
        {method::get, "", "", "", "Sun Nov  6 08:49:36 1994", p412},
        // not an HTTP-date: ignored
        {method::get, "", "", "", "yesterday", pass},
        {method::get, "", "", "", "784111776", pass},
        {method::get, "", "", "", "Sun, 06 Nov 1994 08:49:36 UTC", pass},
        // 412 before If-None-Match's 304
        {method::get, "", "\"abc\"", "", before, p412},
    });
}

TEST_CASE("preconditions: If-None-Match (weak)", "[proto][conditional]") {
    check_rows(etag, {
        {method::get, "", "\"abc\"", "", "", p304},
        {method::head, "", "\"abc\"", "", "", p304},
        {method::get, "", "W/\"abc\"", "", "", p304},  // weak comparison
        {method::get, "", "*", "", "", p304},
        {method::get, "", "\"x\", W/\"abc\"", "", "", p304},
        {method::get, "", "\"x\"", "", "", pass},
        {method::get, "", "\"ABC\"", "", "", pass},
        {method::get, "", "abc", "", "", pass},
        {method::get, "", "\"x\" garbage \"abc\"", "", "", pass},
        {method::get, "", "w/\"abc\"", "", "", pass},  // "W/" is case-sensitive
        // other methods: 412 instead of 304
        {method::post, "", "\"abc\"", "", "", p412},
        {method::put, "", "*", "", "", p412},
        {method::del, "", "\"abc\"", "", "", p412},
        {method::put, "", "\"x\"", "", "", pass},
        // If-None-Match present: If-Modified-Since is ignored, whichever way it points
        {method::get, "", "\"x\"", at, "", pass},
        {method::get, "", "\"abc\"", before, "", p304},
        // both If-Match and If-None-Match matching
        {method::get, "\"abc\"", "\"abc\"", "", "", p304},
    });
    check_rows("W/\"abc\"", {
        {method::get, "", "\"abc\"", "", "", p304},
        {method::get, "", "W/\"abc\"", "", "", p304},
    });
}

TEST_CASE("preconditions: If-Modified-Since (GET and HEAD only)", "[proto][conditional]") {
    check_rows(etag, {
        {method::get, "", "", at, "", p304},
        {method::head, "", "", at, "", p304},
        {method::get, "", "", after, "", p304},
        {method::get, "", "", before, "", pass},
        {method::get, "", "", at_850, "", p304},
        {method::get, "", "", at_asctime, "", p304},
        {method::get, "", "", "Sun, 06 Nov 1994 08:49:37 GMT; length=12", "", pass},  // not a date
        {method::get, "", "", "Sun, 06 Nov 1994 08:49:37 GMT, Sun, 06 Nov 1994 08:49:37 GMT", "", pass},
        {method::get, "", "", "0", "", pass},
        {method::post, "", "", at, "", pass},
        {method::put, "", "", after, "", pass},
        {method::get, "", "", at, at, p304},
        {method::get, "", "", at, before, p412},
    });
}

TEST_CASE("If-Range decides whether a Range applies", "[proto][conditional]") {
    struct row {
        std::string_view if_range;
        std::string_view own;
        bool want;
    };
    const row rows[] = {
        {"", etag, true},
        {"  ", etag, true},
        {"\"abc\"", etag, true},
        {" \"abc\" ", etag, true},
        {"\"x\"", etag, false},
        {"W/\"abc\"", etag, false},           // weak: strong comparison fails
        {"\"abc\"", "W/\"abc\"", false},
        {"\"abc\"", "", false},
        {"\"abc\", \"x\"", etag, false},      // one validator, not a list
        {"\"abc", etag, false},
        {at, etag, true},                      // exactly Last-Modified
        {at_850, etag, true},
        {at_asctime, etag, true},
        {after, etag, false},                  // not "not later": exactly equal
        {before, etag, false},
        {"tomorrow", etag, false},
        {"*", etag, false},
    };
    for (const auto& r : rows) {
        INFO("If-Range '" << std::string(r.if_range) << "' etag " << std::string(r.own));
        CHECK(if_range_allows(r.if_range, r.own, lm, now) == r.want);
    }
}

TEST_CASE("make_etag format", "[proto][conditional]") {
    CHECK(make_etag(0x2a, 0x1b2c, 1, 5).view() == "\"2a-1b2c-3b9aca05\"");
    CHECK(make_etag(0, 0, 0, 0).view() == "\"0-0-0\"");
    constexpr std::uint64_t max = ~std::uint64_t{0};
    const auto longest = make_etag(max, max, -1, 999999999);  // wraps: ns of -1 s + 999999999 ns = -1
    CHECK(longest.view() == "\"ffffffffffffffff-ffffffffffffffff-ffffffffffffffff\"");
    CHECK(longest.size == 52);
    // Any part that changes changes the tag.
    const auto base = make_etag(7, 100, 1700000000, 1);
    CHECK(make_etag(8, 100, 1700000000, 1).view() != base.view());
    CHECK(make_etag(7, 101, 1700000000, 1).view() != base.view());
    CHECK(make_etag(7, 100, 1700000001, 1).view() != base.view());
    CHECK(make_etag(7, 100, 1700000000, 2).view() != base.view());
    // It round-trips as a strong tag.
    const conditional_request rq{method::get, "", base.view(), "", "", now};
    CHECK(evaluate_preconditions(rq, base.view(), lm) == p304);
    CHECK(if_range_allows(base.view(), base.view(), lm, now));
}
