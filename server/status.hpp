#pragma once
// The master's report on its workers: a table for people, JSON for machines.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "worker/scoreboard.hpp"

namespace pfd::server {

struct worker_status {
    unsigned slot = 0;
    int pid = 0;
    std::uint32_t generation = 0;   // of the configuration: 1 at start, +1 per reload
    unsigned spawn = 0;             // the how-manieth worker started in this slot
    const char* state = "";
    double uptime_s = 0;
    unsigned restarts = 0;       // respawns of this slot after unplanned exits
    worker::worker_counters counters;
    // Over the last 10 s, by counter_table index; set for the counters listed with a rate.
    std::array<double, worker::counter_count> per_s{};
    std::uint64_t rss_bytes = 0;
    double cpu_percent = 0;      // over the last 10 s
    // Reuseport: ready, but so near limits.max_connections that new connections are
    // steered to the other workers' sockets (server/full_workers.hpp).
    bool full = false;
};

struct master_status {
    int pid = 0;
    double uptime_s = 0;
    std::string listen;
    std::string balance;
    std::vector<worker_status> workers;
    // The master's part of the scoreboard (the whole board follows it), for the
    // Prometheus text; null: not known.
    const worker::server_stats* board = nullptr;
};

std::string render_table(const master_status& s);
std::string render_json(const master_status& s);

}  // namespace pfd::server
