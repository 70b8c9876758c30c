// read_simple_head: which heads the fast path takes, what it makes of them, and that it
// declines everything it does not read exactly as llhttp's path would (that path is
// compared with it over the whole RFC table in request_parser_rfc_test.cpp).
#include <catch2/catch.hpp>

#include <cstring>
#include <memory>
#include <string>
#include <string_view>

#include "proto/http_chars.hpp"
#include "proto/simple_head.hpp"

using namespace pfd::proto;

namespace {

std::size_t read(std::string_view text, request_head& head, parser_limits limits = {}) {
    simple_head_memo memo;
    return read_simple_head(text, limits, head, memo);
}

bool declined(std::string_view text, parser_limits limits = {}) {
    request_head head;
    return read(text, head, limits) == 0;
}

}  // namespace

TEST_CASE("simple head: a GET with its fields, and only its own bytes", "[proto][simple_head]") {
    const std::string one = "GET /a/b?x=1 HTTP/1.1\r\nHost: example.com:80\r\nUser-Agent:  wrk \t\r\nX-Empty:\r\n\r\n";
    const std::string two = one + "HEAD / HTTP/1.0\r\n\r\n";
    request_head head;
    REQUIRE(read(two, head) == one.size());
    CHECK(head.method == method::get);
    CHECK(head.method_name == "GET");
    CHECK(head.target == "/a/b?x=1");
    CHECK(head.path == "/a/b");
    CHECK(head.form == target_form::origin);
    CHECK(head.version_major == 1);
    CHECK(head.version_minor == 1);
    CHECK(head.keep_alive);
    CHECK_FALSE(head.has_body);
    CHECK_FALSE(head.expect_continue);
    REQUIRE(head.header_count == 3);
    CHECK(head.headers[0].name == "Host");
    CHECK(head.headers[0].value == "example.com:80");
    CHECK(head.headers[1].value == "wrk");   // OWS on both sides is not part of the value
    CHECK(head.headers[2].name == "X-Empty");
    CHECK(head.headers[2].value.empty());
    CHECK(head.find_header("user-agent") == "wrk");

    // The next head, from where the first ended: HTTP/1.0 without Host, not persistent.
    REQUIRE(read(std::string_view{two}.substr(one.size()), head) == two.size() - one.size());
    CHECK(head.method == method::head);
    CHECK(head.version_minor == 0);
    CHECK(head.header_count == 0);
    CHECK_FALSE(head.keep_alive);
}

TEST_CASE("simple head: persistence from the version and one Connection", "[proto][simple_head]") {
    request_head head;
    REQUIRE(read("GET / HTTP/1.1\r\nHost: h\r\nConnection: Close\r\n\r\n", head) != 0);
    CHECK_FALSE(head.keep_alive);
    REQUIRE(read("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", head) != 0);
    CHECK(head.keep_alive);
    REQUIRE(read("GET / HTTP/1.1\r\nHost: h\r\nConnection: keep-alive\r\n\r\n", head) != 0);
    CHECK(head.keep_alive);
    for (const char* m : {"POST", "PUT", "DELETE", "OPTIONS"}) {
        INFO(m);
        CHECK_FALSE(declined(std::string{m} + " /x HTTP/1.1\r\nHost: h\r\n\r\n"));
    }
}

TEST_CASE("simple head: declines what llhttp's path must judge", "[proto][simple_head]") {
    for (std::string_view text : {
             "GET / HTTP/1.1\r\nHost: h\r\n",                              // incomplete
             "GET / HTTP/1.1\r\nHost: h\r\n\r",                            // incomplete
             "get / HTTP/1.1\r\nHost: h\r\n\r\n",                          // method case
             "PATCH / HTTP/1.1\r\nHost: h\r\n\r\n",                        // another method
             "CONNECT h:80 HTTP/1.1\r\nHost: h\r\n\r\n",                   // authority-form
             "GET  / HTTP/1.1\r\nHost: h\r\n\r\n",                         // two SP
             "GET * HTTP/1.1\r\nHost: h\r\n\r\n",                          // asterisk-form
             "GET http://h/ HTTP/1.1\r\nHost: h\r\n\r\n",                  // absolute-form
             "GET /a#f HTTP/1.1\r\nHost: h\r\n\r\n",                       // fragment
             "GET /a\"b HTTP/1.1\r\nHost: h\r\n\r\n",                      // not a URI character
             "GET / HTTP/1.2\r\nHost: h\r\n\r\n",                          // another minor version
             "GET / HTTP/2.0\r\nHost: h\r\n\r\n",                          // another major version
             "GET / HTTP/1.1\nHost: h\r\n\r\n",                            // bare LF
             "GET / HTTP/1.1\r\nHost: h\n\r\n",                            // bare LF
             "GET / HTTP/1.1\r\nHost: h\r\n\n",                            // bare LF
             "GET / HTTP/1.1\r\n\r\n",                                     // no Host
             "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",               // two Hosts
             "GET / HTTP/1.1\r\nHost: a b\r\n\r\n",                        // invalid Host
             "GET / HTTP/1.1\r\nHost : h\r\n\r\n",                         // space before the colon
             "GET / HTTP/1.1\r\n Host: h\r\n\r\n",                         // leading space
             "GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n",               // obs-fold
             "GET / HTTP/1.1\r\nHost: h\r\nX: caf\xc3\xa9\r\n\r\n",        // obs-text
             "GET / HTTP/1.1\r\nHost: h\r\nX: a\x01\r\n\r\n",              // control byte
             "GET / HTTP/1.1\r\nHost: h\r\nX@Y: 1\r\n\r\n",                // not a token
             "GET / HTTP/1.1\r\nHost: h\r\nContent-Length: 0\r\n\r\n",
             "GET / HTTP/1.1\r\nHost: h\r\ntransfer-encoding: chunked\r\n\r\n",
             "GET / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n",
             "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: websocket\r\n\r\n",
             "GET / HTTP/1.1\r\nHost: h\r\nProxy-Connection: close\r\n\r\n",
             "GET / HTTP/1.1\r\nHost: h\r\nConnection: close, upgrade\r\n\r\n",
             "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\nConnection: close\r\n\r\n",
         }) {
        INFO(text);
        CHECK(declined(text));
    }
}

TEST_CASE("simple head: declines at the limits, where llhttp's path answers 414 or 431", "[proto][simple_head]") {
    parser_limits limits;
    limits.max_request_line = 10;
    CHECK_FALSE(declined("GET /234567 HTTP/1.1\r\nHost: h\r\n\r\n", limits));   // 3 + 7 = 10
    CHECK(declined("GET /2345678 HTTP/1.1\r\nHost: h\r\n\r\n", limits));

    limits = {};
    limits.max_headers = 2;
    CHECK_FALSE(declined("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\n\r\n", limits));
    CHECK(declined("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\nB: 2\r\n\r\n", limits));

    limits = {};
    limits.max_header_bytes = 12;   // "Host" + "h" + 4, then "A" + "1" + 4
    CHECK_FALSE(declined("GET / HTTP/1.1\r\nHost: h\r\n\r\n", limits));
    CHECK(declined("GET / HTTP/1.1\r\nHost: h\r\nA: 1\r\n\r\n", limits));
}

TEST_CASE("equals_lowercase: both cases of each letter, nothing else", "[proto][simple_head]") {
    CHECK(equals_lowercase("Host", "host"));
    CHECK(equals_lowercase("CONTENT-LENGTH", "content-length"));
    CHECK(equals_lowercase("Transfer-Encoding", "transfer-encoding"));
    CHECK(equals_lowercase("keep-ALIVE", "keep-alive"));
    CHECK_FALSE(equals_lowercase("hosts", "host"));
    CHECK_FALSE(equals_lowercase("hist", "host"));
    CHECK_FALSE(equals_lowercase("Content-Lengtx", "content-length"));   // the 8-byte word and the tail
    CHECK_FALSE(equals_lowercase("Content_Length", "content-length"));
    CHECK_FALSE(equals_lowercase("keep alive", "keep-alive"));
    CHECK_FALSE(equals_lowercase("Proxy-Connectio", "proxy-connection"));
}

TEST_CASE("simple head: every byte of a long value is judged, in and after each 8-byte word", "[proto][simple_head]") {
    // A value of 16..40 bytes with one byte changed at each position: plain ones are
    // taken, the others (control bytes, DEL, obs-text) declined wherever they fall.
    for (std::size_t len = 16; len <= 40; len += 3) {
        for (std::size_t at = 0; at < len; ++at) {
            for (int b : {0x00, 0x01, 0x0b, 0x1f, 0x7f, 0x80, 0xc3, 0xff, 0x20, 0x21, 0x7e, 0x09}) {
                std::string value(len, 'a');
                value[at] = static_cast<char>(b);
                const std::string text = "GET / HTTP/1.1\r\nHost: h\r\nX: v" + value + "v\r\n\r\n";
                const bool plain = (b >= 0x20 && b <= 0x7e) || b == 0x09;
                INFO("len " << len << " at " << at << " byte " << b);
                CHECK(declined(text) == !plain);
            }
        }
    }
}

TEST_CASE("simple head: a Host seen valid is remembered, a different one checked", "[proto][simple_head]") {
    simple_head_memo memo;
    request_head head;
    const parser_limits limits;
    CHECK(read_simple_head("GET / HTTP/1.1\r\nHost: a.example:80\r\n\r\n", limits, head, memo) != 0);
    CHECK(std::string_view{memo.host.data(), memo.host_size} == "a.example:80");
    CHECK(read_simple_head("GET / HTTP/1.1\r\nHost: a.example:80\r\n\r\n", limits, head, memo) != 0);
    CHECK(read_simple_head("GET / HTTP/1.1\r\nHost: a.example:8x\r\n\r\n", limits, head, memo) == 0);
    CHECK(read_simple_head("GET / HTTP/1.1\r\nHost: a.example:8\r\n\r\n", limits, head, memo) != 0);
    CHECK(std::string_view{memo.host.data(), memo.host_size} == "a.example:8");
}

TEST_CASE("simple head: Host in any case, and the names that only look like it", "[proto][simple_head]") {
    for (std::string_view name : {"HOST", "hOsT", "host", "Host"}) {
        INFO(name);
        request_head head;
        const std::string text = "GET / HTTP/1.1\r\n" + std::string{name} + ": h.example\r\nA: 1\r\n\r\n";
        REQUIRE(read(text, head) == text.size());
        REQUIRE(head.header_count == 2);
        CHECK(head.headers[0].name == name);
        CHECK(head.headers[0].value == "h.example");
        CHECK(head.headers[1].name == "A");
        CHECK(head.find_header("host") == "h.example");
    }
    // Other fields: with no Host beside them an HTTP/1.1 head is declined, with one it is
    // taken (and they are not a second Host), and HTTP/1.0 takes them as they are.
    for (std::string_view name : {"Hosts", "X-Host", "Hos", "Hostt", "HOSTS", "Ghost", "Iost", "Hnst"}) {
        INFO(name);
        CHECK(declined("GET / HTTP/1.1\r\n" + std::string{name} + ": h\r\n\r\n"));
        request_head head;
        const std::string with_host = "GET / HTTP/1.1\r\n" + std::string{name} + ": a/b c\r\nHost: h\r\n\r\n";
        REQUIRE(read(with_host, head) == with_host.size());
        REQUIRE(head.header_count == 2);
        CHECK(head.headers[0].name == name);
        CHECK(head.headers[0].value == "a/b c");   // not judged as a Host
        const std::string old = "GET / HTTP/1.0\r\n" + std::string{name} + ": a/b\r\n\r\n";
        REQUIRE(read(old, head) == old.size());
        CHECK(head.header_count == 1);
    }
    CHECK(declined("GET / HTTP/1.1\r\nHost : h\r\n\r\n"));
    CHECK(declined("GET / HTTP/1.1\r\nHOST : h\r\n\r\n"));
    CHECK(declined("GET / HTTP/1.1\r\nHost\r\n\r\n"));
    CHECK(declined("GET / HTTP/1.1\r\nA: 1\r\nhost: a\r\nHOST: a\r\n\r\n"));   // two Hosts, in two cases
    // The head ends within the name or right after the colon: incomplete.
    for (std::string_view text : {"GET / HTTP/1.1\r\nH", "GET / HTTP/1.1\r\nHos", "GET / HTTP/1.1\r\nHost",
                                  "GET / HTTP/1.1\r\nHost:", "GET / HTTP/1.1\r\nHost: ", "GET / HTTP/1.1\r\nHost: h",
                                  "GET / HTTP/1.1\r\nHost: h\r"}) {
        INFO(text);
        // In a heap buffer of exactly its size: ASan sees a read past the end.
        const auto buf = std::make_unique<char[]>(text.size());
        std::memcpy(buf.get(), text.data(), text.size());
        CHECK(declined({buf.get(), text.size()}));
    }
}

TEST_CASE("simple head: the path ends at the first '?', the target goes on", "[proto][simple_head]") {
    struct row {
        std::string_view target, path;
    };
    for (const row& r : {row{"/?", "/"}, row{"/a?b?c", "/a"}, row{"/a/b", "/a/b"}, row{"/?/x", "/"},
                         row{"/a%20b?q=/c", "/a%20b"}, row{"/", "/"}, row{"/a??", "/a"}}) {
        INFO(r.target);
        request_head head;
        const std::string text = "GET " + std::string{r.target} + " HTTP/1.1\r\nHost: h\r\n\r\n";
        REQUIRE(read(text, head) == text.size());
        CHECK(head.target == r.target);
        CHECK(head.path == r.path);
        CHECK(head.path.data() == head.target.data());
    }
}

TEST_CASE("simple head: a remembered Host does not stand for one that differs in its last byte",
          "[proto][simple_head]") {
    const parser_limits limits;
    {
        // An empty Host is refused (RFC 9110 4.2.1), though it equals the empty memo.
        simple_head_memo memo;
        request_head head;
        CHECK(read_simple_head("GET / HTTP/1.1\r\nHost: \r\n\r\n", limits, head, memo) == 0);
    }
    for (std::size_t n : {1U, 7U, 8U, 9U, 15U, 16U, 17U, 31U, 32U, 33U, 63U, 64U, 65U}) {
        // The first Host, n bytes; the second keeps its first n - 1 and changes the last.
        std::string first(n, 'a');
        for (std::size_t i = 0; i < n; i += 5) {
            first[i] = static_cast<char>('b' + i % 20);
        }
        const std::string stem = first.substr(0, n == 0 ? 0 : n - 1);
        const auto text = [](std::string_view host) { return "GET / HTTP/1.1\r\nHost: " + std::string{host} + "\r\n\r\n"; };

        // Valid last bytes: taken, with their own value.
        for (char last : {'z', '9', '-', '.', '~', '!'}) {
            const std::string second = stem + last;
            if (second == first) {
                continue;
            }
            INFO("size " << n << " second ends in " << last);
            simple_head_memo memo;
            request_head head;
            const std::string first_text = text(first);   // the head's views point into it
            REQUIRE(read_simple_head(first_text, limits, head, memo) != 0);
            CHECK(head.headers[0].value == first);
            if (n <= memo.host.size()) {
                CHECK(std::string_view{memo.host.data(), memo.host_size} == first);
            }
            const std::string second_text = text(second);
            REQUIRE(read_simple_head(second_text, limits, head, memo) == second_text.size());
            CHECK(head.headers[0].value == second);
            // And the first again, after the second took its place.
            REQUIRE(read_simple_head(first_text, limits, head, memo) != 0);
            CHECK(head.headers[0].value == first);
        }
        // Not host syntax: declined, though a Host n - 1 bytes the same was seen valid.
        for (char last : {'/', '"', '<', '\\', '{', '#', '?'}) {
            INFO("size " << n << " second ends in " << last);
            simple_head_memo memo;
            request_head head;
            REQUIRE(read_simple_head(text(first), limits, head, memo) != 0);
            CHECK(read_simple_head(text(stem + last), limits, head, memo) == 0);
            // Declined again, not remembered, and the first still taken.
            CHECK(read_simple_head(text(stem + last), limits, head, memo) == 0);
            CHECK(read_simple_head(text(first), limits, head, memo) != 0);
        }
        // A space inside the value (before its last byte) is not host syntax either.
        if (n >= 2) {
            INFO("size " << n << " with a space before the last byte");
            simple_head_memo memo;
            request_head head;
            REQUIRE(read_simple_head(text(first), limits, head, memo) != 0);
            std::string spaced = first;
            spaced[n - 2] = ' ';
            CHECK(read_simple_head(text(spaced), limits, head, memo) == 0);
        }
    }
}
