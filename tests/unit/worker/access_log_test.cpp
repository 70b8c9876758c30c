#include "worker/access_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdlib>
#include <string>

namespace {

using pfd::worker::access_entry;
using pfd::worker::access_log;

access_entry sample() {
    return access_entry{.remote_addr = "127.0.0.1",
                        .request = "GET /a?b=1 HTTP/1.1",
                        .referer = "http://example.com/",
                        .user_agent = "curl/7.88.1",
                        .status = 200,
                        .bytes_sent = 151,
                        .duration_us = 123,
                        .slot = 3};
}

struct utc_zone {
    utc_zone() {
        ::setenv("TZ", "UTC", 1);
        ::tzset();
    }
};

// A pipe the log writes to, read back by the test.
struct pipe_pair {
    int r = -1;
    int w = -1;
    pipe_pair() {
        int fds[2];
        REQUIRE(::pipe2(fds, O_CLOEXEC | O_NONBLOCK) == 0);
        r = fds[0];
        w = fds[1];
    }
    ~pipe_pair() {
        if (r >= 0) {
            ::close(r);
        }
    }
    std::string drain() const {
        std::string out;
        char buf[65536];
        for (;;) {
            const ssize_t n = ::read(r, buf, sizeof buf);
            if (n <= 0) {
                return out;
            }
            out.append(buf, static_cast<std::size_t>(n));
        }
    }
};

// What the event loop does with a write: hand the bytes to the file, report the result.
void complete(access_log& log, std::span<const char> bytes) {
    while (!bytes.empty()) {
        const ssize_t n = ::write(log.fd(), bytes.data(), bytes.size());
        REQUIRE(n > 0);
        bytes = log.written(static_cast<int>(n));
    }
}

}  // namespace

TEST_CASE("combined line: the Combined Log Format, then rt and slot", "[worker][access_log]") {
    std::string out;
    pfd::worker::append_combined(out, sample(), "01/Dec/2026:12:53:17 +0000");
    CHECK(out == "127.0.0.1 - - [01/Dec/2026:12:53:17 +0000] \"GET /a?b=1 HTTP/1.1\" 200 151 "
                 "\"http://example.com/\" \"curl/7.88.1\" rt=123 slot=3\n");
}

TEST_CASE("combined line: missing fields are '-', quotes, backslashes and odd bytes are \\xHH",
          "[worker][access_log]") {
    access_entry e = sample();
    e.remote_addr = "";
    e.request = "";
    e.referer = "";
    e.user_agent = std::string_view{"a\"b\\c\n\t\x7f\xe9 ok", 12};
    std::string out;
    pfd::worker::append_combined(out, e, "T");
    CHECK(out == "- - - [T] \"-\" 200 151 \"-\" \"a\\x22b\\x5Cc\\x0A\\x09\\x7F\\xE9 ok\" rt=123 slot=3\n");
}

TEST_CASE("JSON line: the same fields, RFC 8259 strings, numbers as numbers", "[worker][access_log]") {
    std::string out;
    pfd::worker::append_json(out, sample(), "2026-12-01T12:53:17+00:00");
    CHECK(out == "{\"time\":\"2026-12-01T12:53:17+00:00\",\"remote_addr\":\"127.0.0.1\",\"request\":\"GET /a?b=1 "
                 "HTTP/1.1\",\"status\":200,\"bytes_sent\":151,\"referer\":\"http://example.com/\",\"user_agent\":"
                 "\"curl/7.88.1\",\"request_time_us\":123,\"slot\":3}\n");
}

TEST_CASE("JSON line: escapes make any bytes valid JSON on one line", "[worker][access_log]") {
    access_entry e = sample();
    e.request = "";
    e.user_agent = std::string_view{"q\"b\\s\n\r\t\x01\x7f\xff/", 12};
    std::string out;
    pfd::worker::append_json(out, e, "T");
    CHECK(out.find("\"request\":\"\"") != std::string::npos);
    CHECK(out.find("\"user_agent\":\"q\\\"b\\\\s\\n\\r\\t\\u0001\\u007F\\u00FF/\"") != std::string::npos);
    CHECK(out.find('\n') == out.size() - 1);
}

TEST_CASE("time fields in local time: combined and ISO 8601", "[worker][access_log]") {
    utc_zone utc;
    CHECK(pfd::worker::format_time_local(0) == "01/Jan/1970:00:00:00 +0000");
    CHECK(pfd::worker::format_time_iso8601(1'796'129'597) == "2026-12-01T12:53:17+00:00");
}

TEST_CASE("access_log: buffered, written when due, all of it, in order", "[worker][access_log]") {
    utc_zone utc;
    pipe_pair p;
    access_log log{pfd::unique_fd{p.w}, false, 1, 4};
    log.set_peer(2, std::string_view{"10.0.0.7"});
    access_entry e = sample();
    e.remote_addr = log.peer(2);
    log.record(e, 0);
    CHECK_FALSE(log.write_due(500));    // under a second, under flush_bytes
    CHECK(log.write_due(1'000));        // once a second
    auto bytes = log.start_write(1'000);
    CHECK(log.write_in_flight());
    CHECK_FALSE(log.write_due(5'000));  // one write at a time
    log.record(e, 0);                   // collected meanwhile
    complete(log, bytes);
    CHECK_FALSE(log.write_in_flight());
    log.flush_sync();
    const std::string text = p.drain();
    const std::string line = "10.0.0.7 - - [01/Jan/1970:00:00:00 +0000] \"GET /a?b=1 HTTP/1.1\" 200 151 "
                             "\"http://example.com/\" \"curl/7.88.1\" rt=123 slot=1\n";
    CHECK(text == line + line);
}

TEST_CASE("access_log: a short write goes on from where it stopped; a stream gets whole lines",
          "[worker][access_log]") {
    pipe_pair p;
    access_log log{pfd::unique_fd{p.w}, true, 0, 1};
    for (int i = 0; i < 200; ++i) {   // ~40 KB, more than PIPE_BUF
        log.record(sample(), 0);
    }
    auto bytes = log.start_write(0);
    REQUIRE(bytes.size() <= PIPE_BUF);
    REQUIRE(bytes.back() == '\n');
    auto rest = log.written(10);   // the kernel took 10 bytes
    REQUIRE(!rest.empty());
    CHECK(rest.data() == bytes.data() + 10);
    std::string got{bytes.data(), 10};
    while (!rest.empty()) {
        got.append(rest.data(), rest.size());
        rest = log.written(static_cast<int>(rest.size()));
    }
    std::string expected;
    access_entry e = sample();
    e.slot = 0;   // the log's own slot
    for (int i = 0; i < 200; ++i) {
        pfd::worker::append_json(expected, e, pfd::worker::format_time_iso8601(0));
    }
    CHECK(got == expected);
}

TEST_CASE("access_log: past max_buffer with a write in flight, lines are dropped and counted",
          "[worker][access_log]") {
    pipe_pair p;
    access_log log{pfd::unique_fd{p.w}, false, 0, 1};
    log.record(sample(), 0);
    auto bytes = log.start_write(0);
    std::size_t recorded = 0;
    while (log.buffered() < access_log::max_buffer) {
        log.record(sample(), 0);
        ++recorded;
    }
    log.record(sample(), 0);
    log.record(sample(), 0);
    CHECK(log.dropped() == 2);
    CHECK(log.buffered() < access_log::max_buffer + 200);   // bounded
    (void)bytes;
    (void)recorded;
}

TEST_CASE("access_log reopen: what was buffered goes to the old file, later lines to the new one",
          "[worker][access_log]") {
    pipe_pair old_file;
    pipe_pair new_file;
    access_log log{pfd::unique_fd{old_file.w}, false, 0, 1};
    log.record(sample(), 0);   // before the reopen
    auto bytes = log.start_write(0);   // in flight when the reopen comes
    log.record(sample(), 0);   // also before it
    log.reopen(pfd::unique_fd{new_file.w});
    CHECK_FALSE(log.write_due(0));     // the write in flight first
    complete(log, bytes);
    REQUIRE(log.write_due(0));         // then what came before the reopen, still to the old file
    bytes = log.start_write(0);
    REQUIRE(log.fd() == old_file.w);
    log.record(sample(), 0);   // after the reopen
    complete(log, bytes);
    CHECK(log.fd() == new_file.w);
    log.flush_sync();
    auto count = [](const std::string& s) { return std::count(s.begin(), s.end(), '\n'); };
    CHECK(count(old_file.drain()) == 2);
    CHECK(count(new_file.drain()) == 1);
}

TEST_CASE("access_log reopen with nothing buffered takes the new file at once", "[worker][access_log]") {
    pipe_pair old_file;
    pipe_pair new_file;
    access_log log{pfd::unique_fd{old_file.w}, false, 0, 1};
    log.reopen(pfd::unique_fd{new_file.w});
    REQUIRE(log.write_due(0));
    CHECK(log.start_write(0).empty());
    CHECK(log.fd() == new_file.w);
}
