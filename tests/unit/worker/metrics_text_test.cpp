#include <catch2/catch.hpp>

#include <chrono>
#include <string>

#include "worker/metrics_text.hpp"
#include "worker/scoreboard.hpp"

using pfd::worker::render_metrics;
using pfd::worker::scoreboard;
using pfd::worker::seconds_text;
using pfd::worker::worker_state;

namespace {

// Entry 0: slot 0's live worker, which replaced one that served 4 requests; entry 2:
// slot 1's. Slots 2 and 3 never had a worker: they have no series.
scoreboard filled_board() {
    auto b = scoreboard::create(4);
    REQUIRE(b);
    auto& old = (*b)[0];
    old.slot.store(0);
    old.state.store(worker_state::ready);
    old.requests.store(4);
    old.status_2xx.store(3);
    old.status_4xx.store(1);
    old.accepted.store(2);
    old.active.store(1);
    old.bytes_in.store(400);
    old.bytes_out.store(800);
    old.duration_count[0].store(3);
    old.duration_count[14].store(1);
    old.duration_sum_us.store(12'000'090);
    old.cpu_ms.store(1'250);
    b->retire(0, 0);

    auto& w0 = (*b)[0];
    w0.slot.store(0);
    w0.pid.store(100);
    w0.state.store(worker_state::ready);
    w0.requests.store(6);
    w0.status_1xx.store(1);
    w0.status_2xx.store(2);
    w0.status_3xx.store(1);
    w0.status_5xx.store(2);
    w0.accepted.store(5);
    w0.active.store(2);
    w0.bytes_in.store(1000);
    w0.bytes_out.store(2000);
    w0.duration_count[1].store(2);    // ≤ 250 µs
    w0.duration_count[3].store(4);    // ≤ 1 ms
    w0.duration_sum_us.store(3'500);
    w0.cpu_ms.store(20);
    w0.rss_bytes.store(4'194'304);

    auto& w1 = (*b)[2];
    w1.slot.store(1);
    w1.pid.store(101);
    w1.state.store(worker_state::starting);
    w1.rss_bytes.store(1'048'576);

    auto& srv = b->server();
    srv.start_unix_ms.store(1'700'000'000'123ULL);
    srv.config_generation.store(3);
    srv.readiness.store(pfd::worker::server_readiness::ready);
    srv.restarts[0].store(1);   // crash
    srv.restarts[2].store(4);   // recycle
    return std::move(*b);
}

}  // namespace

TEST_CASE("seconds are exact decimals", "[worker][metrics]") {
    CHECK(seconds_text(0) == "0.0");
    CHECK(seconds_text(100) == "0.0001");
    CHECK(seconds_text(250) == "0.00025");
    CHECK(seconds_text(1'000'000) == "1.0");
    CHECK(seconds_text(2'500'000) == "2.5");
    CHECK(seconds_text(10'000'000) == "10.0");
    CHECK(seconds_text(12'003'590) == "12.00359");
    CHECK(seconds_text(1'700'000'000'123'000ULL) == "1700000000.123");
}

TEST_CASE("the metrics of a filled scoreboard, to the byte", "[worker][metrics]") {
    const scoreboard b = filled_board();
    const std::string text = render_metrics(b);
    CHECK(text ==
        "# HELP preforkd_requests_total Requests answered.\n"
        "# TYPE preforkd_requests_total counter\n"
        "preforkd_requests_total{worker=\"0\",code_class=\"1xx\"} 1\n"
        "preforkd_requests_total{worker=\"0\",code_class=\"2xx\"} 5\n"
        "preforkd_requests_total{worker=\"0\",code_class=\"3xx\"} 1\n"
        "preforkd_requests_total{worker=\"0\",code_class=\"4xx\"} 1\n"
        "preforkd_requests_total{worker=\"0\",code_class=\"5xx\"} 2\n"
        "preforkd_requests_total{worker=\"1\",code_class=\"1xx\"} 0\n"
        "preforkd_requests_total{worker=\"1\",code_class=\"2xx\"} 0\n"
        "preforkd_requests_total{worker=\"1\",code_class=\"3xx\"} 0\n"
        "preforkd_requests_total{worker=\"1\",code_class=\"4xx\"} 0\n"
        "preforkd_requests_total{worker=\"1\",code_class=\"5xx\"} 0\n"
        "# HELP preforkd_active_connections Connections open now.\n"
        "# TYPE preforkd_active_connections gauge\n"
        "preforkd_active_connections{worker=\"0\"} 2\n"
        "preforkd_active_connections{worker=\"1\"} 0\n"
        "# HELP preforkd_accepted_connections_total Connections accepted.\n"
        "# TYPE preforkd_accepted_connections_total counter\n"
        "preforkd_accepted_connections_total{worker=\"0\"} 7\n"
        "preforkd_accepted_connections_total{worker=\"1\"} 0\n"
        "# HELP preforkd_bytes_in_total Bytes read from clients.\n"
        "# TYPE preforkd_bytes_in_total counter\n"
        "preforkd_bytes_in_total{worker=\"0\"} 1400\n"
        "preforkd_bytes_in_total{worker=\"1\"} 0\n"
        "# HELP preforkd_bytes_out_total Bytes written to clients.\n"
        "# TYPE preforkd_bytes_out_total counter\n"
        "preforkd_bytes_out_total{worker=\"0\"} 2800\n"
        "preforkd_bytes_out_total{worker=\"1\"} 0\n"
        "# HELP preforkd_request_duration_seconds How long requests took, from their head to their answer complete in the output.\n"
        "# TYPE preforkd_request_duration_seconds histogram\n"
        "preforkd_request_duration_seconds_bucket{worker=\"0\",le=\"0.0001\"} 3\n"
        "preforkd_request_duration_seconds_bucket{worker=\"0\",le=\"0.00025\"} 5\n"
        "preforkd_request_duration_seconds_bucket{worker=\"0\",le=\"0.0005\"} 5\n"
        "preforkd_request_duration_seconds_bucket{worker=\"0\",le=\"0.001\"} 9\n"
        "preforkd_request_duration_seconds_bucket{worker=\"0\",le=\"0.0025\"} 9\n"
        "preforkd_request_duration_seconds_bucket{worker=\"0\",le=\"0.005\"} 9\n"
        "preforkd_request_duration_seconds_bucket{worker=\"0\",le=\"0.01\"} 9\n"
        "preforkd_request_duration_seconds_bucket{worker=\"0\",le=\"0.025\"} 9\n"
        "preforkd_request_duration_seconds_bucket{worker=\"0\",le=\"0.05\"} 9\n"
        "preforkd_request_duration_seconds_bucket{worker=\"0\",le=\"0.1\"} 9\n"
        "preforkd_request_duration_seconds_bucket{worker=\"0\",le=\"0.25\"} 9\n"
        "preforkd_request_duration_seconds_bucket{worker=\"0\",le=\"1.0\"} 9\n"
        "preforkd_request_duration_seconds_bucket{worker=\"0\",le=\"2.5\"} 9\n"
        "preforkd_request_duration_seconds_bucket{worker=\"0\",le=\"10.0\"} 9\n"
        "preforkd_request_duration_seconds_bucket{worker=\"0\",le=\"+Inf\"} 10\n"
        "preforkd_request_duration_seconds_sum{worker=\"0\"} 12.00359\n"
        "preforkd_request_duration_seconds_count{worker=\"0\"} 10\n"
        "preforkd_request_duration_seconds_bucket{worker=\"1\",le=\"0.0001\"} 0\n"
        "preforkd_request_duration_seconds_bucket{worker=\"1\",le=\"0.00025\"} 0\n"
        "preforkd_request_duration_seconds_bucket{worker=\"1\",le=\"0.0005\"} 0\n"
        "preforkd_request_duration_seconds_bucket{worker=\"1\",le=\"0.001\"} 0\n"
        "preforkd_request_duration_seconds_bucket{worker=\"1\",le=\"0.0025\"} 0\n"
        "preforkd_request_duration_seconds_bucket{worker=\"1\",le=\"0.005\"} 0\n"
        "preforkd_request_duration_seconds_bucket{worker=\"1\",le=\"0.01\"} 0\n"
        "preforkd_request_duration_seconds_bucket{worker=\"1\",le=\"0.025\"} 0\n"
        "preforkd_request_duration_seconds_bucket{worker=\"1\",le=\"0.05\"} 0\n"
        "preforkd_request_duration_seconds_bucket{worker=\"1\",le=\"0.1\"} 0\n"
        "preforkd_request_duration_seconds_bucket{worker=\"1\",le=\"0.25\"} 0\n"
        "preforkd_request_duration_seconds_bucket{worker=\"1\",le=\"1.0\"} 0\n"
        "preforkd_request_duration_seconds_bucket{worker=\"1\",le=\"2.5\"} 0\n"
        "preforkd_request_duration_seconds_bucket{worker=\"1\",le=\"10.0\"} 0\n"
        "preforkd_request_duration_seconds_bucket{worker=\"1\",le=\"+Inf\"} 0\n"
        "preforkd_request_duration_seconds_sum{worker=\"1\"} 0.0\n"
        "preforkd_request_duration_seconds_count{worker=\"1\"} 0\n"
        "# HELP preforkd_worker_resident_memory_bytes Resident memory of the slot's live workers, sampled by the master once a second.\n"
        "# TYPE preforkd_worker_resident_memory_bytes gauge\n"
        "preforkd_worker_resident_memory_bytes{worker=\"0\"} 4194304\n"
        "preforkd_worker_resident_memory_bytes{worker=\"1\"} 1048576\n"
        "# HELP preforkd_worker_cpu_seconds_total CPU time (user and system) of the slot's workers, live and exited, sampled by the master once a second.\n"
        "# TYPE preforkd_worker_cpu_seconds_total counter\n"
        "preforkd_worker_cpu_seconds_total{worker=\"0\"} 1.27\n"
        "preforkd_worker_cpu_seconds_total{worker=\"1\"} 0.0\n"
        "# HELP preforkd_worker_restarts_total Workers replaced, by why.\n"
        "# TYPE preforkd_worker_restarts_total counter\n"
        "preforkd_worker_restarts_total{reason=\"crash\"} 1\n"
        "preforkd_worker_restarts_total{reason=\"hang\"} 0\n"
        "preforkd_worker_restarts_total{reason=\"recycle\"} 4\n"
        "preforkd_worker_restarts_total{reason=\"reload\"} 0\n"
        "preforkd_worker_restarts_total{reason=\"scale\"} 0\n"
        "# HELP preforkd_workers_up Workers accepting connections.\n"
        "# TYPE preforkd_workers_up gauge\n"
        "preforkd_workers_up 1\n"
        "# HELP preforkd_readiness 1 for the server's state (what /readyz answers), 0 for the others.\n"
        "# TYPE preforkd_readiness gauge\n"
        "preforkd_readiness{state=\"starting\"} 0\n"
        "preforkd_readiness{state=\"ready\"} 1\n"
        "preforkd_readiness{state=\"draining\"} 0\n"
        "# HELP preforkd_config_generation The configuration serving: 1 at start, +1 per reload.\n"
        "# TYPE preforkd_config_generation gauge\n"
        "preforkd_config_generation 3\n"
        "# HELP preforkd_master_start_time_seconds When the master started, in seconds since the Unix epoch.\n"
        "# TYPE preforkd_master_start_time_seconds gauge\n"
        "preforkd_master_start_time_seconds 1700000000.123\n");
}
