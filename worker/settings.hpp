#pragma once
// What a worker needs from the configuration; the master fills it before fork().
#include <cstdint>
#include <vector>

#include "proto/request_parser.hpp"
#include "proto/router.hpp"

namespace pfd::worker {

struct settings {
    std::vector<proto::route_spec> routes;
    proto::parser_limits parser_limits;
    std::uint32_t max_connections = 10'000;  // open connections per worker
};

}  // namespace pfd::worker
