#include <catch2/catch.hpp>

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>

#include "proto/byte_buffer.hpp"

using pfd::proto::byte_buffer;

namespace {

std::string pattern(std::size_t n, char first = 'a') {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) {
        s[i] = static_cast<char>(first + static_cast<char>(i % 26));
    }
    return s;
}

std::string readable_string(const byte_buffer& b) {
    const auto r = b.readable();
    return std::string{r.data(), r.size()};
}

}  // namespace

TEST_CASE("a new byte_buffer is empty and has no memory", "[proto][byte_buffer]") {
    byte_buffer b;
    CHECK(b.empty());
    CHECK(b.size() == 0);
    CHECK(b.capacity() == 0);
    CHECK(b.readable().empty());
    CHECK(b.view().empty());
}

TEST_CASE("append makes bytes readable in order", "[proto][byte_buffer]") {
    byte_buffer b;
    b.append("hello");
    b.append("");
    b.append(", world");
    CHECK_FALSE(b.empty());
    CHECK(b.size() == 12);
    CHECK(b.view() == "hello, world");
    CHECK(readable_string(b) == "hello, world");
    CHECK(b.capacity() >= 12);
}

TEST_CASE("append of nothing allocates nothing", "[proto][byte_buffer]") {
    byte_buffer b;
    b.append("");
    CHECK(b.capacity() == 0);
    CHECK(b.empty());
}

TEST_CASE("grow reserves bytes at the end to write into", "[proto][byte_buffer]") {
    byte_buffer b;
    b.append("ab");
    char* at = b.grow(3);
    REQUIRE(at == b.readable().data() + 2);
    std::memcpy(at, "cde", 3);
    CHECK(b.view() == "abcde");
    CHECK(b.size() == 5);
}

TEST_CASE("the buffer grows by doubling from 256 and keeps its bytes", "[proto][byte_buffer]") {
    byte_buffer b;
    b.append("x");
    CHECK(b.capacity() == 256);
    const std::string big = pattern(1000);
    b.append(big);
    CHECK(b.capacity() == 1024);
    CHECK(b.view() == "x" + big);
    b.append(pattern(3000, 'A'));
    CHECK(b.capacity() == 4096);
    CHECK(b.view() == "x" + big + pattern(3000, 'A'));
}

TEST_CASE("consume advances the read cursor; consuming everything empties the buffer", "[proto][byte_buffer]") {
    byte_buffer b;
    b.append("abcdef");
    b.consume(2);
    CHECK(b.view() == "cdef");
    CHECK(b.size() == 4);
    b.consume(0);
    CHECK(b.view() == "cdef");
    b.consume(4);
    CHECK(b.empty());
    CHECK(b.size() == 0);
    // Fully consumed: the next append starts at the front again, without new memory.
    const std::size_t cap = b.capacity();
    const std::string fill = pattern(cap);
    b.append(fill);
    CHECK(b.capacity() == cap);
    CHECK(b.view() == fill);
}

TEST_CASE("clear keeps the capacity", "[proto][byte_buffer]") {
    byte_buffer b;
    b.append(pattern(700));
    const std::size_t cap = b.capacity();
    b.clear();
    CHECK(b.empty());
    CHECK(b.capacity() == cap);
    b.append("again");
    CHECK(b.view() == "again");
    CHECK(b.capacity() == cap);
}

TEST_CASE("ensure_writable returns false when the room is already there", "[proto][byte_buffer]") {
    byte_buffer b;
    b.append(pattern(100));
    b.consume(10);
    const char* before = b.readable().data();
    REQUIRE(b.capacity() == 256);
    CHECK_FALSE(b.ensure_writable(156));  // 100 + 156 == 256: fits behind the data
    CHECK(b.readable().data() == before);
    CHECK(b.view() == pattern(100).substr(10));
    CHECK(b.capacity() == 256);
    // Nothing was written: ensure_writable does not change what is readable.
    CHECK(b.size() == 90);
}

TEST_CASE("ensure_writable compacts in place when consumed space suffices", "[proto][byte_buffer]") {
    byte_buffer b;
    const std::string data = pattern(200);
    b.append(data);
    REQUIRE(b.capacity() == 256);
    b.consume(150);  // 50 live bytes at offset 150
    const char* before = b.readable().data();
    // 200 + 100 > 256 at the end, but 50 + 100 <= 256 once moved to the front.
    CHECK(b.ensure_writable(100));
    CHECK(b.capacity() == 256);             // same memory...
    CHECK(b.readable().data() == before - 150);  // ...the live bytes moved to its start
    CHECK(b.view() == data.substr(150));
    // The room is really there: writing it needs no further move.
    const char* after = b.readable().data();
    b.append(pattern(100, 'A'));
    CHECK(b.readable().data() == after);
    CHECK(b.capacity() == 256);
    CHECK(b.view() == data.substr(150) + pattern(100, 'A'));
}

TEST_CASE("ensure_writable reallocates when consumed space does not suffice", "[proto][byte_buffer]") {
    byte_buffer b;
    const std::string data = pattern(200);
    b.append(data);
    b.consume(20);  // 180 live bytes
    // 180 + 100 > 256 even after compaction.
    CHECK(b.ensure_writable(100));
    CHECK(b.capacity() == 512);
    CHECK(b.view() == data.substr(20));
    const char* after = b.readable().data();
    b.append(pattern(100, 'A'));
    CHECK(b.readable().data() == after);
    CHECK(b.view() == data.substr(20) + pattern(100, 'A'));
}

TEST_CASE("ensure_writable on a buffer with no consumed bytes reallocates", "[proto][byte_buffer]") {
    byte_buffer b;
    const std::string data = pattern(256);
    b.append(data);
    REQUIRE(b.capacity() == 256);
    const char* before = b.readable().data();
    CHECK(b.ensure_writable(1));
    CHECK(b.capacity() == 512);
    CHECK(b.readable().data() != before);
    CHECK(b.view() == data);
}

TEST_CASE("ensure_writable(0) never moves anything", "[proto][byte_buffer]") {
    byte_buffer b;
    b.append(pattern(256));
    b.consume(100);
    const char* before = b.readable().data();
    CHECK_FALSE(b.ensure_writable(0));
    CHECK(b.readable().data() == before);
}

TEST_CASE("views rebased after ensure_writable returns true stay valid", "[proto][byte_buffer]") {
    // The way the request parser uses it: keep offsets, rebase on true.
    byte_buffer b;
    b.append(pattern(240));
    b.consume(200);
    std::string_view view = b.view().substr(5, 10);
    const std::string expected{view};
    const auto offset = static_cast<std::size_t>(view.data() - b.view().data());
    const char* old_base = b.view().data();
    const bool moved = b.ensure_writable(200);
    REQUIRE(moved);
    CHECK(b.view().data() != old_base);
    view = b.view().substr(offset, view.size());
    CHECK(view == expected);
}

TEST_CASE("release gives the memory back and the buffer stays usable", "[proto][byte_buffer]") {
    byte_buffer b;
    b.append(pattern(5000));
    REQUIRE(b.capacity() >= 5000);
    b.consume(10);
    b.release();
    CHECK(b.capacity() == 0);
    CHECK(b.empty());
    CHECK(b.size() == 0);
    CHECK(b.readable().empty());
    b.append("after");
    CHECK(b.view() == "after");
    CHECK(b.capacity() == 256);
}

TEST_CASE("a moved-from buffer gives its bytes to the new one", "[proto][byte_buffer]") {
    byte_buffer a;
    a.append("payload");
    a.consume(3);
    byte_buffer b{std::move(a)};
    CHECK(b.view() == "load");
    byte_buffer c;
    c = std::move(b);
    CHECK(c.view() == "load");
    CHECK(c.size() == 4);
}

TEST_CASE("interleaved appends and consumes keep every byte in order", "[proto][byte_buffer]") {
    byte_buffer b;
    std::string model;
    std::size_t next = 0;
    std::size_t most_needed = 0;  // the most bytes ever live at once, counting a new chunk
    for (int round = 0; round < 500; ++round) {
        const std::size_t add = static_cast<std::size_t>((round * 37) % 300);
        std::string chunk(add, '\0');
        for (auto& ch : chunk) {
            ch = static_cast<char>('0' + static_cast<char>(next++ % 75));
        }
        most_needed = std::max(most_needed, model.size() + add);
        b.append(chunk);
        model += chunk;
        const std::size_t take = std::min(model.size(), static_cast<std::size_t>((round * 53) % 280));
        b.consume(take);
        model.erase(0, take);
        REQUIRE(b.view() == model);
        REQUIRE(b.size() == model.size());
    }
    // Capacity follows what was ever live at once (doubling: under twice that), not the
    // total that went through (about 75 KB here).
    CHECK(b.capacity() < std::max<std::size_t>(256, 2 * most_needed));
}
