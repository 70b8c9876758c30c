#include <catch2/catch.hpp>

#include <set>
#include <string>
#include <vector>

#include "proto/byteranges.hpp"

using namespace pfd::proto;

namespace {
// The body a handler would send: heads from here, the bytes from the file.
std::string body_of(std::string_view file, std::string_view boundary, std::string_view type,
                    std::span<const byte_range> ranges) {
    byte_buffer out;
    for (const auto& r : ranges) {
        const std::size_t before = out.size();
        append_part_head(out, boundary, type, r, file.size());
        CHECK(out.size() - before == part_head_size(boundary, type, r, file.size()));
        out.append(file.substr(r.first, r.length()));
    }
    const std::size_t before = out.size();
    append_closing_delimiter(out, boundary);
    CHECK(out.size() - before == closing_delimiter_size(boundary));
    return std::string(out.view());
}
}  // namespace

TEST_CASE("multipart/byteranges: the bytes of RFC 9110 14.6's example", "[proto][byteranges]") {
    const std::string file(8000, 'x');
    const byte_range ranges[] = {{500, 999}, {7000, 7999}};
    const std::string body = body_of(file, "THIS_STRING_SEPARATES", "application/pdf", ranges);
    const std::string want = "\r\n--THIS_STRING_SEPARATES\r\n"
                             "Content-Type: application/pdf\r\n"
                             "Content-Range: bytes 500-999/8000\r\n\r\n" +
                             std::string(500, 'x') +
                             "\r\n--THIS_STRING_SEPARATES\r\n"
                             "Content-Type: application/pdf\r\n"
                             "Content-Range: bytes 7000-7999/8000\r\n\r\n" +
                             std::string(1000, 'x') + "\r\n--THIS_STRING_SEPARATES--\r\n";
    CHECK(body == want);
    CHECK(multipart_length("THIS_STRING_SEPARATES", "application/pdf", ranges, 8000) == want.size());
    CHECK(multipart_content_type("THIS_STRING_SEPARATES").view() ==
          "multipart/byteranges; boundary=THIS_STRING_SEPARATES");
}

TEST_CASE("multipart/byteranges: length matches the bytes for many shapes", "[proto][byteranges]") {
    std::string file;
    for (int i = 0; i < 100000; ++i) {
        file.push_back(static_cast<char>('a' + i % 26));
    }
    const std::vector<std::vector<byte_range>> shapes = {
        {{0, 0}, {99999, 99999}},
        {{0, 9}, {10, 99}, {100, 999}, {1000, 9999}, {10000, 99999}},  // digits grow
        {{5, 5}, {7, 8}, {9, 10}},
        {{50000, 50001}, {0, 1}},
    };
    for (const auto& s : shapes) {
        for (std::string_view type : {"text/plain; charset=utf-8", ""}) {
            const std::string body = body_of(file, "preforkd0123456789abcdef", type, s);
            CHECK(multipart_length("preforkd0123456789abcdef", type, s, file.size()) == body.size());
            // Each part is where its Content-Range says, holding the file's bytes.
            std::size_t at = 0;
            for (const auto& r : s) {
                const std::string cr = "Content-Range: bytes " + std::to_string(r.first) + "-" +
                                       std::to_string(r.last) + "/100000\r\n\r\n";
                at = body.find(cr, at);
                REQUIRE(at != std::string::npos);
                at += cr.size();
                CHECK(body.compare(at, r.length(), file, r.first, r.length()) == 0);
                CHECK(body.compare(at + r.length(), 4, "\r\n--") == 0);
            }
            CHECK(body.ends_with("\r\n--preforkd0123456789abcdef--\r\n"));
            CHECK((type.empty() == (body.find("Content-Type") == std::string::npos)));
        }
    }
    // Sizes near 2^64 do not overflow the arithmetic.
    constexpr std::uint64_t big = 18446744073709551615ull;
    const byte_range huge[] = {{0, 0}, {big - 2, big - 2}};
    CHECK(multipart_length("b", "t", huge, big) ==
          2 * (4 + 1 + 16 + 1 + 17 + 4) + 2 + std::string_view("bytes 0-0/18446744073709551615").size() +
              std::string_view("bytes 18446744073709551613-18446744073709551613/18446744073709551615").size() +
              (4 + 1 + 4));
}

TEST_CASE("multipart/byteranges: boundaries", "[proto][byteranges]") {
    // Valid RFC 2046 bchars, fixed length, and distinct for consecutive counters.
    std::set<std::string> seen;
    for (std::uint64_t i = 0; i < 10000; ++i) {
        const auto b = make_boundary(i);
        const std::string s(b.view());
        REQUIRE(s.size() == 24);
        REQUIRE(s.starts_with("preforkd"));
        REQUIRE(s.find_first_not_of("0123456789abcdefkdorpf") == std::string::npos);
        seen.insert(s);
    }
    CHECK(seen.size() == 10000);
    // Neighbouring counters differ in many hex digits, not just the last.
    const std::string a(make_boundary(41).view());
    const std::string b(make_boundary(42).view());
    int differ = 0;
    for (std::size_t i = 8; i < 24; ++i) {
        differ += a[i] != b[i] ? 1 : 0;
    }
    CHECK(differ > 8);
    // A boundary longer than RFC 2046 allows is cut at 70 in the Content-Type.
    const std::string long_b(100, 'q');
    CHECK(multipart_content_type(long_b).view() == "multipart/byteranges; boundary=" + std::string(70, 'q'));
}
