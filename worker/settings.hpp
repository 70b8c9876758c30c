#pragma once
// What a worker needs from the configuration; the master fills it before fork().
#include <chrono>
#include <cstdint>
#include <vector>

#include "handlers/route_table.hpp"
#include "proto/request_parser.hpp"

namespace pfd::worker {

struct timeouts {
    std::chrono::milliseconds header{10'000};     // whole request head, from its first byte (or accept)
    std::chrono::milliseconds body{30'000};       // between two reads of a request body
    std::chrono::milliseconds keepalive{15'000};  // idle between requests
    std::chrono::milliseconds send{30'000};       // between two pieces of a response taken by the client
    std::chrono::milliseconds answer{60'000};     // for a handler that answers later (then 504)
};

struct settings {
    std::vector<handlers::route_spec> routes;
    handlers::mime_overrides mime;   // [mime]: extension -> media type, over the built-in table
    proto::parser_limits parser_limits;
    std::uint32_t max_connections = 10'000;              // open connections per worker
    std::uint32_t max_requests_per_connection = 10'000;  // then Connection: close; 0 = unlimited
    worker::timeouts timeouts;
    unsigned offload_threads = 2;          // helper threads per worker (file opens, offloaded work)
    std::size_t offload_queue = 1024;      // jobs queued or running at once, else 503
    // While jobs run, a normal-priority thread wakes this often (0: never); see offload_pool.
    std::chrono::milliseconds offload_nudge{1};
    // [log] access: "" (off), "stderr" or an absolute path; one line per request.
    std::string access_log;
    bool access_log_json = false;       // access_format = "json" (else "combined")
    // The worker's end of its message channel, made by the master at fork (the worker
    // owns it then); -1: none (send_message answers PFD_EINVAL).
    int message_fd = -1;
};

}  // namespace pfd::worker
