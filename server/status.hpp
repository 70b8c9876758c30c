#pragma once
// The master's report on its workers: a table for people, JSON for machines.
#include <cstdint>
#include <string>
#include <vector>

namespace pfd::server {

struct worker_status {
    unsigned slot = 0;
    int pid = 0;
    std::uint32_t generation = 0;   // of the configuration: 1 at start, +1 per reload
    unsigned spawn = 0;             // the how-manieth worker started in this slot
    const char* state = "";
    double uptime_s = 0;
    unsigned restarts = 0;       // respawns of this slot after unplanned exits
    std::uint64_t requests = 0;
    double requests_per_s = 0;   // over the last 10 s
    std::uint32_t active = 0;
    std::uint64_t accepted = 0;
    std::uint64_t bytes_in = 0;
    std::uint64_t bytes_out = 0;
    std::uint64_t rss_bytes = 0;
    double cpu_percent = 0;      // over the last 10 s
};

struct master_status {
    int pid = 0;
    double uptime_s = 0;
    std::string listen;
    std::string balance;
    std::vector<worker_status> workers;
};

std::string render_table(const master_status& s);
std::string render_json(const master_status& s);

}  // namespace pfd::server
