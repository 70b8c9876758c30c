// bytes_equal: word loads that overlap where the length is not a multiple of 8, so each
// length has its own way of covering the bytes. Every input lies in a heap buffer of
// exactly its size, ending where the buffer ends, so ASan sees a read past either end.
#include <catch2/catch.hpp>

#include <cstddef>
#include <memory>
#include <string_view>
#include <vector>

#include "proto/bytes_equal.hpp"

using namespace pfd::proto;

namespace {

// n bytes at the end of a buffer of `lead` + n: `lead` makes the words unaligned.
struct exact_bytes {
    std::unique_ptr<char[]> buf;
    std::size_t lead;
    std::size_t n;

    exact_bytes(std::size_t size, std::size_t lead_bytes = 0)
        : buf{std::make_unique<char[]>(lead_bytes + size)}, lead{lead_bytes}, n{size} {
        for (std::size_t i = 0; i < n; ++i) {
            buf[lead + i] = static_cast<char>('A' + (i * 7) % 53);   // no two neighbours alike
        }
    }
    char& operator[](std::size_t i) { return buf[lead + i]; }
    [[nodiscard]] std::string_view view() const { return {buf.get() + lead, n}; }
};

}  // namespace

TEST_CASE("bytes_equal: equal bytes of every length 0..80 are equal", "[proto][bytes_equal]") {
    for (std::size_t n = 0; n <= 80; ++n) {
        for (std::size_t lead : {0U, 1U, 3U}) {
            INFO("length " << n << " lead " << lead);
            const exact_bytes a{n, lead};
            const exact_bytes b{n, 0};
            CHECK(bytes_equal(a.view(), b.view()));
            CHECK(bytes_equal(b.view(), a.view()));
            CHECK(bytes_equal(a.view(), a.view()));
        }
    }
    CHECK(bytes_equal(std::string_view{}, std::string_view{}));   // null data, no read
    CHECK(bytes_equal(std::string_view{}, ""));
}

TEST_CASE("bytes_equal: one differing byte is found wherever it is", "[proto][bytes_equal]") {
    for (std::size_t n = 1; n <= 80; ++n) {
        // Every position up to 40 bytes; beyond, the first, the middle and the last,
        // and each side of the 8-byte words.
        std::vector<std::size_t> positions;
        if (n <= 40) {
            for (std::size_t i = 0; i < n; ++i) {
                positions.push_back(i);
            }
        } else {
            for (std::size_t i : {std::size_t{0}, std::size_t{7}, std::size_t{8}, std::size_t{15}, std::size_t{16},
                                  n / 2, n - 17, n - 16, n - 9, n - 8, n - 1}) {
                positions.push_back(i);
            }
        }
        for (std::size_t at : positions) {
            // A low bit, a high bit (the sign of a char), and a whole different byte.
            for (int flip : {0x01, 0x80, 0xff, 0x20}) {
                INFO("length " << n << " at " << at << " flip " << flip);
                const exact_bytes a{n, 0};
                exact_bytes b{n, 5};
                b[at] = static_cast<char>(static_cast<unsigned char>(b[at]) ^ flip);
                CHECK_FALSE(bytes_equal(a.view(), b.view()));
                CHECK_FALSE(bytes_equal(b.view(), a.view()));
            }
        }
    }
}

TEST_CASE("bytes_equal: different sizes are unequal, even as a prefix", "[proto][bytes_equal]") {
    for (std::size_t n = 0; n <= 80; ++n) {
        INFO("length " << n);
        const exact_bytes a{n};
        const exact_bytes longer{n + 1};   // a's bytes and one more
        CHECK_FALSE(bytes_equal(a.view(), longer.view()));
        CHECK_FALSE(bytes_equal(longer.view(), a.view()));
        if (n > 0) {
            CHECK_FALSE(bytes_equal(a.view(), a.view().substr(0, n - 1)));
            CHECK_FALSE(bytes_equal(a.view().substr(1), a.view()));
        }
    }
}

TEST_CASE("bytes_equal: the lengths where the words change", "[proto][bytes_equal]") {
    // Named so a failure here points at the branch: below 8 bytes by byte, 8..16 in two
    // overlapping words, 17..32 in four, beyond that memcmp.
    for (std::size_t n : {7U, 8U, 9U, 15U, 16U, 17U, 24U, 31U, 32U, 33U}) {
        const exact_bytes a{n};
        exact_bytes b{n};
        INFO("length " << n);
        CHECK(bytes_equal(a.view(), b.view()));
        b[n - 1] = '\0';
        CHECK_FALSE(bytes_equal(a.view(), b.view()));
        b[n - 1] = a.view()[n - 1];
        b[0] = '\0';
        CHECK_FALSE(bytes_equal(a.view(), b.view()));
        b[0] = a.view()[0];
        b[n / 2] = '\0';
        CHECK_FALSE(bytes_equal(a.view(), b.view()));
    }
}
