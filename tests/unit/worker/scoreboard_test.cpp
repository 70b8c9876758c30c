#include <catch2/catch.hpp>

#include <cstdint>
#include <cstring>
#include <set>
#include <string>
#include <thread>
#include <algorithm>
#include <atomic>
#include <chrono>

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
    a.full = true;
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
        "   0      101    1 full             7s        3 123456789012     987.7      17     10240   12.3\n"
        "   1      102    2 draining         0s        0            0       0.0       0         0    0.0\n");
    CHECK(pfd::server::render_json(s) ==
        "{\"master\":{\"pid\":4242,\"uptime_s\":12.346,\"listen\":\"127.0.0.1:8080\","
        "\"balance\":\"reuseport\"},\"workers\":["
        "{\"slot\":0,\"pid\":101,\"generation\":1,\"spawn\":2,\"state\":\"ready\",\"uptime_s\":7.250,\"restarts\":3"
        ",\"requests\":123456789012,\"requests_per_s\":987.65,\"active_connections\":17"
        ",\"accepted_connections\":4000000000"
        ",\"bytes_in\":18446744073709551615,\"bytes_out\":555"
        ",\"status_1xx\":0,\"status_2xx\":0,\"status_3xx\":0,\"status_4xx\":0,\"status_5xx\":0,\"rss_bytes\":10485760,\"cpu_percent\":12.35"
        ",\"full\":true},"
        "{\"slot\":1,\"pid\":102,\"generation\":2,\"spawn\":1,\"state\":\"draining\",\"uptime_s\":0.000,\"restarts\":0"
        ",\"requests\":0,\"requests_per_s\":0.00,\"active_connections\":0,\"accepted_connections\":0"
        ",\"bytes_in\":0,\"bytes_out\":0,\"status_1xx\":0,\"status_2xx\":0,\"status_3xx\":0,\"status_4xx\":0,\"status_5xx\":0,\"rss_bytes\":0,\"cpu_percent\":0.00"
        ",\"full\":false}]}\n");
}

// ------------------------------------------------------------------ slot totals (issue 15)

namespace {

using pfd::worker::counter;
using pfd::worker::index;
using pfd::worker::scoreboard;
using pfd::worker::worker_state;

// A worker of `slot` in entry e, as the master starts it and as it counts.
void occupy(scoreboard& b, std::size_t e, unsigned slot, std::uint64_t requests) {
    auto& st = b[e];
    st.slot.store(slot);
    st.requests.store(requests);
    st.status_2xx.store(requests);
    st.bytes_out.store(requests * 10);
    st.active.store(3);
    st.duration_count[0].store(requests);
    st.duration_sum_us.store(requests * 50);
    st.cpu_ms.store(requests * 2);
    st.rss_bytes.store(4096);
    st.state.store(worker_state::ready);
}

}  // namespace

TEST_CASE("retire folds an exited worker's counters into its slot and frees its entry", "[worker][scoreboard][metrics]") {
    auto b = scoreboard::create(6);
    REQUIRE(b);
    occupy(*b, 2, 1, 7);
    const auto seq = b->server().fold_seq.load();

    b->retire(2, 1);

    CHECK(b->server().fold_seq.load() == seq + 2);   // even again: no fold in progress
    CHECK((*b)[2].state.load() == worker_state::empty);
    for (const auto v : (*b)[2].counters().values()) {
        CHECK(v == 0);   // zeroed with the fold: a reader never sees them twice
    }
    const auto& t = b->totals(1);
    CHECK(t.counters[index(counter::requests)].load() == 7);
    CHECK(t.counters[index(counter::status_2xx)].load() == 7);
    CHECK(t.counters[index(counter::bytes_out)].load() == 70);
    CHECK(t.counters[index(counter::active)].load() == 0);   // a gauge is not folded
    CHECK(t.duration_count[0].load() == 7);
    CHECK(t.duration_sum_us.load() == 350);
    CHECK(t.cpu_ms.load() == 14);
    CHECK(t.retired.load() == 1);
}

TEST_CASE("a slot's snapshot is its totals plus every live worker of the slot", "[worker][scoreboard][metrics]") {
    auto b = scoreboard::create(6);
    REQUIRE(b);
    occupy(*b, 0, 1, 5);
    b->retire(0, 1);                 // an exited worker of slot 1
    occupy(*b, 0, 1, 11);            // its replacement, in the same entry
    occupy(*b, 3, 1, 2);             // and the worker it replaces, still draining (a recycle)
    occupy(*b, 4, 0, 100);           // another slot

    const auto snap = b->snapshot();
    REQUIRE(snap.slots.size() == 6);
    const auto& s1 = snap.slots[1];
    CHECK(s1.counters[index(counter::requests)] == 5 + 11 + 2);
    CHECK(s1.counters[index(counter::bytes_out)] == 180);
    CHECK(s1.counters[index(counter::active)] == 6);   // live workers only
    CHECK(s1.durations.count[0] == 18);
    CHECK(s1.durations.sum_us == 900);
    CHECK(s1.cpu_ms == 36);
    CHECK(s1.rss_bytes == 8192);                       // live workers only
    CHECK(s1.live == 2);
    CHECK(s1.retired == 1);
    CHECK(snap.slots[0].counters[index(counter::requests)] == 100);
    CHECK_FALSE(snap.slots[2].known());
    CHECK(snap.workers.size() == 3);

    // The draining one exits: the slot's counters stay where they were.
    b->retire(3, 1);
    CHECK(b->snapshot().slots[1].counters[index(counter::requests)] == 18);
}

TEST_CASE("a view of the mapping from the master's part sees the same board", "[worker][scoreboard][metrics]") {
    auto b = scoreboard::create(6);
    REQUIRE(b);
    occupy(*b, 5, 2, 9);
    const scoreboard v = scoreboard::view_of(b->server());
    CHECK(v.size() == 6);
    CHECK(v.snapshot().slots[2].counters[index(counter::requests)] == 9);
    CHECK(&v[5] == &(*b)[5]);
}

// The master folds while another process reads: with the seqlock a reader sees each fold
// wholly or not at all, so a slot's requests only grow, in steps of one worker's count.
// Each worker lives until the reader has finished a read since it appeared, so folds land
// on reads in progress, but for at most 20 us: when the two threads share a CPU (a busy
// machine) the reader may not run for a whole time slice, and lockstep would then cost a
// slice per worker. A read never returns torn while the master makes progress, so back-to-
// back folds only delay a reader, however slow it is (a sanitizer build).
TEST_CASE("readers racing folds never count a worker twice or miss it", "[worker][scoreboard][metrics]") {
    auto b = scoreboard::create(4);
    REQUIRE(b);
    constexpr std::uint64_t per_worker = 1000;
    constexpr int workers = 100000;
    std::atomic<bool> done{false};
    std::atomic<std::uint64_t> reads{0};
    std::thread master{[&] {
        for (int i = 0; i < workers; ++i) {
            occupy(*b, static_cast<std::size_t>(i % 4), 0, per_worker);
            const std::uint64_t seen = reads.load();
            const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds{20};
            while (reads.load() == seen && std::chrono::steady_clock::now() < until) {
            }
            b->retire(static_cast<std::size_t>(i % 4), 0);
        }
        done.store(true);
    }};
    std::uint64_t last = 0;
    std::uint64_t bad = 0;
    for (bool finished = false; !finished;) {
        finished = done.load();   // the read after the master is done sees every fold
        const std::uint64_t v = b->snapshot().slots[0].counters[index(counter::requests)];
        bad += (v < last || v % per_worker != 0 || v > workers * per_worker) ? 1 : 0;
        last = std::max(last, v);
        reads.fetch_add(1);
    }
    master.join();
    INFO("reads: " << reads.load());
    CHECK(bad == 0);
    CHECK(last == workers * per_worker);
}

// A master stopped in the middle of a fold (a debugger, SIGSTOP) leaves the sequence odd:
// a reader gives up waiting after its deadline and returns what is there, rather than
// hang the worker that answers /metrics.
TEST_CASE("a fold that never ends does not hang a reader", "[worker][scoreboard][metrics]") {
    auto b = scoreboard::create(2);
    REQUIRE(b);
    occupy(*b, 1, 1, 7);
    b->server().fold_seq.store(1);   // odd: a fold begun and never finished
    const auto snap = b->snapshot();
    CHECK(snap.slots[1].counters[index(counter::requests)] == 7);
    b->server().fold_seq.store(2);
    CHECK(b->snapshot().slots[1].live == 1);
}
