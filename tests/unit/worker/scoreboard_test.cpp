#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <set>
#include <string>

#include "server/status.hpp"
#include "worker/scoreboard.hpp"

using pfd::worker::counter_count;
using pfd::worker::counter_table;
using pfd::worker::worker_counters;
using pfd::worker::worker_stats;

namespace {

// A distinct non-zero value per counter, by its place in the list.
std::uint64_t value_for(std::size_t i) { return 1000 + 7 * i; }

void fill(worker_stats& st) {
    std::size_t i = 0;
#define FILL(name, type, kind, json, rate, help) st.name.store(static_cast<type>(value_for(i++)));
    PREFORKD_WORKER_COUNTERS(FILL)
#undef FILL
}

pfd::server::master_status sample_status() {
    pfd::server::master_status s;
    s.pid = 4242;
    s.uptime_s = 12.3456;
    s.listen = "127.0.0.1:8080";
    s.balance = "reuseport";
    pfd::server::worker_status a{.slot = 0, .pid = 101, .generation = 1, .spawn = 2, .state = "ready",
                                 .uptime_s = 7.25, .restarts = 3, .counters = {}};
    a.counters.requests = 123456789012ULL;
    a.per_s[pfd::worker::index(pfd::worker::counter::requests)] = 987.654;
    a.counters.active = 17;
    a.counters.accepted = 4000000000ULL;
    a.counters.bytes_in = 18446744073709551615ULL;
    a.counters.bytes_out = 555;
    a.rss_bytes = 10485760;
    a.cpu_percent = 12.345;
    const pfd::server::worker_status b{.slot = 1, .pid = 102, .generation = 2, .spawn = 1, .state = "draining",
                                       .counters = {}};
    s.workers = {a, b};
    return s;
}

}  // namespace

TEST_CASE("the counter list names each counter once, with a JSON key and help text", "[worker][scoreboard]") {
    REQUIRE(counter_count > 0);
    std::set<std::string> members;
    std::set<std::string> keys;
    for (const auto& c : counter_table) {
        CHECK(members.insert(c.member).second);
        CHECK(keys.insert(c.json).second);
        CHECK(std::strlen(c.help) > 0);
        // A rate of something that goes up and down means nothing.
        CHECK_FALSE((c.rate && c.kind == pfd::worker::counter_kind::gauge));
    }
}

TEST_CASE("a snapshot copies every counter, in the list's order", "[worker][scoreboard]") {
    worker_stats st;
    fill(st);
    const auto values = st.counters().values();
    for (std::size_t i = 0; i < counter_count; ++i) {
        INFO(counter_table[i].member);
        CHECK(values[i] == value_for(i));
    }
}

TEST_CASE("reset zeroes every counter listed and nothing else", "[worker][scoreboard]") {
    worker_stats st;
    fill(st);
    st.pid.store(77);
    st.slot.store(3);
    st.generation.store(9);
    st.state.store(pfd::worker::worker_state::ready);
    st.start_unix_ms.store(123);
    st.heartbeat_ms.store(456);
    st.holds_listener.store(true);
    for (const auto v : st.counters().values()) {
        REQUIRE(v != 0);
    }

    st.reset_counters();

    const auto values = st.counters().values();
    for (std::size_t i = 0; i < counter_count; ++i) {
        INFO(counter_table[i].member);
        CHECK(values[i] == 0);
    }
    // Also read the members by name, not only through the list the reset iterates.
    CHECK(st.requests.load() == 0);
    CHECK(st.bytes_in.load() == 0);
    CHECK(st.bytes_out.load() == 0);
    CHECK(st.accepted.load() == 0);
    CHECK(st.active.load() == 0);
    CHECK(st.pid.load() == 77);
    CHECK(st.slot.load() == 3);
    CHECK(st.generation.load() == 9);
    CHECK(st.state.load() == pfd::worker::worker_state::ready);
    CHECK(st.start_unix_ms.load() == 123);
    CHECK(st.heartbeat_ms.load() == 456);
    CHECK(st.holds_listener.load());
}

TEST_CASE("the status JSON has a key for each counter, with its value", "[worker][scoreboard][status]") {
    pfd::server::master_status s;
    pfd::server::worker_status w;
    worker_stats st;
    fill(st);
    w.counters = st.counters();
    s.workers = {w};
    const std::string json = pfd::server::render_json(s);
    for (std::size_t i = 0; i < counter_count; ++i) {
        const auto& c = counter_table[i];
        INFO(json);
        CHECK(json.find("\"" + std::string{c.json} + "\":" + std::to_string(value_for(i)) + ",") != std::string::npos);
        CHECK((json.find("\"" + std::string{c.json} + "_per_s\":") != std::string::npos) == c.rate);
    }
}

// Captured from the status code before the counters were listed once: the output must
// not change by a byte (but for the keys added since: the status classes).
TEST_CASE("the status table and JSON are unchanged", "[worker][scoreboard][status]") {
    const auto s = sample_status();
    CHECK(pfd::server::render_table(s) ==
        "master pid 4242, up 12 s, listening on 127.0.0.1:8080 (balance reuseport), 2 workers\n"
        "SLOT      PID  GEN STATE        UPTIME RESTARTS     REQUESTS     REQ/S  ACTIVE   RSS_KIB   CPU%\n"
        "   0      101    1 ready            7s        3 123456789012     987.7      17     10240   12.3\n"
        "   1      102    2 draining         0s        0            0       0.0       0         0    0.0\n");
    CHECK(pfd::server::render_json(s) ==
        "{\"master\":{\"pid\":4242,\"uptime_s\":12.346,\"listen\":\"127.0.0.1:8080\","
        "\"balance\":\"reuseport\"},\"workers\":["
        "{\"slot\":0,\"pid\":101,\"generation\":1,\"spawn\":2,\"state\":\"ready\",\"uptime_s\":7.250,\"restarts\":3"
        ",\"requests\":123456789012,\"requests_per_s\":987.65,\"active_connections\":17"
        ",\"accepted_connections\":4000000000"
        ",\"bytes_in\":18446744073709551615,\"bytes_out\":555"
        ",\"status_1xx\":0,\"status_2xx\":0,\"status_3xx\":0,\"status_4xx\":0,\"status_5xx\":0,\"rss_bytes\":10485760,\"cpu_percent\":12.35},"
        "{\"slot\":1,\"pid\":102,\"generation\":2,\"spawn\":1,\"state\":\"draining\",\"uptime_s\":0.000,\"restarts\":0"
        ",\"requests\":0,\"requests_per_s\":0.00,\"active_connections\":0,\"accepted_connections\":0"
        ",\"bytes_in\":0,\"bytes_out\":0,\"status_1xx\":0,\"status_2xx\":0,\"status_3xx\":0,\"status_4xx\":0,\"status_5xx\":0,\"rss_bytes\":0,\"cpu_percent\":0.00}]}\n");
}
