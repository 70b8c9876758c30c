#include "server/cli.hpp"

#include <string_view>

namespace pfd::server {

std::string usage_text(const char* program) {
    std::string u = "usage: ";
    u += program;
    u += " [-c FILE] [-t] [-h] [-v]\n"
         "\n"
         "  -c, --config FILE  configuration file (default: conf/server.toml)\n"
         "  -t, --test         check the configuration and exit: 0 if valid, else 1\n"
         "                     with one 'file:line:col: message' per problem\n"
         "  -h, --help         show this help and exit\n"
         "  -v, --version      show the version and exit\n"
         "\n"
         "Signals to the master: TERM/INT stop now, QUIT stops gracefully.\n";
    return u;
}

tl::expected<cli_options, std::string> parse_cli(int argc, char** argv) {
    cli_options o;
    for (int i = 1; i < argc; ++i) {
        const std::string_view a = argv[i];
        if (a == "-c" || a == "--config") {
            if (i + 1 >= argc) {
                return tl::unexpected(std::string{a} + " needs a file name");
            }
            o.config_path = argv[++i];
        } else if (a.rfind("--config=", 0) == 0) {
            o.config_path = std::string{a.substr(9)};
        } else if (a == "-t" || a == "--test") {
            o.action = cli_action::test_config;
        } else if (a == "-h" || a == "--help") {
            o.action = cli_action::help;
        } else if (a == "-v" || a == "--version") {
            o.action = cli_action::version;
        } else {
            return tl::unexpected("unknown option '" + std::string{a} + "'");
        }
        if (o.config_path.empty()) {
            return tl::unexpected(std::string{"the configuration file name is empty"});
        }
    }
    return o;
}

}  // namespace pfd::server
