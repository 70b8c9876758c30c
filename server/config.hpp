#pragma once
// The configuration file: TOML, validated completely before anything starts.
#include <sys/socket.h>
#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "base/log.hpp"
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

// How the master looks after its workers ([supervisor]).
struct supervisor_settings {
    std::chrono::milliseconds worker_timeout{30'000};     // heartbeat older than this: SIGKILL
    std::chrono::milliseconds graceful_timeout{30'000};   // a draining worker gets this long, then SIGKILL
    std::chrono::milliseconds min_uptime{1'000};          // dying sooner counts toward a crash loop
    std::chrono::milliseconds restart_delay_max{10'000};  // backoff ceiling in a crash loop
    std::uint64_t max_requests = 0;         // recycle a worker after this many (0: never)
    std::uint64_t max_requests_jitter = 0;  // plus a random 0..jitter, so workers do not recycle together
    std::uint64_t max_memory = 0;           // recycle a worker whose RSS passes this (0: never)
};

// [log]: where the access and error logs go.
struct log_settings {
    std::string error;                  // "": stderr; else an absolute path
    pfd::log_level level = pfd::log_level::info;
};

// [metrics]: the master's own Prometheus listener.
struct metrics_settings {
    bool enabled = false;               // [metrics] listen was given
    listen_address listen;
};

struct config {
    std::string path;
    listen_address listen;
    unsigned workers = 1;      // resolved: "auto" becomes the usable CPU count
    bool workers_auto = true;
    balance_mode balance = balance_mode::shared;
    // balance = "cpu": reuseport, each connection to the worker numbered as the CPU that
    // took it in (listeners.hpp, spread_over_first_sockets).
    bool steer_by_cpu = false;
    int backlog = 4096;
    // As written, made absolute: a relative path is taken from the file's directory.
    std::string pid_file;        // default: default_runtime_path(port, "pid")
    std::string control_socket;  // default: default_runtime_path(port, "sock")
    worker::settings worker;
    supervisor_settings supervisor;
    log_settings log;
    metrics_settings metrics;
    // [server] user / group: what the workers run as ("": as the master), as written, and
    // resolved (by name or number) when the file is read: a user that does not exist is
    // a configuration error. group "": the user's own.
    std::string user;
    std::string group;
    bool drop_privileges = false;   // user was given
    uid_t worker_uid = 0;
    gid_t worker_gid = 0;
    std::uint64_t rlimit_nofile = 0;    // raise RLIMIT_NOFILE to this (0: to the hard limit)
    bool cpu_affinity = false;          // "auto": worker slot i on the i-th allowed CPU
    // A graceful stop first answers /readyz 503 (and Connection: close) for this long while
    // it goes on serving, then stops accepting: balancers see "not ready" before a refusal.
    std::chrono::milliseconds shutdown_delay{0};
    // Valid but probably not meant ("file:line:col: warning: ..." or "file: warning: ..."),
    // for whoever loaded the file to print; they never make it invalid.
    std::vector<std::string> warnings;
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
// The balance as written: "shared", "reuseport" or "cpu".
const char* balance_name(const config& cfg) noexcept;

}  // namespace pfd::server
