#include <catch2/catch.hpp>

#include <algorithm>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "proto/request_parser.hpp"

using namespace pfd::proto;

namespace {

// One request head as the sink saw it, copied out of the parser's views.
struct recorded_head {
    std::string method_name;
    method method_enum = method::other;
    std::string target;
    std::string path;
    int version_major = -1;
    int version_minor = -1;
    bool keep_alive = false;
    std::vector<std::pair<std::string, std::string>> headers;
    // find_header results for a few names, taken while the views are alive.
    std::string host_lookup;
    std::string upper_host_lookup;
    bool missing_lookup_empty = false;
    std::string body;  // every on_request_body piece, concatenated

    bool operator==(const recorded_head&) const = default;
};

struct test_sink final : request_sink {
    std::vector<recorded_head> heads;
    int completions = 0;
    std::string events;  // "H" per head, "C" per completion, in order
    std::size_t body_calls = 0;
    // A body piece that was empty, or outside a head and its completion.
    bool misplaced_body = false;
    bool in_request = false;

    void on_request_head(const request_head& h) noexcept override {
        recorded_head r;
        r.method_name = std::string{h.method_name};
        r.method_enum = h.method;
        r.target = std::string{h.target};
        r.path = std::string{h.path};
        r.version_major = h.version_major;
        r.version_minor = h.version_minor;
        r.keep_alive = h.keep_alive;
        for (std::size_t i = 0; i < h.header_count; ++i) {
            r.headers.emplace_back(std::string{h.headers[i].name}, std::string{h.headers[i].value});
        }
        r.host_lookup = std::string{h.find_header("host")};
        r.upper_host_lookup = std::string{h.find_header("HOST")};
        r.missing_lookup_empty = h.find_header("X-Not-There").empty();
        heads.push_back(std::move(r));
        events += 'H';
        in_request = true;
    }
    void on_request_body(std::span<const char> bytes) noexcept override {
        ++body_calls;
        if (!in_request || bytes.empty() || heads.empty()) {
            misplaced_body = true;
            return;
        }
        heads.back().body.append(bytes.data(), bytes.size());
    }
    void on_request_complete() noexcept override {
        ++completions;
        events += 'C';
        in_request = false;
    }
};

// Feeds each chunk through one reused "receive buffer" that is scribbled over after
// every feed, as a real connection recycles its buffers: the parser must not keep
// views into bytes it was given in an earlier feed.
parse_status feed_chunks(request_parser& p, const std::vector<std::string_view>& chunks) {
    std::vector<char> buf;
    parse_status st = parse_status::need_more;
    for (auto c : chunks) {
        buf.assign(c.begin(), c.end());
        st = p.feed(std::span<const char>{buf.data(), buf.size()});
        std::fill(buf.begin(), buf.end(), '#');
        if (st != parse_status::need_more) {
            break;
        }
    }
    return st;
}

parse_status feed_all(request_parser& p, std::string_view text) {
    return feed_chunks(p, {text});
}

// Parses text in one go, then split at every boundary, then one byte at a time, and
// checks every way gives the same heads, events and status as the single feed.
void check_split_invariance(std::string_view text, parser_limits limits = {}) {
    test_sink whole;
    request_parser pw{whole, limits};
    const parse_status whole_status = feed_all(pw, text);
    REQUIRE(!whole.heads.empty());
    CHECK_FALSE(whole.misplaced_body);

    for (std::size_t cut = 1; cut < text.size(); ++cut) {
        CAPTURE(cut);
        test_sink s;
        request_parser p{s, limits};
        const parse_status st = feed_chunks(p, {text.substr(0, cut), text.substr(cut)});
        CHECK(st == whole_status);
        CHECK(s.events == whole.events);
        CHECK(s.heads == whole.heads);
        CHECK_FALSE(s.misplaced_body);
    }

    test_sink bytes;
    request_parser pb{bytes, limits};
    std::vector<std::string_view> singles;
    for (std::size_t i = 0; i < text.size(); ++i) {
        singles.push_back(text.substr(i, 1));
    }
    CHECK(feed_chunks(pb, singles) == whole_status);
    CHECK(bytes.events == whole.events);
    CHECK(bytes.heads == whole.heads);
    CHECK_FALSE(bytes.misplaced_body);

    // Fixed-size reads of every size: a head may start in the read that ends another.
    for (std::size_t step = 2; step < text.size(); ++step) {
        CAPTURE(step);
        std::vector<std::string_view> chunks;
        for (std::size_t at = 0; at < text.size(); at += step) {
            chunks.push_back(text.substr(at, step));
        }
        test_sink s;
        request_parser p{s, limits};
        const parse_status st = feed_chunks(p, chunks);
        CHECK((st == whole_status && s.events == whole.events && s.heads == whole.heads && !s.misplaced_body));
    }
}

constexpr std::string_view simple_get =
    "GET /index.html?x=1&y=2 HTTP/1.1\r\n"
    "Host: example.com\r\n"
    "User-Agent: test/1.0   \r\n"
    "Accept: */*\t \r\n"
    "X-Empty:\r\n"
    "\r\n";

struct error_case {
    int status;
    parse_status result;
};

error_case parse_error(std::string_view text, parser_limits limits = {}) {
    test_sink s;
    request_parser p{s, limits};
    const parse_status st = feed_all(p, text);
    return {p.error_status(), st};
}

}  // namespace

TEST_CASE("a simple GET yields its method, target, path, version and headers", "[proto][parser]") {
    test_sink s;
    request_parser p{s, {}};
    REQUIRE(feed_all(p, simple_get) == parse_status::need_more);
    REQUIRE(s.heads.size() == 1);
    CHECK(s.completions == 1);
    CHECK(s.events == "HC");
    const auto& h = s.heads[0];
    CHECK(h.method_name == "GET");
    CHECK(h.method_enum == method::get);
    CHECK(h.target == "/index.html?x=1&y=2");
    CHECK(h.path == "/index.html");
    CHECK(h.version_major == 1);
    CHECK(h.version_minor == 1);
    CHECK(h.keep_alive);
    CHECK(p.error_status() == 0);
}

TEST_CASE("header names and values are reported with trailing whitespace trimmed", "[proto][parser]") {
    test_sink s;
    request_parser p{s, {}};
    REQUIRE(feed_all(p, simple_get) == parse_status::need_more);
    REQUIRE(s.heads.size() == 1);
    const std::vector<std::pair<std::string, std::string>> expected{
        {"Host", "example.com"},
        {"User-Agent", "test/1.0"},
        {"Accept", "*/*"},
        {"X-Empty", ""},
    };
    CHECK(s.heads[0].headers == expected);
}

TEST_CASE("find_header matches names case-insensitively and returns empty when absent",
          "[proto][parser]") {
    test_sink s;
    request_parser p{s, {}};
    REQUIRE(feed_all(p, simple_get) == parse_status::need_more);
    REQUIRE(s.heads.size() == 1);
    CHECK(s.heads[0].host_lookup == "example.com");
    CHECK(s.heads[0].upper_host_lookup == "example.com");
    CHECK(s.heads[0].missing_lookup_empty);
}

TEST_CASE("combined_field joins a field's lines in order with \", \" (RFC 9110 5.3)", "[proto][parser]") {
    request_head h;
    const header fields[] = {{"Accept", "a"}, {"If-None-Match", "\"x\""}, {"Host", "h"},
                             {"if-none-match", "\"y\""}, {"IF-NONE-MATCH", ""}, {"X-One", " v "}};
    for (const header& f : fields) {
        h.headers[h.header_count++] = f;
    }
    std::string joined;
    CHECK(h.combined_field("If-None-Match", joined) == "\"x\", \"y\", ");
    std::string untouched;
    CHECK(h.combined_field("x-one", untouched) == " v ");   // one line: its own value, nothing copied
    CHECK(untouched.empty());
    CHECK(h.combined_field("Missing", untouched).empty());
}

TEST_CASE("iequals compares ASCII case-insensitively and by length", "[proto][parser]") {
    CHECK(iequals("Content-Length", "content-length"));
    CHECK(iequals("HOST", "host"));
    CHECK_FALSE(iequals("host", "hosts"));
    CHECK_FALSE(iequals("host", "hast"));
    CHECK(iequals("", ""));
}

TEST_CASE("methods map to their enum values", "[proto][parser]") {
    const std::vector<std::pair<std::string, method>> cases{
        {"GET", method::get},     {"HEAD", method::head},       {"POST", method::post},
        {"PUT", method::put},     {"DELETE", method::del},      {"OPTIONS", method::options},
        {"PATCH", method::other},
    };
    for (const auto& [name, m] : cases) {
        CAPTURE(name);
        test_sink s;
        request_parser p{s, {}};
        const std::string req = name + " / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n";
        REQUIRE(feed_all(p, req) == parse_status::need_more);
        REQUIRE(s.heads.size() == 1);
        CHECK(s.heads[0].method_name == name);
        CHECK(s.heads[0].method_enum == m);
    }
}

TEST_CASE("a request split at every byte boundary or fed byte by byte parses the same",
          "[proto][parser][split]") {
    check_split_invariance(simple_get);
}

TEST_CASE("a head with a 20 KB header value fed in 3 KB chunks is reassembled intact",
          "[proto][parser][split]") {
    std::string big(20 * 1024, 'v');
    for (std::size_t i = 0; i < big.size(); ++i) {
        big[i] = static_cast<char>('a' + (i % 26));
    }
    const std::string req = "GET /big/path?q=1 HTTP/1.1\r\nHost: example.com\r\nX-Big: " + big +
                            "\r\nX-After: tail\r\n\r\n";
    std::vector<std::string_view> chunks;
    const std::string_view all = req;
    for (std::size_t at = 0; at < all.size(); at += 3 * 1024) {
        chunks.push_back(all.substr(at, 3 * 1024));
    }
    REQUIRE(chunks.size() >= 7);

    test_sink s;
    request_parser p{s, {}};
    REQUIRE(feed_chunks(p, chunks) == parse_status::need_more);
    REQUIRE(s.heads.size() == 1);
    CHECK(s.completions == 1);
    const auto& h = s.heads[0];
    CHECK(h.method_name == "GET");
    CHECK(h.target == "/big/path?q=1");
    REQUIRE(h.headers.size() == 3);
    CHECK(h.headers[0] == std::pair<std::string, std::string>{"Host", "example.com"});
    CHECK(h.headers[1].first == "X-Big");
    CHECK(h.headers[1].second.size() == big.size());
    CHECK(h.headers[1].second == big);
    CHECK(h.headers[2] == std::pair<std::string, std::string>{"X-After", "tail"});

    // The parser is usable for a next, small request on the same connection.
    REQUIRE(feed_all(p, "GET /next HTTP/1.1\r\nHost: b\r\n\r\n") == parse_status::need_more);
    REQUIRE(s.heads.size() == 2);
    CHECK(s.heads[1].target == "/next");
    CHECK(s.heads[1].host_lookup == "b");
}

TEST_CASE("a large head split at every 1000th byte boundary parses the same",
          "[proto][parser][split]") {
    std::string req = "POST /upload?name=file HTTP/1.1\r\nHost: h\r\n";
    for (int i = 0; i < 40; ++i) {
        req += "X-Header-" + std::to_string(i) + ": " + std::string(static_cast<std::size_t>(100 + i), 'z') +
               "\r\n";
    }
    req += "Content-Length: 3\r\n\r\nabc";
    test_sink whole;
    request_parser pw{whole, {}};
    REQUIRE(feed_all(pw, req) == parse_status::need_more);
    REQUIRE(whole.heads.size() == 1);
    REQUIRE(whole.heads[0].headers.size() == 42);

    const std::string_view all = req;
    for (std::size_t step = 7; step < all.size(); step += 97) {
        CAPTURE(step);
        std::vector<std::string_view> chunks;
        for (std::size_t at = 0; at < all.size(); at += step) {
            chunks.push_back(all.substr(at, step));
        }
        test_sink s;
        request_parser p{s, {}};
        CHECK(feed_chunks(p, chunks) == parse_status::need_more);
        CHECK(s.events == "HC");
        CHECK(s.heads == whole.heads);
    }
}

namespace {
constexpr std::string_view pipelined =
    "GET /one HTTP/1.1\r\nHost: a\r\n\r\n"
    "HEAD /two?x HTTP/1.1\r\nHost: b\r\nX-Two: 2\r\n\r\n"
    "DELETE /three HTTP/1.1\r\nHost: c\r\n\r\n";
}

TEST_CASE("three pipelined requests in one feed are reported in order", "[proto][parser][pipeline]") {
    test_sink s;
    request_parser p{s, {}};
    REQUIRE(feed_all(p, pipelined) == parse_status::need_more);
    CHECK(s.events == "HCHCHC");
    CHECK(s.completions == 3);
    REQUIRE(s.heads.size() == 3);
    CHECK(s.heads[0].target == "/one");
    CHECK(s.heads[0].method_enum == method::get);
    CHECK(s.heads[0].host_lookup == "a");
    CHECK(s.heads[1].target == "/two?x");
    CHECK(s.heads[1].path == "/two");
    CHECK(s.heads[1].method_enum == method::head);
    CHECK(s.heads[1].host_lookup == "b");
    CHECK(s.heads[1].headers.size() == 2);
    CHECK(s.heads[2].target == "/three");
    CHECK(s.heads[2].method_enum == method::del);
    CHECK(s.heads[2].host_lookup == "c");
    CHECK(p.idle());
}

TEST_CASE("pipelined requests split at every byte boundary parse the same",
          "[proto][parser][pipeline][split]") {
    check_split_invariance(pipelined);
}

namespace {
constexpr std::string_view with_length_body =
    "POST /submit HTTP/1.1\r\nHost: a\r\nContent-Length: 38\r\n\r\n"
    "GET /not-a-request HTTP/1.1\r\nHost: x\r\n"  // 38 body bytes that look like a request
    "GET /after HTTP/1.1\r\nHost: b\r\n\r\n";

constexpr std::string_view with_chunked_body =
    "POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5\r\nhello\r\n"
    "19\r\nGET /fake HTTP/1.1\r\nHost:\r\n"  // 0x19 = 25 bytes
    "0\r\n\r\n"
    "GET /after HTTP/1.1\r\nHost: b\r\n\r\n";
}  // namespace

TEST_CASE("a Content-Length body is skipped and the next pipelined request parsed",
          "[proto][parser][body]") {
    REQUIRE(std::string_view{"GET /not-a-request HTTP/1.1\r\nHost: x\r\n"}.size() == 38);
    test_sink s;
    request_parser p{s, {}};
    REQUIRE(feed_all(p, with_length_body) == parse_status::need_more);
    CHECK(s.events == "HCHC");
    REQUIRE(s.heads.size() == 2);
    CHECK(s.heads[0].method_enum == method::post);
    CHECK(s.heads[0].target == "/submit");
    CHECK(s.heads[1].method_enum == method::get);
    CHECK(s.heads[1].target == "/after");
    CHECK(s.heads[1].host_lookup == "b");
}

TEST_CASE("a Content-Length body split at every byte boundary parses the same",
          "[proto][parser][body][split]") {
    check_split_invariance(with_length_body);
}

TEST_CASE("the request is complete only after its whole body arrived", "[proto][parser][body]") {
    test_sink s;
    request_parser p{s, {}};
    REQUIRE(feed_all(p, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nab") ==
            parse_status::need_more);
    CHECK(s.events == "H");
    CHECK_FALSE(p.idle());
    REQUIRE(feed_all(p, "cd") == parse_status::need_more);
    CHECK(s.events == "HC");
    CHECK(p.idle());
}

TEST_CASE("a chunked body is skipped and the next pipelined request parsed", "[proto][parser][body]") {
    REQUIRE(std::string_view{"GET /fake HTTP/1.1\r\nHost:"}.size() == 0x19);
    test_sink s;
    request_parser p{s, {}};
    REQUIRE(feed_all(p, with_chunked_body) == parse_status::need_more);
    CHECK(s.events == "HCHC");
    REQUIRE(s.heads.size() == 2);
    CHECK(s.heads[0].target == "/chunked");
    CHECK(s.heads[1].target == "/after");
    CHECK(p.idle());
}

TEST_CASE("a chunked body split at every byte boundary parses the same", "[proto][parser][body][split]") {
    check_split_invariance(with_chunked_body);
}

namespace {
// Feeds text whole, in two reads split at every boundary, one byte per read, and in
// fixed-size reads of every size; each time the body bytes the sink saw, request by
// request, must be exactly `expected`, every piece inside its request and none empty.
void check_bodies(std::string_view text, const std::vector<std::string>& expected, parser_limits limits = {}) {
    auto bodies_of = [&](const std::vector<std::string_view>& reads) {
        test_sink s;
        request_parser p{s, limits};
        feed_chunks(p, reads);
        CHECK_FALSE(s.misplaced_body);
        std::vector<std::string> bodies;
        for (const auto& h : s.heads) {
            bodies.push_back(h.body);
        }
        return bodies;
    };
    CHECK(bodies_of({text}) == expected);
    for (std::size_t cut = 1; cut < text.size(); ++cut) {
        CAPTURE(cut);
        CHECK(bodies_of({text.substr(0, cut), text.substr(cut)}) == expected);
    }
    for (std::size_t step = 1; step < text.size(); ++step) {
        CAPTURE(step);
        std::vector<std::string_view> reads;
        for (std::size_t at = 0; at < text.size(); at += step) {
            reads.push_back(text.substr(at, step));
        }
        CHECK(bodies_of(reads) == expected);
    }
}

const std::string chunked_with_extensions_and_trailers =
    "POST /up HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
    "5;name=value\r\nhello\r\n"
    "1;quoted=\"a;b\\\"c\"\r\n \r\n"
    "A ; flag\r\n0123456789\r\n"
    "4\r\n\r\n\r\n\r\n"                       // data that looks like framing
    "0;last=1\r\nX-Trailer: 5\r\nX-Data: abc\r\n\r\n";
}  // namespace

TEST_CASE("a Content-Length body reaches the sink exactly, whatever the split", "[proto][parser][body][split]") {
    check_bodies(with_length_body, {"GET /not-a-request HTTP/1.1\r\nHost: x\r\n", ""});
}

TEST_CASE("a chunked body reaches the sink de-chunked: data only, whatever the split",
          "[proto][parser][body][split]") {
    check_bodies(with_chunked_body, {"helloGET /fake HTTP/1.1\r\nHost:", ""});
    check_bodies(chunked_with_extensions_and_trailers + "GET / HTTP/1.1\r\nHost: b\r\n\r\n",
                 {"hello 0123456789\r\n\r\n", ""});
}

TEST_CASE("pipelined requests' bodies are kept apart", "[proto][parser][body][pipeline][split]") {
    const std::string text = "POST /1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\none" +
                             chunked_with_extensions_and_trailers +
                             "GET /3 HTTP/1.1\r\nHost: a\r\n\r\n"
                             "PUT /4 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nfour"
                             "POST /5 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                             "POST /6 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nsix\r\n0\r\n\r\n";
    check_bodies(text, {"one", "hello 0123456789\r\n\r\n", "", "four", "", "six"});
}

TEST_CASE("a large Content-Length body arrives whole over many reads", "[proto][parser][body]") {
    std::string body(200 * 1024, '\0');
    for (std::size_t i = 0; i < body.size(); ++i) {
        body[i] = static_cast<char>('a' + i % 26);
    }
    const std::string text = "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::to_string(body.size()) +
                             "\r\n\r\n" + body + "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    std::vector<std::string_view> reads;
    for (std::size_t at = 0; at < text.size(); at += 3000) {
        reads.push_back(std::string_view{text}.substr(at, 3000));
    }
    test_sink s;
    request_parser p{s, {}};
    REQUIRE(feed_chunks(p, reads) == parse_status::need_more);
    REQUIRE(s.heads.size() == 2);
    CHECK(s.heads[0].body == body);
    CHECK(s.heads[1].body.empty());
    CHECK_FALSE(s.misplaced_body);
}

TEST_CASE("requests without a body never reach on_request_body", "[proto][parser][body]") {
    test_sink s;
    request_parser p{s, {}};
    REQUIRE(feed_all(p, std::string{pipelined} +
                            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"
                            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0;x=y\r\nT: v\r\n\r\n") ==
            parse_status::need_more);
    CHECK(s.heads.size() == 5);
    CHECK(s.body_calls == 0);
}

TEST_CASE("a body over the limit never reaches on_request_body", "[proto][parser][body][limits]") {
    parser_limits limits;
    limits.max_body_bytes = 8;
    for (const char* text : {"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 9\r\n\r\n123456789",
                             "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n123456789\r\n0\r\n\r\n"}) {
        CAPTURE(text);
        test_sink s;
        request_parser p{s, limits};
        CHECK(feed_all(p, text) == parse_status::error);
        CHECK(p.error_status() == 413);
        CHECK(s.body_calls == 0);
    }
}

TEST_CASE("nothing reaches on_request_body after an error", "[proto][parser][body][error]") {
    test_sink s;
    request_parser p{s, {}};
    // The chunk's data is delivered; the missing CRLF after it is the error.
    CHECK(feed_all(p, "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY") ==
          parse_status::error);
    REQUIRE(s.heads.size() == 1);
    CHECK(s.heads[0].body == "abc");
    const std::size_t calls = s.body_calls;
    CHECK(feed_all(p, "3\r\ndef\r\n0\r\n\r\n") == parse_status::error);
    CHECK(s.body_calls == calls);
    CHECK(s.completions == 0);
}

TEST_CASE("HTTP/1.1 is keep-alive by default", "[proto][parser][keepalive]") {
    test_sink s;
    request_parser p{s, {}};
    REQUIRE(feed_all(p, "GET / HTTP/1.1\r\nHost: a\r\n\r\n") == parse_status::need_more);
    REQUIRE(s.heads.size() == 1);
    CHECK(s.heads[0].keep_alive);
}

TEST_CASE("Connection: close ends the connection and later pipelined requests are not reported",
          "[proto][parser][keepalive]") {
    test_sink s;
    request_parser p{s, {}};
    const parse_status st = feed_all(p,
                                     "GET /first HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
                                     "GET /second HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(st == parse_status::closed);
    REQUIRE(s.heads.size() == 1);
    CHECK(s.heads[0].target == "/first");
    CHECK_FALSE(s.heads[0].keep_alive);
    CHECK(s.events == "HC");
    // Once closed, further bytes are ignored.
    CHECK(feed_all(p, "GET /third HTTP/1.1\r\nHost: a\r\n\r\n") == parse_status::closed);
    CHECK(s.heads.size() == 1);
    CHECK(p.error_status() == 0);
}

TEST_CASE("HTTP/1.0 is not keep-alive by default", "[proto][parser][keepalive]") {
    test_sink s;
    request_parser p{s, {}};
    const parse_status st = feed_all(p, "GET / HTTP/1.0\r\n\r\nGET /next HTTP/1.0\r\n\r\n");
    CHECK(st == parse_status::closed);
    REQUIRE(s.heads.size() == 1);
    CHECK(s.heads[0].version_major == 1);
    CHECK(s.heads[0].version_minor == 0);
    CHECK_FALSE(s.heads[0].keep_alive);
}

TEST_CASE("HTTP/1.0 with Connection: keep-alive stays open", "[proto][parser][keepalive]") {
    test_sink s;
    request_parser p{s, {}};
    const parse_status st = feed_all(p,
                                     "GET /a HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"
                                     "GET /b HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
    CHECK(st == parse_status::need_more);
    REQUIRE(s.heads.size() == 2);
    CHECK(s.heads[0].keep_alive);
    CHECK(s.heads[1].keep_alive);
    CHECK(s.heads[1].target == "/b");
}

TEST_CASE("garbage is a 400", "[proto][parser][error]") {
    auto e = parse_error("FOO BAR\r\n\r\n");
    CHECK(e.result == parse_status::error);
    CHECK(e.status == 400);
}

TEST_CASE("HTTP/1.1 without Host is a 400", "[proto][parser][error]") {
    test_sink s;
    request_parser p{s, {}};
    CHECK(feed_all(p, "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n") == parse_status::error);
    CHECK(p.error_status() == 400);
    CHECK(s.heads.empty());
    CHECK(s.completions == 0);
}

TEST_CASE("HTTP/1.1 with two Host headers is a 400", "[proto][parser][error]") {
    test_sink s;
    request_parser p{s, {}};
    CHECK(feed_all(p, "GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n") == parse_status::error);
    CHECK(p.error_status() == 400);
    CHECK(s.heads.empty());
}

TEST_CASE("an unsupported HTTP version is a 505", "[proto][parser][error]") {
    for (std::string_view version : {"HTTP/2.0", "HTTP/3.0", "HTTP/0.9", "HTTP/9.9"}) {
        CAPTURE(version);
        test_sink s;
        request_parser p{s, {}};
        const std::string req = "GET / " + std::string{version} + "\r\nHost: a\r\n\r\n";
        CHECK(feed_all(p, req) == parse_status::error);
        CHECK(p.error_status() == 505);
        CHECK(s.heads.empty());
    }
}

// RFC 9110 9.3.2: an error answer to HEAD has no content, so the parser must know the
// method was HEAD however the bytes arrived, even when the target is refused at its
// first byte (before llhttp reports any of it); and a method that only begins with
// "HEAD" is not HEAD.
TEST_CASE("an error is known to answer HEAD whatever the split", "[proto][parser][error][split]") {
    struct head_error {
        std::string_view text;
        int status;
        bool head;
    };
    const head_error cases[] = {
        {"HEAD a:80 HTTP/1.1\r\nHost: a\r\n\r\n", 400, true},     // authority-form
        {"HEAD ?q HTTP/1.1\r\nHost: a\r\n\r\n", 400, true},
        {"HEAD /a\x7f" "b HTTP/1.1\r\nHost: a\r\n\r\n", 400, true},
        {"HEAD /\x80 HTTP/1.1\r\nHost: a\r\n\r\n", 400, true},
        {"HEAD  / HTTP/1.1\r\nHost: a\r\n\r\n", 400, true},       // two spaces
        {"HEAD / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, true},
        {"HEADX / HTTP/1.1\r\nHost: a\r\n\r\n", 501, false},
        {"GET a:80 HTTP/1.1\r\nHost: a\r\n\r\n", 400, false},
    };
    for (const head_error& c : cases) {
        CAPTURE(c.text);
        for (std::size_t cut = 0; cut < c.text.size(); ++cut) {
            CAPTURE(cut);
            test_sink s;
            request_parser p{s, {}};
            const parse_status st = cut == 0 ? feed_all(p, c.text)
                                             : feed_chunks(p, {c.text.substr(0, cut), c.text.substr(cut)});
            CHECK(st == parse_status::error);
            CHECK(p.error_status() == c.status);
            CHECK(p.request_is_head() == c.head);
        }
        test_sink s;
        request_parser p{s, {}};
        std::vector<std::string_view> singles;
        for (std::size_t i = 0; i < c.text.size(); ++i) {
            singles.push_back(c.text.substr(i, 1));
        }
        CHECK(feed_chunks(p, singles) == parse_status::error);
        CHECK(p.error_status() == c.status);
        CHECK(p.request_is_head() == c.head);
    }
}

// Between reads too (a 408 may answer a head cut short): the kept bytes move as the
// spill buffer grows, and what request_is_head() reads must move with them.
TEST_CASE("a head cut short is known to be HEAD between reads", "[proto][parser][split]") {
    const std::string long_target = "/" + std::string(3000, 'a');
    const std::string head = "HEAD " + long_target + " HTTP/1.1\r\nHost: a\r\nX-Pad: " + std::string(5000, 'b');
    const std::size_t sp = 4;   // the byte that makes the method HEAD
    for (std::size_t piece : {1U, 5U, 7U, 640U}) {   // 5: the first read ends right after the SP
        CAPTURE(piece);
        test_sink s;
        request_parser p{s, {}};
        std::vector<char> buf;
        for (std::size_t at = 0; at < head.size(); at += piece) {
            const std::string_view part = std::string_view{head}.substr(at, piece);
            buf.assign(part.begin(), part.end());
            REQUIRE(p.feed(std::span<const char>{buf.data(), buf.size()}) == parse_status::need_more);
            std::fill(buf.begin(), buf.end(), '#');   // the read is given back
            CAPTURE(at);
            CHECK(p.request_is_head() == (at + part.size() > sp));
        }
        CHECK(s.heads.empty());
    }
    for (std::string_view not_head : {"HEADX ", "GET ", "HEA", "HEAD"}) {
        CAPTURE(not_head);
        test_sink s;
        request_parser p{s, {}};
        feed_chunks(p, {not_head.substr(0, 2), not_head.substr(2)});   // "HEADX " may be refused at once
        CHECK_FALSE(p.request_is_head());
    }
}

// What content_came_with_head() said at each head, read during on_request_head.
struct continue_sink final : request_sink {
    request_parser* parser = nullptr;
    std::vector<bool> came_with_head;
    void on_request_head(const request_head& h) noexcept override {
        if (h.expect_continue) {
            came_with_head.push_back(parser->content_came_with_head());
        }
    }
    void on_request_complete() noexcept override {}
};

// RFC 9110 10.1.1: the 100 may be left out once the whole body is here. Whether it is
// depends on what came in the read that ended the head, however the bytes were split.
TEST_CASE("content_came_with_head: the whole Content-Length body in the read that ended the head",
          "[proto][parser][split]") {
    const std::string head = "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n";
    const std::string whole = head + "hello";
    for (std::size_t cut = 0; cut < whole.size(); ++cut) {
        CAPTURE(cut);
        continue_sink s;
        request_parser p{s, {}};
        s.parser = &p;
        const std::string_view w{whole};
        const parse_status st = cut == 0 ? feed_all(p, w) : feed_chunks(p, {w.substr(0, cut), w.substr(cut)});
        CHECK(st == parse_status::need_more);
        REQUIRE(s.came_with_head.size() == 1);
        // The head ends in the first read when the cut is past it; the body is whole there
        // only when nothing was cut.
        CHECK(s.came_with_head[0] == (cut == 0 || cut < head.size()));
    }
    for (std::string_view text : {
             "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\nhello",
             "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nTransfer-Encoding: chunked\r\n\r\n"
             "5\r\nhello\r\n0\r\n\r\n",
         }) {
        CAPTURE(text);
        continue_sink s;
        request_parser p{s, {}};
        s.parser = &p;
        feed_all(p, text);
        REQUIRE(s.came_with_head.size() == 1);
        CHECK_FALSE(s.came_with_head[0]);
    }
    // The next head on the connection starts from false.
    continue_sink s;
    request_parser p{s, {}};
    s.parser = &p;
    feed_all(p, whole + "POST / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhel");
    REQUIRE(s.came_with_head.size() == 2);
    CHECK(s.came_with_head[0]);
    CHECK_FALSE(s.came_with_head[1]);
}

// A sink that, like the worker at max_requests_per_connection, decides during the
// second head that the connection ends after that request.
struct ending_sink final : request_sink {
    request_parser* parser = nullptr;
    int heads = 0;
    int completions = 0;
    void on_request_head(const request_head&) noexcept override {
        if (++heads == 2) {
            parser->finish_after_this_request();
        }
    }
    void on_request_complete() noexcept override { ++completions; }
};

TEST_CASE("finish_after_this_request stops after that request, as Connection: close would",
          "[proto][parser]") {
    const std::string three = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
                              "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
                              "GET / HTTP/1.1\r\nHost: a\r\n\r\n";
    for (std::size_t cut = 1; cut < three.size(); ++cut) {
        CAPTURE(cut);
        ending_sink s;
        request_parser p{s, {}};
        s.parser = &p;
        const parse_status first = p.feed({three.data(), cut});
        const parse_status st = p.feed({three.data() + cut, three.size() - cut});   // as the worker does
        CHECK((first == parse_status::need_more || first == parse_status::closed));
        CHECK(st == parse_status::closed);
        CHECK(s.heads == 2);
        CHECK(s.completions == 2);
        CHECK(p.left_input());   // the third request: close gracefully
    }
}

TEST_CASE("HTTP/1.2 is read as HTTP/1.1 (RFC 9110 6.2)", "[proto][parser]") {
    test_sink s;
    request_parser p{s, {}};
    CHECK(feed_all(p, "GET / HTTP/1.2\r\nHost: a\r\n\r\nGET / HTTP/1.9\r\nHost: a\r\n\r\n") ==
          parse_status::need_more);
    REQUIRE(s.heads.size() == 2);
    for (const auto& h : s.heads) {
        CHECK(h.version_major == 1);
        CHECK(h.version_minor == 1);
        CHECK(h.keep_alive);
    }
}

TEST_CASE("a method and target longer than max_request_line is a 414", "[proto][parser][error][limits]") {
    parser_limits limits;
    limits.max_request_line = 32;
    // The limit covers the method and the target: "GET" + 29 bytes is exactly 32.
    const std::string at_limit = "/" + std::string(28, 'a');
    const std::string over = "/" + std::string(29, 'a');

    test_sink ok_sink;
    request_parser ok{ok_sink, limits};
    CHECK(feed_all(ok, "GET " + at_limit + " HTTP/1.1\r\nHost: a\r\n\r\n") == parse_status::need_more);
    REQUIRE(ok_sink.heads.size() == 1);
    CHECK(ok_sink.heads[0].target == at_limit);

    auto e = parse_error("GET " + over + " HTTP/1.1\r\nHost: a\r\n\r\n", limits);
    CHECK(e.result == parse_status::error);
    CHECK(e.status == 414);

    // Also when the target arrives over several reads.
    test_sink s;
    request_parser p{s, limits};
    const std::string req = "GET " + over + " HTTP/1.1\r\nHost: a\r\n\r\n";
    CHECK(feed_chunks(p, {std::string_view{req}.substr(0, 20), std::string_view{req}.substr(20)}) ==
          parse_status::error);
    CHECK(p.error_status() == 414);

    // The default limit is 8 KiB.
    auto d = parse_error("GET /" + std::string(9000, 'b') + " HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(d.result == parse_status::error);
    CHECK(d.status == 414);
}

TEST_CASE("header fields larger than max_header_bytes are a 431", "[proto][parser][error][limits]") {
    parser_limits limits;
    limits.max_header_bytes = 256;

    auto one_big = parse_error("GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(300, 'x') + "\r\n\r\n",
                               limits);
    CHECK(one_big.result == parse_status::error);
    CHECK(one_big.status == 431);

    std::string many = "GET / HTTP/1.1\r\nHost: a\r\n";
    for (int i = 0; i < 30; ++i) {
        many += "X-" + std::to_string(i) + ": 0123456789\r\n";
    }
    many += "\r\n";
    auto e = parse_error(many, limits);
    CHECK(e.result == parse_status::error);
    CHECK(e.status == 431);

    // Small heads are still fine under the same limit.
    test_sink s;
    request_parser p{s, limits};
    CHECK(feed_all(p, "GET / HTTP/1.1\r\nHost: a\r\nX-Small: 0123456789\r\n\r\n") == parse_status::need_more);
    CHECK(s.heads.size() == 1);

    // Default limit: 32 KiB.
    auto d = parse_error("GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + std::string(40 * 1024, 'x') + "\r\n\r\n");
    CHECK(d.result == parse_status::error);
    CHECK(d.status == 431);
}

TEST_CASE("max_header_bytes counts names, values and 4 bytes of framing per field",
          "[proto][parser][error][limits]") {
    parser_limits limits;
    limits.max_header_bytes = 256;
    // "Host: a" counts 4 + 1 + 4 = 9, "X: <v>" counts 1 + v + 4: 14 + v in all.
    test_sink s;
    request_parser p{s, limits};
    CHECK(feed_all(p, "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(242, 'v') + "\r\n\r\n") ==
          parse_status::need_more);
    CHECK(s.heads.size() == 1);

    auto over = parse_error("GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(243, 'v') + "\r\n\r\n", limits);
    CHECK(over.result == parse_status::error);
    CHECK(over.status == 431);

    // Many empty fields cannot evade the limit: 60 short names are 175 bytes of names
    // and values, but with framing well over 256.
    std::string empties = "GET / HTTP/1.1\r\nHost: a\r\n";
    for (int i = 0; i < 60; ++i) {
        empties.append("e").append(std::to_string(i)).append(":\r\n");
    }
    auto e = parse_error(empties + "\r\n", limits);
    CHECK(e.result == parse_status::error);
    CHECK(e.status == 431);
}

TEST_CASE("up to max_headers header fields are accepted, one more is a 431", "[proto][parser][error][limits]") {
    auto head_with = [](std::size_t count) {
        std::string req = "GET / HTTP/1.1\r\nHost: a\r\n";
        for (std::size_t i = 1; i < count; ++i) {
            req += "X-" + std::to_string(i) + ": v\r\n";
        }
        return req + "\r\n";
    };
    test_sink s;
    request_parser p{s, {}};
    CHECK(feed_all(p, head_with(request_head::max_headers)) == parse_status::need_more);
    REQUIRE(s.heads.size() == 1);
    CHECK(s.heads[0].headers.size() == request_head::max_headers);
    CHECK(s.heads[0].headers.back() == std::pair<std::string, std::string>{"X-99", "v"});

    auto e = parse_error(head_with(request_head::max_headers + 1));
    CHECK(e.result == parse_status::error);
    CHECK(e.status == 431);
}

TEST_CASE("Content-Length together with chunked Transfer-Encoding is a 400", "[proto][parser][error]") {
    auto e = parse_error(
        "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
        "5\r\nhello\r\n0\r\n\r\n");
    CHECK(e.result == parse_status::error);
    CHECK(e.status == 400);
}

TEST_CASE("an invalid Content-Length is a 400", "[proto][parser][error]") {
    for (std::string_view cl : {"abc", "-1", "1x", "5, 6", "99999999999999999999"}) {
        CAPTURE(cl);
        auto e = parse_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: " + std::string{cl} + "\r\n\r\n");
        CHECK(e.result == parse_status::error);
        CHECK(e.status == 400);
    }
}

TEST_CASE("two Content-Length fields are a 400", "[proto][parser][error]") {
    auto e = parse_error("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello");
    CHECK(e.result == parse_status::error);
    CHECK(e.status == 400);
}

TEST_CASE("a request to switch protocols is the last one on the connection", "[proto][parser][keepalive]") {
    test_sink s;
    request_parser p{s, {}};
    const parse_status st = feed_all(p,
                                     "GET /ws HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\n"
                                     "Upgrade: websocket\r\n\r\n"
                                     "GET /next HTTP/1.1\r\nHost: a\r\n\r\n");
    CHECK(st == parse_status::closed);
    REQUIRE(s.heads.size() == 1);
    CHECK(s.heads[0].target == "/ws");
    CHECK_FALSE(s.heads[0].keep_alive);
    CHECK(p.error_status() == 0);
}

TEST_CASE("Upgrade in an HTTP/1.0 request is ignored (RFC 9110 7.8)", "[proto][parser][keepalive]") {
    test_sink s;
    request_parser p{s, {}};
    const parse_status st = feed_all(p,
                                     "GET /ws HTTP/1.0\r\nConnection: Upgrade, keep-alive\r\n"
                                     "Upgrade: websocket\r\n\r\n"
                                     "GET /next HTTP/1.0\r\nConnection: upgrade\r\nUpgrade: x\r\n\r\n");
    CHECK(st == parse_status::closed);   // after the second: HTTP/1.0 without keep-alive
    REQUIRE(s.heads.size() == 2);
    CHECK(s.heads[0].keep_alive);          // Connection: keep-alive still counts
    CHECK(s.heads[1].target == "/next");
    CHECK_FALSE(s.heads[1].keep_alive);    // HTTP/1.0 without keep-alive closes as ever
    CHECK(p.error_status() == 0);
}

TEST_CASE("an error is sticky until reset", "[proto][parser][error]") {
    test_sink s;
    request_parser p{s, {}};
    REQUIRE(feed_all(p, "FOO BAR\r\n\r\n") == parse_status::error);
    CHECK(p.error_status() == 400);
    CHECK(std::string_view{p.error_reason()}.size() > 0);
    CHECK(feed_all(p, "GET / HTTP/1.1\r\nHost: a\r\n\r\n") == parse_status::error);
    CHECK(s.heads.empty());
}

TEST_CASE("reset makes a parser that failed usable again", "[proto][parser][error]") {
    test_sink s;
    request_parser p{s, {}};
    REQUIRE(feed_all(p, "GET / HTTP/1.1\r\n\r\n") == parse_status::error);
    REQUIRE(p.error_status() == 400);
    p.reset();
    CHECK(p.error_status() == 0);
    CHECK(p.idle());
    CHECK(feed_all(p, "GET /again HTTP/1.1\r\nHost: a\r\n\r\n") == parse_status::need_more);
    REQUIRE(s.heads.size() == 1);
    CHECK(s.heads[0].target == "/again");
    CHECK(s.completions == 1);
}

TEST_CASE("reset after Connection: close allows a new connection's requests", "[proto][parser]") {
    test_sink s;
    request_parser p{s, {}};
    REQUIRE(feed_all(p, "GET /a HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n") == parse_status::closed);
    p.reset();
    CHECK(feed_all(p, "GET /b HTTP/1.1\r\nHost: a\r\n\r\n") == parse_status::need_more);
    REQUIRE(s.heads.size() == 2);
    CHECK(s.heads[1].target == "/b");
}

TEST_CASE("reset mid-head discards the partial request", "[proto][parser]") {
    test_sink s;
    request_parser p{s, {}};
    REQUIRE(feed_all(p, "GET /partial HTTP/1.1\r\nHost: a\r\nX-Half: abc") == parse_status::need_more);
    CHECK_FALSE(p.idle());
    p.reset();
    CHECK(p.idle());
    CHECK(feed_all(p, "GET /fresh HTTP/1.1\r\nHost: z\r\n\r\n") == parse_status::need_more);
    REQUIRE(s.heads.size() == 1);
    CHECK(s.heads[0].target == "/fresh");
    CHECK(s.heads[0].headers.size() == 1);
    CHECK(s.heads[0].host_lookup == "z");
}

TEST_CASE("idle is true between requests and false inside one", "[proto][parser]") {
    test_sink s;
    request_parser p{s, {}};
    CHECK(p.idle());
    REQUIRE(feed_all(p, "GET / HT") == parse_status::need_more);
    CHECK_FALSE(p.idle());
    REQUIRE(feed_all(p, "TP/1.1\r\nHost: a\r\n") == parse_status::need_more);
    CHECK_FALSE(p.idle());
    CHECK(s.heads.empty());
    REQUIRE(feed_all(p, "\r\n") == parse_status::need_more);
    CHECK(p.idle());
    CHECK(s.events == "HC");
    REQUIRE(s.heads.size() == 1);
    CHECK(s.heads[0].target == "/");
}

TEST_CASE("a long pipelined stream in fixed-size reads keeps every head intact", "[proto][parser][split]") {
    // Heads straddle read boundaries at many offsets while the spill buffer already
    // holds earlier bytes, so it must move or grow with views rebased.
    std::string stream;
    for (int i = 0; i < 2000; ++i) {
        stream.append("GET /").append(std::to_string(i)).append(" HTTP/1.1\r\nHost: x\r\n\r\n");
    }
    for (std::size_t read_size : {7UL, 26UL, 27UL, 28UL, 100UL, 1000UL, 8192UL}) {
        test_sink s;
        request_parser p{s, parser_limits{}};
        std::vector<std::string_view> chunks;
        for (std::size_t off = 0; off < stream.size(); off += read_size) {
            chunks.push_back(std::string_view{stream}.substr(off, read_size));
        }
        INFO("read size " << read_size);
        CHECK(feed_chunks(p, chunks) == parse_status::need_more);
        REQUIRE(s.heads.size() == 2000);
        for (int i = 0; i < 2000; i += 97) {
            CHECK(s.heads[static_cast<std::size_t>(i)].target == "/" + std::to_string(i));
            CHECK(s.heads[static_cast<std::size_t>(i)].host_lookup == "x");
        }
    }
}
