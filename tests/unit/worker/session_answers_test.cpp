// The answers a handler gives in ways other than a prepared response: built (head and
// body pieces), from file ranges, and later (deferred, in pieces), through the session
// alone: bytes in, output out, no io_uring.
#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <memory>
#include <string>

#include "tests/unit/temp_files.hpp"
#include "worker/session.hpp"

using namespace pfd;
using worker::serve_context;
using worker::session;

namespace {

// Answers as told: at once, or keeps the exchange to answer later.
struct later_handler final : handlers::handler {
    handlers::exchange* held = nullptr;
    bool defer = true;
    int aborts = 0;

    void on_head(handlers::exchange&, const proto::request_head&) noexcept override {}
    void on_complete(handlers::exchange& ex) noexcept override {
        if (defer) {
            ex.defer();
            held = &ex;
        } else {
            ex.start(200).add_content_length(2);
            ex.write("ok");
            ex.finish();
        }
    }
    void on_abort(handlers::exchange&) noexcept override {
        ++aborts;
        held = nullptr;
    }
};

struct waker final : worker::output_waker {
    int woken = 0;
    std::uint32_t last = 0;
    void output_ready(std::uint32_t slot) noexcept override {
        ++woken;
        last = slot;
    }
};

struct fixture {
    handlers::route_table routes{{handlers::route_spec::fixed("/", "hello word", "text/plain")}};
    proto::date_cache date;
    worker::worker_stats stats;
    serve_context ctx;
    waker wake;
    std::uint32_t served = 0;
    later_handler* later = nullptr;

    fixture() {
        auto h = std::make_unique<later_handler>();
        later = h.get();
        routes.add("/later", std::move(h));
        ctx.routes = &routes;
        ctx.date = &date;
        ctx.stats = &stats;
        ctx.waker = &wake;
    }
    std::unique_ptr<session> make() {
        auto s = std::make_unique<session>(ctx, proto::parser_limits{});
        s->attach(served, 7);
        return s;
    }
};

void feed(session& s, std::string_view bytes) { s.feed({bytes.data(), bytes.size()}); }
std::string output(session& s) { return std::string{s.out().view()}; }

constexpr std::string_view get_later = "GET /later HTTP/1.1\r\nHost: a\r\n\r\n";
constexpr std::string_view get_root = "GET / HTTP/1.1\r\nHost: a\r\n\r\n";

}  // namespace

TEST_CASE("answers: a built answer at once, with its length", "[worker][session][answers]") {
    fixture f;
    f.later->defer = false;
    auto s = f.make();
    feed(*s, get_later);
    const std::string out = output(*s);
    CHECK(out.rfind("HTTP/1.1 200 OK\r\nServer: preforkd\r\nDate: ", 0) == 0);
    CHECK(out.find("\r\nContent-Length: 2\r\n\r\nok") != std::string::npos);
    CHECK(out.find("Transfer-Encoding") == std::string::npos);
    CHECK(f.served == 1);
    CHECK(f.wake.woken == 0);   // answered inside the read: no wake-up needed
}

TEST_CASE("answers: a deferred answer holds back what was pipelined behind it", "[worker][session][answers]") {
    fixture f;
    auto s = f.make();
    const std::string two = std::string{get_later} + std::string{get_root};
    feed(*s, two);
    REQUIRE(f.later->held != nullptr);
    CHECK(s->awaiting_answer());
    CHECK(output(*s).empty());        // the second request is not answered before the first
    CHECK(s->backlogged());           // ... nor parsed
    CHECK_FALSE(s->idle());
    CHECK(f.served == 0);

    f.later->held->start(200).add_content_length(5);
    CHECK(f.wake.woken == 0);         // nothing to send yet: the head is not fixed
    f.later->held->write("la");
    CHECK(f.wake.woken == 1);
    CHECK(f.wake.last == 7);
    CHECK(output(*s).find("Content-Length: 5\r\n\r\nla") != std::string::npos);
    CHECK(output(*s).find("hello word") == std::string::npos);
    f.later->held->write("ter");
    f.later->held->finish();
    CHECK_FALSE(s->awaiting_answer());
    const std::string out = output(*s);
    const auto first = out.find("later");
    const auto second = out.find("hello word");
    REQUIRE(first != std::string::npos);
    REQUIRE(second != std::string::npos);   // parsed once the first was answered
    CHECK(first < second);
    CHECK(f.served == 2);
    CHECK_FALSE(s->backlogged());
}

TEST_CASE("answers: without a length, chunked for HTTP/1.1 and until the close for 1.0", "[worker][session][answers]") {
    SECTION("HTTP/1.1") {
        fixture f;
        auto s = f.make();
        feed(*s, get_later);
        f.later->held->start(200);
        f.later->held->write("hello");
        f.later->held->write(std::string(20, 'x'));
        f.later->held->finish();
        const std::string out = output(*s);
        CHECK(out.find("Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n14\r\n" + std::string(20, 'x') +
                       "\r\n0\r\n\r\n") != std::string::npos);
        CHECK_FALSE(s->closing());
    }
    SECTION("HTTP/1.0 keep-alive client") {
        fixture f;
        auto s = f.make();
        feed(*s, "GET /later HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET / HTTP/1.0\r\n\r\n");
        f.later->held->start(200);
        f.later->held->write("hello");
        f.later->held->finish();
        const std::string out = output(*s);
        CHECK(out.find("chunked") == std::string::npos);
        CHECK(out.find("Connection: close\r\n\r\nhello") != std::string::npos);
        CHECK(out.find("hello word") == std::string::npos);   // nothing after a close-delimited body
        CHECK(s->closing());
        CHECK(s->needs_linger());   // it sent more than we read: the close lingers
    }
}

TEST_CASE("answers: HEAD and 304 carry no body bytes", "[worker][session][answers]") {
    fixture f;
    auto s = f.make();
    feed(*s, "HEAD /later HTTP/1.1\r\nHost: a\r\n\r\n");
    f.later->held->start(200).add_content_length(5);
    f.later->held->write("hello");
    f.later->held->finish();
    CHECK(output(*s).find("Content-Length: 5\r\n\r\n") != std::string::npos);
    CHECK(output(*s).find("hello") == std::string::npos);
    s->out().clear();
    feed(*s, get_later);
    f.later->held->start(304);
    f.later->held->write("ignored");
    f.later->held->finish();
    CHECK(output(*s).find("304 Not Modified") != std::string::npos);
    CHECK(output(*s).find("chunked") == std::string::npos);
    CHECK(output(*s).find("ignored") == std::string::npos);
}

TEST_CASE("answers: a client gone while the answer is awaited aborts the handler", "[worker][session][answers]") {
    fixture f;
    auto s = f.make();
    feed(*s, get_later);
    REQUIRE(f.later->held != nullptr);
    handlers::exchange* ex = f.later->held;
    s->reset(64 * 1024);
    CHECK(f.later->aborts == 1);
    // A late answer after the abort is ignored, not written into a recycled session.
    ex->start(200).add_content_length(2);
    ex->write("no");
    ex->finish();
    CHECK(output(*s).empty());
    CHECK(f.wake.woken == 0);
}

TEST_CASE("answers: an answer that does not come in time is a 504, or a cut if it began", "[worker][session][answers]") {
    SECTION("nothing sent yet: 504") {
        fixture f;
        auto s = f.make();
        feed(*s, get_later);
        CHECK(s->answer_timed_out());
        CHECK(f.later->aborts == 1);
        CHECK(output(*s).find("504 Gateway Timeout") != std::string::npos);
        CHECK(s->closing());
    }
    SECTION("head sent: only a close") {
        fixture f;
        auto s = f.make();
        feed(*s, get_later);
        f.later->held->start(200).add_content_length(10);
        f.later->held->write("half");
        CHECK_FALSE(s->answer_timed_out());
        CHECK(output(*s).find("504") == std::string::npos);
        CHECK(s->closing());
    }
}

TEST_CASE("answers: file ranges sit between the bytes around them", "[worker][session][answers]") {
    fixture f;
    f.later->defer = true;
    auto s = f.make();
    feed(*s, get_later);
    auto file = std::make_shared<handlers::open_file>();
    file->size = 100;
    f.later->held->start(200).add_content_length(30);
    f.later->held->write("<");
    f.later->held->write_file({file, 10, 28});
    f.later->held->write(">");
    f.later->held->finish();
    REQUIRE(s->out_files().size() == 1);
    const std::string out = output(*s);
    CHECK(s->out_files()[0].at == out.size() - 1);   // after "<", before ">"
    CHECK(out.substr(out.size() - 2) == "<>");
    CHECK(s->output_bytes() == out.size() + 28);     // the range counts for backpressure
    s->start_sending();
    CHECK(s->out().empty());
    REQUIRE(s->sending_files().size() == 1);
    s->sent(out.size() - 1);
    CHECK(s->sending_files()[0].at == 0);
    s->file_sent();
    CHECK(s->sending_files().empty());
    CHECK(s->sending().view() == ">");
    CHECK(s->output_bytes() == 1);
}

TEST_CASE("answers: a deferred answer holds the pipeline whatever the split", "[worker][session][answers]") {
    const std::string three = "POST /later HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n" +
                              std::string{get_later} + std::string{get_root};
    for (std::size_t cut = 1; cut < three.size(); ++cut) {
        fixture f;
        auto s = f.make();
        feed(*s, std::string_view{three}.substr(0, cut));
        feed(*s, std::string_view{three}.substr(cut));
        for (int answered = 0; answered < 2; ++answered) {
            INFO("cut " << cut << ", answer " << answered);
            REQUIRE(f.later->held != nullptr);
            handlers::exchange* ex = std::exchange(f.later->held, nullptr);
            ex->start(200).add_content_length(1);
            ex->write(answered == 0 ? "1" : "2");
            ex->finish();
        }
        const std::string out = output(*s);
        INFO("cut " << cut);
        const auto a = out.find("\r\n\r\n1");
        const auto b = out.find("\r\n\r\n2");
        const auto c = out.find("hello word");
        REQUIRE(a != std::string::npos);
        REQUIRE(b != std::string::npos);
        REQUIRE(c != std::string::npos);
        CHECK(a < b);
        CHECK(b < c);
        CHECK(f.served == 3);
        CHECK(s->idle() == false);   // output not sent
    }
}
