#include "server/cli.hpp"

#include <charconv>
#include <string_view>

#include "worker/message_channel.hpp"

namespace pfd::server {

namespace {
constexpr std::size_t max_message_bytes = worker::max_message;
}  // namespace

std::string usage_text(const char* program) {
    std::string u = "usage: ";
    u += program;
    u += " [-c FILE] [-t | -s SIGNAL] [-h] [-v]\n"
         "       ";
    u += program;
    u += " status [-c FILE] [--json | --prometheus]\n"
         "       ";
    u += program;
    u += " ctl scale N [-c FILE]\n"
         "       ";
    u += program;
    u += " ctl send [--slot N] TEXT [-c FILE]\n"
         "\n"
         "  -c, --config FILE  configuration file (default: conf/server.toml)\n"
         "  -t, --test         check the configuration and exit: 0 if valid, else 1\n"
         "                     with one 'file:line:col: message' per problem\n"
         "  -s SIGNAL          signal the running master (from its pid file): stop, quit,\n"
         "                     reload, reopen (the log files) or drain (/readyz answers 503)\n"
         "  status             print the workers of the running master (--json for machines,\n"
         "                     --prometheus for the metrics in Prometheus' text format)\n"
         "  ctl scale N        run N workers (TTIN / TTOU add or remove one)\n"
         "  ctl send TEXT      a message to every worker's modules (on_message), or with\n"
         "                     --slot N to the worker(s) of slot N; one line, at most 64 KiB\n"
         "  -h, --help         show this help and exit\n"
         "  -v, --version      show the version and exit\n"
         "\n"
         "Signals to the master: TERM/INT stop now, QUIT stops gracefully, HUP reloads,\n"
         "USR1 reopens the log files, USR2 upgrades the binary, WINCH drains.\n";
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
        } else if (a == "-s" || a == "--signal") {
            if (i + 1 >= argc) {
                return tl::unexpected(std::string{a} + " needs a signal: stop, quit, reload, reopen or drain");
            }
            o.signal_name = argv[++i];
            if (o.signal_name != "stop" && o.signal_name != "quit" && o.signal_name != "reload" &&
                o.signal_name != "reopen" && o.signal_name != "drain") {
                return tl::unexpected("unknown signal '" + o.signal_name +
                                      "'; use stop, quit, reload, reopen or drain");
            }
            o.action = cli_action::signal;
        } else if (a == "ctl" && i == 1 && i + 1 < argc && std::string_view{argv[i + 1]} == "send") {
            i += 2;
            if (i + 1 < argc && std::string_view{argv[i]} == "--slot") {
                const std::string_view n = argv[i + 1];
                int v = 0;
                auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), v);
                if (ec != std::errc{} || end != n.data() + n.size() || v < 0) {
                    return tl::unexpected("ctl send --slot needs a worker slot (0, 1, ...), got '" + std::string{n} + "'");
                }
                o.send_slot = v;
                i += 2;
            }
            if (i >= argc) {
                return tl::unexpected(std::string{"ctl send needs the message: ctl send [--slot N] TEXT"});
            }
            o.message = argv[i];
            if (o.message.find('\n') != std::string::npos) {
                return tl::unexpected(std::string{"ctl send: the message must be one line (no newline)"});
            }
            if (o.message.size() > max_message_bytes) {
                return tl::unexpected("ctl send: message too large (" + std::to_string(o.message.size()) +
                                      " bytes; at most " + std::to_string(max_message_bytes) + ")");
            }
            o.action = cli_action::send;
        } else if (a == "ctl" && i == 1) {
            if (i + 2 >= argc || std::string_view{argv[i + 1]} != "scale") {
                return tl::unexpected(std::string{"ctl needs a command: ctl scale N, or ctl send [--slot N] TEXT"});
            }
            const std::string_view n = argv[i + 2];
            unsigned v = 0;
            auto [end, ec] = std::from_chars(n.data(), n.data() + n.size(), v);
            if (ec != std::errc{} || end != n.data() + n.size() || v < 1 || v > 1024) {
                return tl::unexpected("ctl scale needs a worker count from 1 to 1024, got '" + std::string{n} + "'");
            }
            o.action = cli_action::scale;
            o.scale_to = v;
            i += 2;
        } else if (a == "status" && i == 1) {
            o.action = cli_action::status;
        } else if (a == "--json" && o.action == cli_action::status) {
            o.json = true;
        } else if (a == "--prometheus" && o.action == cli_action::status) {
            o.prometheus = true;
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
