// The session on its own: bytes in, answers out, no io_uring.
#include <catch2/catch.hpp>

#include <cstring>
#include <string>
#include <vector>

#include "worker/session.hpp"

using namespace pfd;
using worker::serve_context;
using worker::session;

namespace {

constexpr std::string_view get_root = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";

// Everything a handler was told, for the seam's tests.
struct recording_handler final : handlers::handler {
    std::string body;
    int heads = 0;
    int completes = 0;
    int aborts = 0;
    bool answer = true;
    proto::prepared_response ok{200, "text/plain", "recorded"};

    void on_head(handlers::exchange& ex, const proto::request_head& head) noexcept override {
        ++heads;
        if (head.expect_continue) {
            ex.send_continue();
        }
    }
    void on_body(handlers::exchange&, std::span<const char> bytes) noexcept override {
        body.append(bytes.data(), bytes.size());
    }
    void on_complete(handlers::exchange& ex) noexcept override {
        ++completes;
        if (answer) {
            ex.respond(ok);
        }
    }
    void on_abort(handlers::exchange&) noexcept override { ++aborts; }
};

struct fixture {
    handlers::route_table routes{{handlers::route_spec::fixed("/", "hello word", "text/plain")}};
    proto::date_cache date;
    worker::worker_stats stats;
    serve_context ctx;
    std::uint32_t served = 0;
    recording_handler* recorder = nullptr;

    explicit fixture(std::uint32_t max_requests = 0, std::size_t max_output = 256 * 1024) {
        auto r = std::make_unique<recording_handler>();
        recorder = r.get();
        routes.add("/rec", std::move(r));
        ctx.routes = &routes;
        ctx.date = &date;
        ctx.stats = &stats;
        ctx.max_requests_per_connection = max_requests;
        ctx.max_pending_output = max_output;
    }
    std::unique_ptr<session> make() {
        auto s = std::make_unique<session>(ctx, proto::parser_limits{});
        s->attach(served);
        return s;
    }
};

std::string output(session& s) { return std::string{s.out().view()}; }

std::size_t count(const std::string& hay, std::string_view needle) {
    std::size_t n = 0;
    for (auto at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) {
        ++n;
    }
    return n;
}

void feed(session& s, std::string_view bytes) { s.feed({bytes.data(), bytes.size()}); }

}  // namespace

TEST_CASE("session: a GET gets the route's exact answer", "[worker][session]") {
    fixture f;
    auto s = f.make();
    feed(*s, get_root);
    const std::string date{f.date.view()};
    CHECK(output(*s) == "HTTP/1.1 200 OK\r\nServer: preforkd\r\nDate: " + date +
                            "\r\nContent-Type: text/plain\r\nContent-Length: 10\r\nETag: \"61a54b2d1c6a9133\"\r\n\r\nhello word");
    CHECK(f.served == 1);
    CHECK(f.stats.requests.load() == 1);
    CHECK_FALSE(s->closing());
    CHECK_FALSE(s->mid_request());
}

TEST_CASE("session: pipelined requests are answered in order, split anywhere", "[worker][session]") {
    const std::string three = std::string{get_root} + "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n" +
                              "GET /none HTTP/1.1\r\nHost: a\r\n\r\n";
    for (std::size_t cut = 1; cut < three.size(); ++cut) {
        fixture f;
        auto s = f.make();
        feed(*s, std::string_view{three}.substr(0, cut));
        feed(*s, std::string_view{three}.substr(cut));
        const std::string out = output(*s);
        const auto ok = out.find("200 OK");
        const auto head = out.find("200 OK", ok + 1);
        const auto missing = out.find("404 Not Found");
        REQUIRE(ok != std::string::npos);
        REQUIRE(head != std::string::npos);
        REQUIRE(missing != std::string::npos);
        CHECK(ok < head);
        CHECK(head < missing);
        CHECK(count(out, "hello word") == 1);   // HEAD: headers only
        CHECK(f.served == 3);
    }
}

TEST_CASE("session: 100 Continue before the answer, for a body the client waits to send", "[worker][session]") {
    fixture f;
    auto s = f.make();
    feed(*s, "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n");
    CHECK(output(*s) == "HTTP/1.1 100 Continue\r\n\r\n");
    CHECK(s->mid_request());
    feed(*s, "abc");
    CHECK(output(*s).find("HTTP/1.1 405 Method Not Allowed\r\n") == std::strlen("HTTP/1.1 100 Continue\r\n\r\n"));
}

TEST_CASE("session: no 100 Continue for a body that came with its head", "[worker][session]") {
    fixture f;
    auto s = f.make();
    feed(*s, "POST /rec HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nabc");
    const std::string out = output(*s);
    CHECK(out.find("100 Continue") == std::string::npos);
    CHECK(out.starts_with("HTTP/1.1 200 OK\r\n"));
    CHECK(f.recorder->body == "abc");
    SECTION("part of it is not enough") {
        feed(*s, "POST /rec HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\nab");
        CHECK(output(*s).ends_with("HTTP/1.1 100 Continue\r\n\r\n"));
        feed(*s, "c");
        CHECK(f.recorder->body == "abcabc");
    }
}

TEST_CASE("session: persistence: limit, graceful stop, HTTP/1.0", "[worker][session]") {
    SECTION("the request limit makes the last answer close, and what follows is not parsed") {
        fixture f{2};
        auto s = f.make();
        feed(*s, std::string{get_root} + std::string{get_root} + std::string{get_root});
        const std::string out = output(*s);
        CHECK(count(out, "hello word") == 2);
        CHECK(count(out, "Connection: close\r\n") == 1);
        CHECK(out.ends_with("Connection: close\r\n\r\nhello word"));
        CHECK(s->closing());
        CHECK(s->needs_linger());   // the client sent more: the close lingers
    }
    SECTION("draining: Connection: close") {
        fixture f;
        f.ctx.draining = true;
        auto s = f.make();
        feed(*s, get_root);
        CHECK(output(*s).find("Connection: close\r\n") != std::string::npos);
        CHECK(s->closing());
        CHECK_FALSE(s->needs_linger());
    }
    SECTION("HTTP/1.0 keep-alive is answered as such; plain HTTP/1.0 closes") {
        fixture f;
        auto s = f.make();
        feed(*s, "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        CHECK(output(*s).find("Connection: keep-alive\r\n") != std::string::npos);
        CHECK_FALSE(s->closing());
        s->out().clear();
        feed(*s, "GET / HTTP/1.0\r\n\r\n");
        CHECK(output(*s).find("Connection: close\r\n") != std::string::npos);
        CHECK(s->closing());
    }
}

TEST_CASE("session: output is bounded; the rest of the input waits unparsed", "[worker][session]") {
    fixture f{0, 2000};
    auto s = f.make();
    std::string many;
    for (int i = 0; i < 100; ++i) {
        many += get_root;
    }
    feed(*s, many);
    const std::size_t first = s->output_bytes();
    CHECK(first >= 2000);
    CHECK(first <= 2000 + 400);   // the limit plus one answer at most
    CHECK(s->backlogged());
    CHECK(s->output_full());
    std::uint32_t answered = f.served;
    CHECK(answered < 100);
    while (s->backlogged()) {
        s->out().clear();   // the client read everything
        s->resume();
        CHECK(s->output_bytes() <= 2000 + 400);
        REQUIRE(f.served > answered);
        answered = f.served;
    }
    CHECK(f.served == 100);
}

TEST_CASE("session: a deep pipeline is answered a turn's worth at a time, in order", "[worker][session]") {
    fixture f;
    f.ctx.answers_per_turn = 10;
    auto s = f.make();
    std::string many;
    for (int i = 0; i < 25; ++i) {
        many += get_root;
    }
    many += "GET /none HTTP/1.1\r\nHost: a\r\n\r\n";   // the 26th: a 404, last
    feed(*s, many);
    CHECK(f.served == 10);
    CHECK(count(output(*s), "HTTP/1.1 200 OK") == 10);
    CHECK(s->backlogged());          // the rest waits for the next turn ...
    CHECK_FALSE(s->output_full());   // ... though the output has room
    feed(*s, get_root);              // more input: kept behind the rest, a turn's worth answered
    CHECK(f.served == 20);
    CHECK(s->backlogged());
    s->resume();                     // the next turn: 5 GETs, the 404, the GET fed last
    CHECK(f.served == 27);
    CHECK_FALSE(s->backlogged());
    const std::string out = output(*s);
    CHECK(count(out, "HTTP/1.1 200 OK") == 26);
    const auto missing = out.find("404 Not Found");
    REQUIRE(missing != std::string::npos);
    CHECK(count(out.substr(0, missing), "HTTP/1.1 200 OK") == 25);
    CHECK(count(out.substr(missing), "HTTP/1.1 200 OK") == 1);
    CHECK_FALSE(s->mid_request());
}

TEST_CASE("session: a turn of one answers one request per read or resume", "[worker][session]") {
    fixture f;
    f.ctx.answers_per_turn = 1;
    auto s = f.make();
    feed(*s, std::string{get_root} + std::string{get_root} + std::string{get_root});
    CHECK(f.served == 1);
    s->resume();
    CHECK(f.served == 2);
    s->resume();
    CHECK(f.served == 3);
    CHECK_FALSE(s->backlogged());
    s->resume();   // nothing left: nothing happens
    CHECK(f.served == 3);
}

TEST_CASE("session: a timeout answers 408 and closes", "[worker][session]") {
    fixture f;
    auto s = f.make();
    feed(*s, "GET / HTTP/1.1\r\nHo");
    CHECK(s->in_head());
    s->fail(408);
    CHECK(output(*s).starts_with("HTTP/1.1 408 Request Timeout\r\n"));
    CHECK(output(*s).find("Connection: close\r\n") != std::string::npos);
    CHECK(s->closing());
    feed(*s, "st: a\r\n\r\n");   // too late: nothing more is answered
    CHECK(count(output(*s), "HTTP/1.1") == 1);
}

TEST_CASE("handler seam: body bytes, completion, abort", "[worker][session][handlers]") {
    SECTION("a Content-Length body reaches the handler, then the answer goes out") {
        fixture f;
        auto s = f.make();
        feed(*s, "POST /rec HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhel");
        CHECK(f.recorder->heads == 1);
        CHECK(f.recorder->completes == 0);
        feed(*s, "lo");
        CHECK(f.recorder->body == "hello");
        CHECK(f.recorder->completes == 1);
        CHECK(output(*s).ends_with("recorded"));
    }
    SECTION("a chunked body arrives de-chunked") {
        fixture f;
        auto s = f.make();
        feed(*s, "POST /rec HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\n\r\n");
        CHECK(f.recorder->body == "abcde");
        CHECK(f.recorder->completes == 1);
    }
    SECTION("a connection that goes away mid-request aborts the handler once") {
        fixture f;
        auto s = f.make();
        feed(*s, "POST /rec HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhe");
        s->reset(64 * 1024);
        CHECK(f.recorder->aborts == 1);
        CHECK(f.recorder->completes == 0);
        s.reset();
        CHECK(f.recorder->aborts == 1);
    }
    SECTION("a timeout mid-body aborts the handler") {
        fixture f;
        auto s = f.make();
        feed(*s, "POST /rec HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhe");
        s->fail(408);
        CHECK(f.recorder->aborts == 1);
    }
    SECTION("a handler that does not answer: 500, and the connection closes") {
        fixture f;
        f.recorder->answer = false;
        auto s = f.make();
        feed(*s, "GET /rec HTTP/1.1\r\nHost: a\r\n\r\n" + std::string{get_root});
        CHECK(output(*s).starts_with("HTTP/1.1 500 Internal Server Error\r\n"));
        CHECK(output(*s).find("Connection: close\r\n") != std::string::npos);
        CHECK(count(output(*s), "HTTP/1.1 ") == 1);
        CHECK(s->closing());
    }
}
