#include "base/log.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace std::chrono_literals;

std::uint64_t fake_ms = 0;
std::uint64_t fake_clock() noexcept { return fake_ms; }

// Runs f with stderr going to a temporary file; returns the lines written.
template <class F>
std::vector<std::string> stderr_lines(F f) {
    std::FILE* tmp = std::tmpfile();
    REQUIRE(tmp != nullptr);
    const int saved = ::dup(STDERR_FILENO);
    REQUIRE(saved >= 0);
    REQUIRE(::dup2(::fileno(tmp), STDERR_FILENO) >= 0);
    f();
    ::dup2(saved, STDERR_FILENO);
    ::close(saved);
    std::rewind(tmp);
    std::vector<std::string> lines;
    char buf[2048];
    while (std::fgets(buf, sizeof buf, tmp) != nullptr) {
        std::string line{buf};
        if (!line.empty() && line.back() == '\n') {
            line.pop_back();
        }
        lines.push_back(line);
    }
    std::fclose(tmp);
    return lines;
}

bool ends_with(const std::string& s, std::string_view tail) {
    return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// As many lines as tails, each line ending with its tail.
void check_tails(const std::vector<std::string>& lines, std::initializer_list<std::string_view> tails) {
    REQUIRE(lines.size() == tails.size());
    std::size_t i = 0;
    for (const auto tail : tails) {
        CAPTURE(i);
        CHECK(ends_with(lines[i], tail));
        ++i;
    }
}

}  // namespace

TEST_CASE("log_limiter logs the first line, holds back repeats, then counts them", "[worker][log]") {
    pfd::set_log_identity("worker 7");
    fake_ms = 1'000;
    pfd::log_limiter lim{10s, fake_clock};
    const auto lines = stderr_lines([&] {
        lim.log("accept failed: %s", "Too many open files");
        for (int i = 0; i < 99; ++i) {   // ten a second for ~10 s
            fake_ms += 100;
            lim.log("accept failed: %s", "Too many open files");
        }
        CHECK(lim.suppressed() == 99);
        fake_ms = 11'000;   // the window (10 s from the first line) is over
        lim.log("accept failed: %s", "Too many open files");
    });
    REQUIRE(lines.size() == 2);
    CHECK(lines[0].find("] worker 7: accept failed: Too many open files") != std::string::npos);
    CHECK(ends_with(lines[0], "accept failed: Too many open files"));
    CHECK(ends_with(lines[1], "accept failed: Too many open files (99 more in the last 10 s)"));
    CHECK(lim.suppressed() == 0);
}

TEST_CASE("log_limiter flush reports what was held back once the window is over", "[worker][log]") {
    fake_ms = 0;
    pfd::log_limiter lim{5s, fake_clock};
    const auto lines = stderr_lines([&] {
        lim.flush();   // nothing held back: nothing to say
        lim.log("recv failed: %d", 1);
        fake_ms = 1'000;
        lim.log("recv failed: %d", 2);
        fake_ms = 2'000;
        lim.log("recv failed: %d", 3);
        fake_ms = 4'999;
        lim.flush();   // still inside the window
        fake_ms = 5'000;
        lim.flush();   // the latest held-back line stands for them
        lim.flush();   // said once
    });
    check_tails(lines, {"recv failed: 1",
                        "recv failed: 3 (2 more in the last 5 s)"});
}

TEST_CASE("log_limiter: a storm gives one line per window, a quiet spell starts afresh", "[worker][log]") {
    fake_ms = 0;
    pfd::log_limiter lim{10s, fake_clock};
    const auto lines = stderr_lines([&] {
        for (int i = 0; i < 300; ++i) {   // 30 s at ten a second, flushed by a 100 ms tick
            lim.log("accept failed");
            lim.flush();
            fake_ms += 100;
        }
        lim.flush();         // the tick after the storm's last line
        fake_ms += 60'000;   // quiet for a minute, then once more
        lim.flush();
        lim.log("accept failed");
    });
    check_tails(lines, {"accept failed",
                        "accept failed (99 more in the last 10 s)",
                        "accept failed (99 more in the last 10 s)",
                        "accept failed (99 more in the last 10 s)",
                        "accept failed"});
}

TEST_CASE("log_limiter: one limiter per call site, each with its own count", "[worker][log]") {
    fake_ms = 0;
    pfd::log_limiter a{10s, fake_clock};
    pfd::log_limiter b{10s, fake_clock};
    const auto lines = stderr_lines([&] {
        a.log("a");
        b.log("b");
        a.log("a");
        a.log("a");
        fake_ms = 10'000;
        a.flush();
        b.flush();
    });
    check_tails(lines, {": a",
                        ": b",
                        ": a (2 more in the last 10 s)"});
}

TEST_CASE("log_limiter keeps a long line whole up to the line limit", "[worker][log]") {
    fake_ms = 0;
    pfd::log_limiter lim{10s, fake_clock};
    const std::string longer(2000, 'x');
    const auto lines = stderr_lines([&] { lim.log("%s", longer.c_str()); });
    REQUIRE(lines.size() == 1);
    CHECK(lines[0].size() < 1024);
    CHECK(ends_with(lines[0], "xxx"));
}

TEST_CASE("log levels: lines below the level are dropped; warnings and errors say so", "[base][log]") {
    pfd::set_log_identity("master");
    const auto lines = stderr_lines([&] {
        pfd::refresh_log_target();
        pfd::set_log_level(pfd::log_level::warn);
        pfd::log_line("info %d", 1);
        pfd::log_debug("debug %d", 2);
        pfd::log_warn("warn %d", 3);
        pfd::log_error("error %d", 4);
        pfd::set_log_level(pfd::log_level::debug);
        pfd::log_at(pfd::log_level::debug, "debug %d", 5);
        pfd::log_line("info %d", 6);
        pfd::set_log_level(pfd::log_level::info);
        pfd::log_debug("debug %d", 7);
    });
    check_tails(lines, {"] master: warning: warn 3", "] master: error: error 4", "] master: debug: debug 5",
                        "] master: info 6"});
    for (const auto& l : lines) {
        CHECK(l.size() > 24);
        CHECK(l[4] == '-');
        CHECK(l[23] == 'Z');   // 2026-12-01T12:53:17.123Z
    }
}

TEST_CASE("log on journald's stream: <N> priority prefixes, no timestamp", "[base][log]") {
    pfd::set_log_identity("worker 2");
    pfd::set_log_level(pfd::log_level::debug);
    bool journal = false;
    const auto lines = stderr_lines([&] {
        struct stat st{};
        REQUIRE(::fstat(STDERR_FILENO, &st) == 0);
        const std::string id = std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino);
        ::setenv("JOURNAL_STREAM", id.c_str(), 1);
        pfd::refresh_log_target();
        journal = pfd::log_to_journal();
        pfd::log_error("e");
        pfd::log_warn("w");
        pfd::log_line("i");
        pfd::log_debug("d");
        ::setenv("JOURNAL_STREAM", (std::to_string(st.st_dev) + ":" + std::to_string(st.st_ino + 1)).c_str(), 1);
        pfd::refresh_log_target();   // another stream's: not journald's (stderr was redirected)
        pfd::log_line("plain");
        ::unsetenv("JOURNAL_STREAM");
        pfd::refresh_log_target();
    });
    pfd::set_log_level(pfd::log_level::info);
    CHECK(journal);
    const std::string pid = std::to_string(::getpid());
    REQUIRE(lines.size() == 5);
    CHECK(lines[0] == "<3>preforkd[" + pid + "] worker 2: e");
    CHECK(lines[1] == "<4>preforkd[" + pid + "] worker 2: w");
    CHECK(lines[2] == "<6>preforkd[" + pid + "] worker 2: i");
    CHECK(lines[3] == "<7>preforkd[" + pid + "] worker 2: d");
    CHECK(ends_with(lines[4], "Z preforkd[" + pid + "] worker 2: plain"));
}

TEST_CASE("log_limiter logs at its own level", "[base][log]") {
    fake_ms = 0;
    pfd::log_limiter lim{10s, fake_clock, pfd::log_level::error};
    const auto lines = stderr_lines([&] {
        pfd::refresh_log_target();
        lim.log("disk full");
    });
    check_tails(lines, {": error: disk full"});
}
