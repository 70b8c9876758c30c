#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "server/config_values.hpp"

using namespace pfd::server;
using std::chrono::milliseconds;

namespace {

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("parse_duration reads a whole number and a unit", "[config][values]") {
    struct good {
        std::string_view text;
        std::int64_t ms;
    };
    const good cases[] = {
        {"500ms", 500}, {"1ms", 1},         {"10s", 10'000},     {"2m", 120'000},
        {"1h", 3'600'000}, {"0s", 0},       {"0ms", 0},          {"168h", 7LL * 24 * 3'600'000},
        {"604800s", 604'800'000}, {"10080m", 604'800'000}, {"604800000ms", 604'800'000},
    };
    for (const auto& c : cases) {
        CAPTURE(c.text);
        const auto d = parse_duration(c.text);
        REQUIRE(d.has_value());
        CHECK(d->count() == c.ms);
    }
}

TEST_CASE("parse_duration rejects text that is not a whole number and a unit", "[config][values]") {
    struct bad {
        std::string_view text;
        std::string_view mentions;
    };
    const bad cases[] = {
        {"10", "needs a unit"},
        {"s", "whole number"},
        {"10x", "needs a unit"},
        {"-1s", "whole number"},
        {"1.5s", "needs a unit"},
        {"", "whole number"},
        {"10 s", "needs a unit"},
        {" 10s", "whole number"},
        {"10S", "needs a unit"},
        {"10sec", "needs a unit"},
        {"10ms ", "needs a unit"},
        {"169h", "longer than a week"},
        {"604801s", "longer than a week"},
        {"604800001ms", "longer than a week"},
        {"18446744073709551615h", "longer than a week"},   // multiplying would overflow
        {"99999999999999999999s", "whole number"},        // does not fit 64 bits
    };
    for (const auto& c : cases) {
        CAPTURE(c.text);
        const auto d = parse_duration(c.text);
        REQUIRE_FALSE(d.has_value());
        CAPTURE(d.error());
        CHECK(contains(d.error(), c.mentions));
        CHECK(contains(d.error(), "\"" + std::string{c.text} + "\""));
    }
}

TEST_CASE("parse_size reads bytes with an optional binary unit", "[config][values]") {
    struct good {
        std::string_view text;
        std::uint64_t bytes;
    };
    const good cases[] = {
        {"0", 0},
        {"512", 512},
        {"512B", 512},
        {"1KiB", 1024},
        {"64KiB", 64 * 1024},
        {"2MiB", 2ULL << 20},
        {"1GiB", 1ULL << 30},
        {"1k", 1024},
        {"1K", 1024},
        {"1M", 1ULL << 20},
        {"3G", 3ULL << 30},
        {"18446744073709551615", 18446744073709551615ULL},
        {"17179869183GiB", 17179869183ULL << 30},  // the largest GiB count that fits
    };
    for (const auto& c : cases) {
        CAPTURE(c.text);
        const auto s = parse_size(c.text);
        REQUIRE(s.has_value());
        CHECK(*s == c.bytes);
    }
}

TEST_CASE("parse_size rejects unknown units, signs and overflow", "[config][values]") {
    struct bad {
        std::string_view text;
        std::string_view mentions;
    };
    const bad cases[] = {
        {"1KB", "unknown unit"},  // decimal-looking units are not accepted
        {"1MB", "unknown unit"},
        {"1kib", "unknown unit"},
        {"1b", "unknown unit"},
        {"1XB", "unknown unit"},
        {"1 KiB", "unknown unit"},
        {"1.5MiB", "unknown unit"},
        {"x", "whole number"},
        {"-1", "whole number"},
        {"", "whole number"},
        {"KiB", "whole number"},
        {"99999999999GiB", "too large"},
        {"17179869184GiB", "too large"},
        {"18446744073709551616", "whole number"},  // does not fit 64 bits
    };
    for (const auto& c : cases) {
        CAPTURE(c.text);
        const auto s = parse_size(c.text);
        REQUIRE_FALSE(s.has_value());
        CAPTURE(s.error());
        CHECK(contains(s.error(), c.mentions));
    }
}

TEST_CASE("check_route_path accepts every origin-form path a request can carry", "[config][values][route]") {
    const std::string_view good[] = {
        "/", "/a", "/a/b/", "//double", "/a%20b", "/%2F", "/caf%C3%A9", "/~user", "/a-b.c_d~e",
        "/:@!$&'()*+,;=", "/a:b@c", "/index.html", "/%25", "/.well-known/x", "/a..b", "/...",
    };
    for (std::string_view p : good) {
        CAPTURE(p);
        const route_path_check c = check_route_path(p);
        CHECK(c.error.empty());
        CHECK(c.warning.empty());
    }
}

TEST_CASE("check_route_path rejects what no request path can be, saying how to write it",
          "[config][values][route]") {
    struct bad {
        std::string_view path;
        std::string_view mentions;
        std::string_view mentions_too;
    };
    const bad cases[] = {
        {"", "must start with '/'", ""},
        {"a", "must start with '/'", ""},
        {"*", "must start with '/'", ""},
        {"/a b", "' ' (byte 3)", "\"/a%20b\""},   // a space is never in a target: llhttp refuses it
        {"/a\tb", "0x09", "\"/a%09b\""},
        {std::string_view{"/a\0b", 4}, "0x00", "\"/a%00b\""},
        {"/a\x7f", "0x7F", "\"/a%7F\""},
        {"/caf\xc3\xa9", "0xC3", "\"/caf%C3%A9\""},   // UTF-8 as written: clients send it encoded
        {"/a\"b", "'\"'", "\"/a%22b\""},
        {"/a<b>", "'<'", "\"/a%3Cb%3E\""},
        {"/a\\b", "'\\'", "\"/a%5Cb\""},
        {"/a|b", "'|'", "\"/a%7Cb\""},
        {"/{x}", "'{'", "\"/%7Bx%7D\""},
        {"/[x]", "'['", ""},
        {"/a^b", "'^'", ""},
        {"/a`b", "'`'", ""},
        {"/a?b", "'?' (byte 3) starts a query", "%3F"},   // the query is cut off before matching
        {"/a?", "starts a query", ""},
        {"/a#b", "starts a fragment", "%23"},
        {"/a%zz", "'%' (byte 3) does not start a percent-encoding", "\"/a%25zz\""},
        {"/a%2", "does not start a percent-encoding", "\"/a%252\""},
        {"/a%", "does not start a percent-encoding", ""},
        {"/ok%20then bad", "' ' (byte 11)", "\"/ok%20then%20bad\""},
    };
    for (const auto& c : cases) {
        CAPTURE(c.path);
        const route_path_check r = check_route_path(c.path);
        CAPTURE(r.error);
        CHECK(contains(r.error, c.mentions));
        CHECK(contains(r.error, c.mentions_too));
        CHECK(r.warning.empty());
    }
}

TEST_CASE("check_route_path warns about spellings that clients normalise away", "[config][values][route]") {
    struct odd {
        std::string_view path;
        std::string_view mentions;
    };
    const odd cases[] = {
        {"/a/../b", "\"..\" segment"},
        {"/a/./b", "\"..\" segment"},
        {"/.", "\"..\" segment"},
        {"/a/..", "\"..\" segment"},
        {"/%7Euser", "%7E"},       // unreserved: sent as "~"
        {"/%41", "%41"},
        {"/caf%c3%a9", "%c3"},     // lowercase hex digits
        {"/a%2fb", "%2f"},
    };
    for (const auto& c : cases) {
        CAPTURE(c.path);
        const route_path_check r = check_route_path(c.path);
        CHECK(r.error.empty());
        CAPTURE(r.warning);
        CHECK(contains(r.warning, c.mentions));
    }
}
