#include "server/config.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <sys/un.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <climits>
#include <limits>
#include <cstring>

#include <toml++/toml.h>

#include "base/small_file.hpp"
#include "base/unique_fd.hpp"
#include "server/config_routes.hpp"
#include "server/config_validator.hpp"
#include "server/cpu_count.hpp"
#include "server/runtime_dir.hpp"

namespace pfd::server {

namespace config_parts {

// `preforkd -s stop -c /etc/preforkd/x.toml` from anywhere must find the pid file the
// master wrote.
tl::expected<std::string, std::string> beside_config(const std::string& config_path, const std::string& path) {
    if (path.empty() || path.front() == '/') {
        return path;
    }
    std::string joined;
    if (config_path.empty() || config_path.front() != '/') {
        char cwd[PATH_MAX];
        if (::getcwd(cwd, sizeof cwd) == nullptr) {
            return tl::unexpected(std::string{"cannot resolve it against the working directory: getcwd: "} +
                                  std::strerror(errno));
        }
        joined = cwd;
        joined += '/';
    }
    const auto slash = config_path.rfind('/');
    if (slash != std::string::npos) {
        joined.append(config_path, 0, slash + 1);
    }
    joined += path;
    std::string out;
    std::string_view rest = joined;
    while (!rest.empty()) {
        const auto end = rest.find('/');
        const std::string_view segment = rest.substr(0, end);
        rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
        if (!segment.empty() && segment != ".") {
            out += '/';
            out += segment;
        }
    }
    return out.empty() ? std::string{"/"} : out;
}

}  // namespace config_parts

namespace {

using namespace config_parts;

// An explicit pid_file / control_socket, relative to the file's directory.
void resolve_path(validator& v, const toml::node& n, std::string_view name, std::string& path) {
    auto resolved = beside_config(v.file(), path);
    if (!resolved) {
        v.error(n.source(), std::string{name} + " \"" + path + "\" is relative, and " + resolved.error());
        return;
    }
    path = std::move(*resolved);
}

void read_server(validator& v, const toml::table& t, config& cfg) {
    v.known_keys(t, "server", {"listen", "workers", "balance", "backlog", "pid_file", "control_socket",
                               "offload_threads", "offload_queue", "offload_nudge", "user", "group",
                               "rlimit_nofile", "cpu_affinity", "shutdown_delay"});
    read_server_operations(v, t, cfg);
    if (const toml::node* n = v.string(t, "pid_file", "server.pid_file", cfg.pid_file)) {
        resolve_path(v, *n, "server.pid_file", cfg.pid_file);
    }
    if (const toml::node* n = v.string(t, "control_socket", "server.control_socket", cfg.control_socket)) {
        const std::string written = cfg.control_socket;
        resolve_path(v, *n, "server.control_socket", cfg.control_socket);
        if (cfg.control_socket.size() >= sizeof(sockaddr_un::sun_path)) {
            std::string msg = "server.control_socket is too long for a Unix socket path (" +
                              std::to_string(cfg.control_socket.size()) + " bytes";
            if (written != cfg.control_socket) {
                msg += " as \"" + cfg.control_socket + "\", beside the configuration file";
            }
            msg += "; at most " + std::to_string(sizeof(sockaddr_un::sun_path) - 1) + ")";
            v.error(n->source(), msg);
        }
    }

    std::string listen;
    if (const toml::node* n = v.string(t, "listen", "server.listen", listen)) {
        auto addr = parse_listen_address(listen);
        if (addr) {
            cfg.listen = std::move(*addr);
        } else {
            v.error(n->source(), "server.listen: " + addr.error());
        }
    }

    if (const toml::node* n = t.get("workers")) {
        if (n->is_string() && n->as_string()->get() == "auto") {
            cfg.workers_auto = true;
        } else if (n->is_integer() && n->as_integer()->get() >= 1 && n->as_integer()->get() <= 1024) {
            cfg.workers_auto = false;
            cfg.workers = static_cast<unsigned>(n->as_integer()->get());
        } else {
            v.error(n->source(), "server.workers must be \"auto\" or an integer from 1 to 1024, got " +
                                     describe(*n));
        }
    }

    std::string balance;
    if (const toml::node* n = v.string(t, "balance", "server.balance", balance)) {
        if (balance == "shared") {
            cfg.balance = balance_mode::shared;
        } else if (balance == "reuseport" || balance == "cpu") {
            cfg.balance = balance_mode::reuseport;
            cfg.steer_by_cpu = balance == "cpu";
        } else {
            v.error(n->source(), "server.balance must be \"shared\", \"reuseport\" or \"cpu\", got " + describe(*n));
        }
    }

    v.integer(t, "backlog", "server.backlog", cfg.backlog, 1, 65535);
    v.integer(t, "offload_threads", "server.offload_threads", cfg.worker.offload_threads, 1, 256);
    v.integer(t, "offload_queue", "server.offload_queue", cfg.worker.offload_queue, 1, 1'000'000);
    v.duration(t, "offload_nudge", "server.offload_nudge", cfg.worker.offload_nudge, std::chrono::milliseconds{0});
}

void read_limits(validator& v, const toml::table& t, config& cfg) {
    v.known_keys(t, "limits",
                 {"max_connections", "max_request_line", "max_header_bytes", "max_headers", "max_body_bytes",
                  "max_requests_per_connection", "header_timeout", "body_timeout", "keepalive_timeout",
                  "send_timeout", "handler_timeout"});
    auto& w = cfg.worker;
    v.integer(t, "max_connections", "limits.max_connections", w.max_connections, 1, 1'000'000);
    v.integer(t, "max_request_line", "limits.max_request_line", w.parser_limits.max_request_line, 16, 1 << 20);
    v.integer(t, "max_header_bytes", "limits.max_header_bytes", w.parser_limits.max_header_bytes, 256, 1 << 20);
    v.integer(t, "max_headers", "limits.max_headers", w.parser_limits.max_headers, 1,
              static_cast<std::int64_t>(proto::request_head::max_headers));
    v.size(t, "max_body_bytes", "limits.max_body_bytes", w.parser_limits.max_body_bytes);
    v.integer(t, "max_requests_per_connection", "limits.max_requests_per_connection",
              w.max_requests_per_connection, 0, std::numeric_limits<std::uint32_t>::max());
    v.duration(t, "header_timeout", "limits.header_timeout", w.timeouts.header);
    v.duration(t, "body_timeout", "limits.body_timeout", w.timeouts.body);
    v.duration(t, "keepalive_timeout", "limits.keepalive_timeout", w.timeouts.keepalive);
    v.duration(t, "send_timeout", "limits.send_timeout", w.timeouts.send);
    v.duration(t, "handler_timeout", "limits.handler_timeout", w.timeouts.answer);
}

void read_supervisor(validator& v, const toml::table& t, config& cfg) {
    v.known_keys(t, "supervisor",
                 {"worker_timeout", "graceful_timeout", "min_uptime", "restart_delay_max", "max_requests",
                  "max_requests_jitter", "max_memory"});
    auto& s = cfg.supervisor;
    // Workers beat every 100 ms tick (and a busy loop may miss a few): anything shorter
    // would kill healthy workers.
    v.duration(t, "worker_timeout", "supervisor.worker_timeout", s.worker_timeout, std::chrono::milliseconds{500});
    v.duration(t, "graceful_timeout", "supervisor.graceful_timeout", s.graceful_timeout);
    v.duration(t, "min_uptime", "supervisor.min_uptime", s.min_uptime);
    v.duration(t, "restart_delay_max", "supervisor.restart_delay_max", s.restart_delay_max);
    v.integer(t, "max_requests", "supervisor.max_requests", s.max_requests, 0,
              std::numeric_limits<std::int64_t>::max());
    v.integer(t, "max_requests_jitter", "supervisor.max_requests_jitter", s.max_requests_jitter, 0,
              std::numeric_limits<std::int64_t>::max());
    v.size(t, "max_memory", "supervisor.max_memory", s.max_memory);
}

}  // namespace

const char* to_string(balance_mode b) noexcept {
    switch (b) {
        case balance_mode::shared: return "shared";
        case balance_mode::reuseport: return "reuseport";
    }
    return "?";
}

const char* balance_name(const config& cfg) noexcept {
    return cfg.balance == balance_mode::reuseport && cfg.steer_by_cpu ? "cpu" : to_string(cfg.balance);
}

tl::expected<listen_address, std::string> parse_listen_address(std::string_view text) {
    listen_address out;
    out.text = std::string{text};
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
        return tl::unexpected(std::string{"expected \"host:port\", e.g. \"0.0.0.0:9000\" or \"[::]:9000\""});
    }
    std::string host{text.substr(0, colon)};
    const std::string_view port_text = text.substr(colon + 1);
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (ec != std::errc{} || end != port_text.data() + port_text.size() || port < 1 || port > 65535) {
        return tl::unexpected("port must be a number from 1 to 65535, got \"" + std::string{port_text} + "\"");
    }
    if (host.empty() || host == "*") {
        host = "0.0.0.0";
    } else if (host == "localhost") {
        host = "127.0.0.1";
    }
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        sockaddr_in6 a6{};
        a6.sin6_family = AF_INET6;
        a6.sin6_port = htons(static_cast<std::uint16_t>(port));
        if (inet_pton(AF_INET6, host.substr(1, host.size() - 2).c_str(), &a6.sin6_addr) != 1) {
            return tl::unexpected("\"" + host + "\" is not an IPv6 address");
        }
        std::memcpy(&out.addr, &a6, sizeof a6);
        out.addr_len = sizeof a6;
        return out;
    }
    sockaddr_in a4{};
    a4.sin_family = AF_INET;
    a4.sin_port = htons(static_cast<std::uint16_t>(port));
    if (inet_pton(AF_INET, host.c_str(), &a4.sin_addr) != 1) {
        return tl::unexpected("\"" + host + "\" is not an IPv4 address (write IPv6 as \"[::1]:9000\")");
    }
    std::memcpy(&out.addr, &a4, sizeof a4);
    out.addr_len = sizeof a4;
    return out;
}

config_result parse_config(std::string_view text, const std::string& source_name) {
    validator v{source_name};
    toml::table root;
    try {
        root = toml::parse(text, source_name);
    } catch (const toml::parse_error& e) {
        v.error(e.source(), std::string{e.description()});
        return tl::unexpected(v.take());
    }

    config cfg;
    cfg.path = source_name;
    cfg.listen = *parse_listen_address("0.0.0.0:9000");
    v.known_keys(root, "", {"server", "limits", "supervisor", "route", "mime", "log", "metrics"});
    if (const toml::table* t = v.table(root, "server")) {
        read_server(v, *t, cfg);
    }
    if (const toml::table* t = v.table(root, "limits")) {
        read_limits(v, *t, cfg);
    }
    if (const toml::table* t = v.table(root, "supervisor")) {
        read_supervisor(v, *t, cfg);
    }
    if (const toml::table* t = v.table(root, "log")) {
        read_log(v, *t, cfg);
    }
    if (const toml::table* t = v.table(root, "metrics")) {
        read_metrics(v, *t, cfg);
    }
    const toml::node* routes = root.get("route");
    if (routes != nullptr) {
        read_routes(v, *routes, cfg);
    }
    const toml::table* mime = v.table(root, "mime");
    if (mime != nullptr) {
        read_mime(v, *mime, cfg);
    }
    if (!v.ok()) {
        return tl::unexpected(v.take());
    }
    if (cfg.worker.routes.empty()) {
        // Valid, and what a server being set up may well run with, but every request
        // would get 404: most likely the routes were forgotten, or are in another file.
        const std::string msg = "no [[route]]: every request will be answered 404 (add one with a path such as \"/\")";
        if (routes != nullptr) {
            v.warning(routes->source(), msg);
        } else {
            v.warning(msg);
        }
    }
    if (mime != nullptr && !mime->empty() &&
        std::none_of(cfg.worker.routes.begin(), cfg.worker.routes.end(), [](const auto& r) { return r.files; })) {
        v.warning(mime->source(), "[mime] has no effect: no [[route]] serves files (one with prefix and root)");
    }
    cfg.warnings = v.take_warnings();
    if (cfg.workers_auto) {
        cfg.workers = usable_cpus();
    }
    const auto port = std::to_string(ntohs(reinterpret_cast<const sockaddr_in*>(&cfg.listen.addr)->sin_port));
    if (cfg.pid_file.empty()) {
        cfg.pid_file = default_runtime_path(port, "pid");
    }
    if (cfg.control_socket.empty()) {
        cfg.control_socket = default_runtime_path(port, "sock");
    }
    return cfg;
}

config_result load_config(const std::string& path) {
    // A configuration is small; more than this is not one.
    constexpr std::size_t max_config_bytes = 16 << 20;
    auto text = read_small_file(path, max_config_bytes);
    if (!text) {
        const char* what = std::string_view{text.error().call} == "open" ? "cannot open" : "cannot read";
        return tl::unexpected(config_errors{path + ": " + what + ": " + std::strerror(text.error().code)});
    }
    return parse_config(*text, path);
}

}  // namespace pfd::server
