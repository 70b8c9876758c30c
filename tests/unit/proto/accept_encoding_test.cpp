#include <catch2/catch.hpp>

#include <string>

#include "proto/accept_encoding.hpp"

using namespace pfd::proto;

namespace {
constexpr auto id = content_coding::identity;
constexpr auto gz = content_coding::gzip;
constexpr auto br = content_coding::br;
}  // namespace

TEST_CASE("Accept-Encoding: q-values, '*', case and malformed parts", "[proto][accept_encoding]") {
    struct row {
        std::string_view value;
        std::uint16_t br_q;
        std::uint16_t gzip_q;
        content_coding preferred;
    };
    const row rows[] = {
        {"", 0, 0, id},
        {"gzip", 0, 1000, gz},
        {"br", 1000, 0, br},
        {"gzip, deflate, br", 1000, 1000, br},  // tie: br
        {"gzip, deflate, br, zstd", 1000, 1000, br},
        {"br;q=0.5, gzip", 500, 1000, gz},
        {"br;q=1.0, gzip;q=0.8", 1000, 800, br},
        {"gzip;q=0.9, br;q=0.9", 900, 900, br},
        {"gzip;q=0.901, br;q=0.9", 900, 901, gz},
        {"br;q=0", 0, 0, id},
        {"br;q=0.000, gzip;q=0.001", 0, 1, gz},
        {"gzip;q=0, br;q=0", 0, 0, id},
        {"identity", 0, 0, id},
        {"deflate", 0, 0, id},
        // '*' applies to codings not named
        {"*", 1000, 1000, br},
        {"*;q=0.5", 500, 500, br},
        {"*, br;q=0", 0, 1000, gz},
        {"br;q=0, *", 0, 1000, gz},
        {"gzip;q=0.3, *;q=0.6", 600, 300, br},
        {"*;q=0", 0, 0, id},
        {"*;q=0, gzip", 0, 1000, gz},
        // case and whitespace
        {"GZIP", 0, 1000, gz},
        {"Br", 1000, 0, br},
        {"BR;Q=0.5", 500, 0, br},
        {" gzip ; q=0.5 ,\tbr ;q=0.4 ", 400, 500, gz},
        {"x-gzip", 0, 1000, gz},
        {"X-GZIP;q=0.2", 0, 200, gz},
        {",,gzip,,", 0, 1000, gz},
        // first valid mention of a coding counts
        {"gzip;q=0, gzip", 0, 0, id},
        {"gzip, gzip;q=0", 0, 1000, gz},
        {"gzip;q=2, gzip;q=0.5", 0, 500, gz},  // the malformed one is not a mention
        {"x-gzip;q=0.1, gzip", 0, 100, gz},
        // malformed parts are ignored, the rest still counts
        {"br;q=1.5, gzip", 0, 1000, gz},
        {"br;q=0.1234, gzip", 0, 1000, gz},
        {"br;q=.5, gzip", 0, 1000, gz},
        {"br;q=, gzip", 0, 1000, gz},
        {"br;q=1.01, gzip", 0, 1000, gz},
        {"br;q=-1, gzip", 0, 1000, gz},
        {"br;q=0.5;level=1, gzip", 0, 1000, gz},
        {"br;level=1, gzip", 0, 1000, gz},
        {"br;q = 0.5, gzip", 0, 1000, gz},
        {"br;, gzip", 0, 1000, gz},
        {"b r, gzip", 0, 1000, gz},
        {"\"br\", gzip", 0, 1000, gz},
        {"br gzip", 0, 0, id},
        {";q=1", 0, 0, id},
        {"brotli, gzipx, gz", 0, 0, id},
        {"br;q=1., gzip;q=0.", 1000, 0, br},
        {"br;q=1.000", 1000, 0, br},
        {"gzip;q=0.5 ", 0, 500, gz},
    };
    for (const auto& r : rows) {
        INFO("Accept-Encoding '" << std::string(r.value) << "'");
        const auto got = parse_accept_encoding(r.value);
        CHECK(got.br_q == r.br_q);
        CHECK(got.gzip_q == r.gzip_q);
        CHECK(got.preferred() == r.preferred);
        CHECK(got.accepts_br() == (r.br_q > 0));
        CHECK(got.accepts_gzip() == (r.gzip_q > 0));
    }
}

TEST_CASE("Accept-Encoding: choose among the siblings that exist", "[proto][accept_encoding]") {
    const auto both = parse_accept_encoding("gzip, br");
    CHECK(both.choose(true, true) == br);
    CHECK(both.choose(false, true) == gz);
    CHECK(both.choose(true, false) == br);
    CHECK(both.choose(false, false) == id);
    const auto gzip_first = parse_accept_encoding("br;q=0.5, gzip");
    CHECK(gzip_first.choose(true, true) == gz);
    CHECK(gzip_first.choose(true, false) == br);  // a less preferred coding still beats none
    const auto no_br = parse_accept_encoding("gzip, br;q=0");
    CHECK(no_br.choose(true, false) == id);
}
