#pragma once
// The configuration file: TOML, validated completely before anything starts.
#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "worker/settings.hpp"

namespace pfd::server {

enum class balance_mode : std::uint8_t {
    shared,     // one listening socket inherited by every worker: one accept queue
    reuseport,  // one SO_REUSEPORT socket per worker slot: the kernel spreads connections
};

struct listen_address {
    std::string text;  // as written, for messages
    sockaddr_storage addr{};
    socklen_t addr_len = 0;
};

struct config {
    std::string path;
    listen_address listen;
    unsigned workers = 1;      // resolved: "auto" becomes the usable CPU count
    bool workers_auto = true;
    balance_mode balance = balance_mode::shared;
    int backlog = 4096;
    worker::settings worker;
};

// Every problem found, one per line, each "file:line:col: what is wrong".
using config_errors = std::vector<std::string>;
using config_result = tl::expected<config, config_errors>;

config_result load_config(const std::string& path);
// As load_config, from text; source_name is used in messages.
config_result parse_config(std::string_view text, const std::string& source_name);

// "host:port", "[v6]:port" or "*:port"; an error message otherwise.
tl::expected<listen_address, std::string> parse_listen_address(std::string_view text);

const char* to_string(balance_mode b) noexcept;

}  // namespace pfd::server
