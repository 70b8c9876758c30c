// preforkd: a master process that binds the listening socket(s) and supervises
// N io_uring worker processes serving HTTP/1.1.
#include <csignal>
#include <cstdio>
#include <cstring>

#include <mimalloc.h>

#include "proto/request_parser.hpp"
#include "server/cli.hpp"
#include "server/config.hpp"
#include "server/control.hpp"
#include "server/master.hpp"
#include "server/pid_file.hpp"
#include "server/privileges.hpp"
#include "server/proc_title.hpp"

#ifndef PREFORKD_VERSION
#define PREFORKD_VERSION "0.1.0"
#endif

int main(int argc, char** argv) {
    using namespace pfd::server;
    const std::string cmdline = init_proc_title(argc, argv);
    const char* program = argc > 0 ? argv[0] : "preforkd";

    auto opts = parse_cli(argc, argv);
    if (!opts) {
        std::fprintf(stderr, "preforkd: %s\n%s", opts.error().c_str(), usage_text(program).c_str());
        return 2;
    }
    switch (opts->action) {
        case cli_action::help:
            std::fputs(usage_text(program).c_str(), stdout);
            return 0;
        case cli_action::version:
            std::printf("preforkd %s (llhttp %s, mimalloc %d)\n", PREFORKD_VERSION, pfd::proto::llhttp_version(),
                        mi_version());
            return 0;
        case cli_action::test_config:
        case cli_action::serve:
        case cli_action::signal:
        case cli_action::status:
        case cli_action::scale:
        case cli_action::send:
            break;
    }

    if (opts->action == cli_action::serve) {
        // From the start, not only once the master's loop exists: a HUP or TTIN sent as
        // soon as the process appears would otherwise end it (their default action).
        const sigset_t set = master_signals();
        ::sigprocmask(SIG_BLOCK, &set, nullptr);
    }
    auto cfg = load_config(opts->config_path);
    if (!cfg) {
        for (const auto& e : cfg.error()) {
            std::fprintf(stderr, "%s\n", e.c_str());
        }
        std::fprintf(stderr, "preforkd: configuration file %s is invalid (%zu problem%s)\n",
                     opts->config_path.c_str(), cfg.error().size(), cfg.error().size() == 1 ? "" : "s");
        return 1;
    }
    if (opts->action == cli_action::test_config || opts->action == cli_action::serve) {
        for (const auto& w : cfg->warnings) {
            std::fprintf(stderr, "%s\n", w.c_str());
        }
    }
    if (opts->action == cli_action::status || opts->action == cli_action::scale || opts->action == cli_action::send) {
        const std::string command =
            opts->action == cli_action::send    ? "send " + std::to_string(opts->send_slot) + " " + opts->message + "\n"
            : opts->action == cli_action::scale ? "scale " + std::to_string(opts->scale_to) + "\n"
            : opts->json                        ? "status json\n"
            : opts->prometheus                  ? "status prometheus\n"
                                                : "status\n";
        auto reply = control_request(cfg->control_socket, command);
        if (!reply) {
            std::fprintf(stderr, "preforkd: cannot reach the master (%s); is it running with %s?\n",
                         reply.error().c_str(), opts->config_path.c_str());
            return 1;
        }
        std::fputs(reply->c_str(), stdout);
        return opts->action == cli_action::send && reply->starts_with("error:") ? 1 : 0;
    }
    if (opts->action == cli_action::signal) {
        const std::string& name = opts->signal_name;
        const int signo = name == "stop"     ? SIGTERM
                          : name == "quit"   ? SIGQUIT
                          : name == "reload" ? SIGHUP
                          : name == "drain"  ? SIGWINCH
                                             : SIGUSR1;
        // Only a live preforkd master of this user (any, for root) that wrote the pid file:
        // whatever else the file names is left alone.
        if (auto pid = signal_master(cfg->pid_file, signo); !pid) {
            std::fprintf(stderr, "preforkd: %s\n", pid.error().c_str());
            return 1;
        }
        return 0;
    }
    if (opts->action == cli_action::test_config) {
        std::printf("preforkd: configuration file %s is valid (%u workers, balance %s, %zu routes)\n",
                    opts->config_path.c_str(), cfg->workers, balance_name(*cfg), cfg->worker.routes.size());
        return 0;
    }
    // Before anything is bound or written: a master that cannot start its workers as
    // configured (another user, without root; a file limit it may not set) says so now,
    // rather than fork workers that exit, in a loop.
    if (auto ready = prepare_workers(*cfg); !ready) {
        std::fprintf(stderr, "preforkd: %s; not starting\n", ready.error().c_str());
        return 1;
    }
    std::fflush(stdout);
    return run_master(*cfg, std::vector<std::string>(argv, argv + argc), cmdline);
}
