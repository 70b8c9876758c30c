#pragma once
// Command-line parsing: preforkd [-c FILE] [-t] [-h] [-v] [-s SIGNAL] | preforkd status [--json].
#include <string>

#include <tl/expected.hpp>

namespace pfd::server {

enum class cli_action : std::uint8_t { serve, test_config, help, version, signal, status, scale, send };

struct cli_options {
    cli_action action = cli_action::serve;
    std::string config_path = "conf/server.toml";
    std::string signal_name;  // -s: stop, quit, reload, reopen, drain
    bool json = false;        // status --json
    bool prometheus = false;  // status --prometheus
    unsigned scale_to = 0;    // ctl scale N
    int send_slot = -1;       // ctl send [--slot N] TEXT: -1, every worker
    std::string message;      // ctl send's TEXT
};

// An error message (the caller prints it with the usage) for anything unknown.
tl::expected<cli_options, std::string> parse_cli(int argc, char** argv);

std::string usage_text(const char* program);

}  // namespace pfd::server
