#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "proto/http_range.hpp"

using namespace pfd::proto;

namespace {
struct row {
    std::string_view value;
    range_outcome outcome;
    std::vector<byte_range> ranges;
};

constexpr auto ignore = range_outcome::ignore;
constexpr auto ok = range_outcome::satisfiable;
constexpr auto unsat = range_outcome::unsatisfiable;

void check_rows(std::uint64_t size, std::initializer_list<row> rows) {
    for (const auto& r : rows) {
        INFO("Range '" << std::string(r.value) << "' size " << size);
        const range_set got = parse_range(r.value, size);
        CHECK(got.outcome == r.outcome);
        const std::vector<byte_range> ranges(got.view().begin(), got.view().end());
        if (r.outcome == ok) {
            CHECK(ranges == r.ranges);
        } else {
            CHECK(ranges.empty());
        }
    }
}

std::string specs(int n, int step) {
    std::string s = "bytes=";
    for (int i = 0; i < n; ++i) {
        if (i != 0) {
            s += ',';
        }
        const std::string pos = std::to_string(i * step);
        s.append(pos).append("-").append(pos);
    }
    return s;
}
}  // namespace

namespace Catch {
template <>
struct StringMaker<byte_range> {
    static std::string convert(const byte_range& r) {
        return "[" + std::to_string(r.first) + "," + std::to_string(r.last) + "]";
    }
};
}  // namespace Catch

TEST_CASE("Range: the forms of RFC 9110 14.1.2", "[proto][range]") {
    check_rows(10000, {
        {"bytes=0-499", ok, {{0, 499}}},
        {"bytes=500-999", ok, {{500, 999}}},
        {"bytes=-500", ok, {{9500, 9999}}},
        {"bytes=9500-", ok, {{9500, 9999}}},
        {"bytes=0-0,-1", ok, {{0, 0}, {9999, 9999}}},
        {"bytes=0-", ok, {{0, 9999}}},
        {"bytes=9999-9999", ok, {{9999, 9999}}},
        {"bytes=0-99999", ok, {{0, 9999}}},     // last-pos past the end is clamped
        {"bytes=-20000", ok, {{0, 9999}}},      // a suffix longer than the file is the file
        {"bytes=500-600,601-999", ok, {{500, 999}}},  // adjacent: coalesced
        {"bytes=500-700,601-999", ok, {{500, 999}}},  // overlapping: coalesced
        {"bytes=0-99,200-299", ok, {{0, 99}, {200, 299}}},
        {"bytes=500-600,0-100", ok, {{500, 600}, {0, 100}}},  // request order kept
        {"bytes=0-10,20-30,5-25", ok, {{0, 30}}},
        {"bytes=0-10,20-30,11-19", ok, {{0, 30}}},
        {"bytes=-10,9000-9988", ok, {{9990, 9999}, {9000, 9988}}},
        {"bytes=-10,9000-9989", ok, {{9000, 9999}}},
        {"bytes=-10,9000-9990", ok, {{9000, 9999}}},
    });
}

TEST_CASE("Range: unit, whitespace and list syntax", "[proto][range]") {
    check_rows(10000, {
        {"BYTES=0-1", ok, {{0, 1}}},
        {"Bytes=0-1", ok, {{0, 1}}},
        {" bytes=0-1 ", ok, {{0, 1}}},
        {"bytes= 0-1", ok, {{0, 1}}},
        {"bytes=0-1 , 5-6", ok, {{0, 1}, {5, 6}}},
        {"bytes=0-1,\t5-6", ok, {{0, 1}, {5, 6}}},
        {"bytes=,0-1,", ok, {{0, 1}}},       // empty list elements are ignored (RFC 9110 5.6.1)
        {"bytes=0-1,,,5-6", ok, {{0, 1}, {5, 6}}},
        {"bytes=007-008", ok, {{7, 8}}},
        // ignored: the whole header, and the whole file is served
        {"", ignore, {}},
        {"bytes", ignore, {}},
        {"bytes=", ignore, {}},
        {"bytes= ", ignore, {}},
        {"bytes=,", ignore, {}},
        {"bytes =0-1", ignore, {}},
        {"bytes= =0-1", ignore, {}},
        {"=0-1", ignore, {}},
        {"items=0-1", ignore, {}},
        {"bytesx=0-1", ignore, {}},
        {"none", ignore, {}},
        {"bytes=10-5", ignore, {}},          // last < first: invalid (14.1.1)
        {"bytes=0-1,10-5", ignore, {}},      // one invalid spec invalidates the header
        {"bytes=abc", ignore, {}},           // other-range is not a byte range
        {"bytes=0 -1", ignore, {}},
        {"bytes=0- 1", ignore, {}},
        {"bytes=0-1;", ignore, {}},
        {"bytes=+1-2", ignore, {}},
        {"bytes=-", ignore, {}},
        {"bytes=--1", ignore, {}},
        {"bytes=1--2", ignore, {}},
        {"bytes=0x10-", ignore, {}},
        {"bytes=1", ignore, {}},
        {"bytes=- 1", ignore, {}},
        {"bytes=-1-2", ignore, {}},
        {"bytes=1-2-3", ignore, {}},
        {"bytes=0-1 5-6", ignore, {}},
    });
}

TEST_CASE("Range: unsatisfiable specs and 416", "[proto][range]") {
    check_rows(10000, {
        {"bytes=10000-", unsat, {}},
        {"bytes=10000-20000", unsat, {}},
        {"bytes=-0", unsat, {}},
        {"bytes=-0,10000-", unsat, {}},
        {"bytes=0-1,10000-", ok, {{0, 1}}},  // unsatisfiable specs among others are dropped
        {"bytes=10000-,-0,9999-", ok, {{9999, 9999}}},
    });
    // A 0-byte file has no byte to send; RFC 9110 14.1.1: a non-zero suffix is still the
    // one satisfiable spec there, answered with the whole (empty) file.
    check_rows(0, {
        {"bytes=0-", unsat, {}},
        {"bytes=0-0", unsat, {}},
        {"bytes=-1", ignore, {}},
        {"bytes=-5", ignore, {}},
        {"bytes=-0", unsat, {}},
        {"bytes=0-0,-5", ignore, {}},
        {"bytes=0-0,-0", unsat, {}},
        {"bytes=5-1", ignore, {}},
        {"x=0-", ignore, {}},
    });
    check_rows(1, {
        {"bytes=0-0", ok, {{0, 0}}},
        {"bytes=-1", ok, {{0, 0}}},
        {"bytes=-2", ok, {{0, 0}}},
        {"bytes=0-", ok, {{0, 0}}},
        {"bytes=1-", unsat, {}},
    });
}

TEST_CASE("Range: positions past 2^64 saturate", "[proto][range]") {
    check_rows(10000, {
        {"bytes=99999999999999999999999-", unsat, {}},
        {"bytes=18446744073709551615-", unsat, {}},
        {"bytes=18446744073709551616-18446744073709551617", unsat, {}},
        {"bytes=0-99999999999999999999999", ok, {{0, 9999}}},
        {"bytes=-99999999999999999999999", ok, {{0, 9999}}},
        {"bytes=5-18446744073709551615", ok, {{5, 9999}}},
    });
    constexpr std::uint64_t big = 18446744073709551615ull;
    check_rows(big, {
        {"bytes=-1", ok, {{big - 1, big - 1}}},
        {"bytes=18446744073709551614-", ok, {{big - 1, big - 1}}},
        {"bytes=18446744073709551615-", unsat, {}},
    });
}

TEST_CASE("Range: abuse limits serve the whole file", "[proto][range]") {
    // At most 16 specs, whatever they are.
    const auto sixteen = parse_range(specs(16, 10), 10000);
    CHECK(sixteen.outcome == ok);
    CHECK(sixteen.count == 16);
    CHECK(parse_range(specs(17, 10), 10000).outcome == ignore);
    CHECK(parse_range(specs(16, 10) + ",20000-", 10000).outcome == ignore);
    CHECK(parse_range(specs(16, 10) + ",,", 10000).outcome == ok);  // empty elements are not specs
    // Adjacent single bytes coalesce into one range.
    const auto adjacent = parse_range(specs(16, 1), 10000);
    CHECK(adjacent.outcome == ok);
    CHECK(adjacent.count == 1);
    CHECK(adjacent.ranges[0] == byte_range{0, 15});

    check_rows(10000, {
        // two overlapping specs are tolerated (and coalesced), the third is abuse
        {"bytes=0-10,0-10,0-10", ok, {{0, 10}}},
        {"bytes=0-10,0-10,0-10,0-10", ignore, {}},
        {"bytes=0-9999,1-2,3-4,5-6", ignore, {}},
        {"bytes=-1,-1,-1,-1", ignore, {}},
        // two descents are tolerated, the third is abuse
        {"bytes=40-49,30-35,20-25", ok, {{40, 49}, {30, 35}, {20, 25}}},
        {"bytes=40-49,30-35,20-25,0-5", ignore, {}},
        {"bytes=40-49,30-35,50-55,20-25,0-5", ignore, {}},
        // ascending lists of any length up to 16 are fine
        {"bytes=0-1,3-4,6-7,9-10,12-13", ok, {{0, 1}, {3, 4}, {6, 7}, {9, 10}, {12, 13}}},
    });
}

TEST_CASE("Content-Range values", "[proto][range]") {
    CHECK(format_content_range({0, 99}, 1000).view() == "bytes 0-99/1000");
    CHECK(format_content_range({0, 0}, 1).view() == "bytes 0-0/1");
    constexpr std::uint64_t big = 18446744073709551615ull;
    CHECK(format_content_range({big - 1, big - 1}, big).view() ==
          "bytes 18446744073709551614-18446744073709551614/18446744073709551615");
    CHECK(format_unsatisfied_range(0).view() == "bytes */0");
    CHECK(format_unsatisfied_range(10000).view() == "bytes */10000");
    CHECK(format_unsatisfied_range(big).view() == "bytes */18446744073709551615");
}
