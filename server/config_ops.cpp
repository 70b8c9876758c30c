// The operational parts of the configuration: [log], [metrics], and the [server] keys
// about how the processes run (user, group, rlimit_nofile, cpu_affinity, shutdown_delay).
#include <grp.h>
#include <pwd.h>

#include <cerrno>
#include <charconv>
#include <cstring>
#include <limits>
#include <optional>
#include <tuple>
#include <vector>

#include "server/config_routes.hpp"

namespace pfd::server::config_parts {

namespace {

// A log destination: "stderr", or a file's path (made absolute beside the config file).
// `off_allowed`: "off" is a value too (the access log), stored as "".
void read_destination(validator& v, const toml::table& t, std::string_view key, std::string_view name,
                      bool off_allowed, std::string& out) {
    std::string written;
    const toml::node* n = v.string(t, key, name, written);
    if (n == nullptr) {
        return;
    }
    if (written == "off") {
        if (off_allowed) {
            out.clear();
        } else {
            // Not a file named "off" beside the configuration: errors always go somewhere.
            v.error(n->source(), std::string{name} + " cannot be \"off\" (errors are always logged): \"stderr\" "
                                                     "or a file's path");
        }
        return;
    }
    if (written == "stderr") {
        out = off_allowed ? written : std::string{};
        return;
    }
    if (written.empty() || written.find('\0') != std::string::npos) {
        v.error(n->source(), std::string{name} + (off_allowed ? " must be \"off\", \"stderr\" or a file's path, got "
                                                              : " must be \"stderr\" or a file's path, got ") +
                                 describe(*n));
        return;
    }
    auto resolved = beside_config(v.file(), written);
    if (!resolved) {
        v.error(n->source(), std::string{name} + " \"" + written + "\" is relative, and " + resolved.error());
        return;
    }
    out = std::move(*resolved);
}

// A whole decimal number, for a user or group given by id. Never (uid_t)-1: set*id(-1)
// means "leave it as it is", so that "id" would keep the workers root.
std::optional<unsigned> as_id(const std::string& s) {
    unsigned v = 0;
    auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (s.empty() || ec != std::errc{} || end != s.data() + s.size()) {
        return std::nullopt;
    }
    return v;
}

constexpr unsigned no_id = static_cast<unsigned>(-1);

// server.user (and group): resolved now, so that -t and a reload catch a name that
// does not exist, where it is written.
void resolve_user(validator& v, const toml::table& t, config& cfg) {
    if (cfg.user.empty()) {
        return;
    }
    std::vector<char> buf(16384);
    passwd pw{};
    passwd* found = nullptr;
    int rc = 0;
    if (const auto id = as_id(cfg.user)) {
        if (*id == no_id) {
            v.error(t.get("user")->source(), "server.user " + std::to_string(*id) +
                                                 " is not a user id (it means \"no change\" to the kernel)");
            return;
        }
        rc = ::getpwuid_r(*id, &pw, buf.data(), buf.size(), &found);
        cfg.worker_uid = *id;
        cfg.worker_gid = found != nullptr ? pw.pw_gid : *id;
    } else {
        rc = ::getpwnam_r(cfg.user.c_str(), &pw, buf.data(), buf.size(), &found);
        if (found == nullptr) {
            v.error(t.get("user")->source(), "server.user \"" + cfg.user + "\": " +
                                                 (rc != 0 ? std::string{"cannot look it up: "} + std::strerror(rc)
                                                          : std::string{"no such user"}));
            return;
        }
        cfg.worker_uid = pw.pw_uid;
        cfg.worker_gid = pw.pw_gid;
    }
    cfg.drop_privileges = true;
    if (cfg.worker_uid == 0) {
        v.warning(t.get("user")->source(), "server.user \"" + cfg.user + "\" is uid 0: the workers keep root's "
                                           "privileges");
    }
    if (cfg.group.empty()) {
        return;
    }
    group gr{};
    group* gfound = nullptr;
    if (const auto id = as_id(cfg.group)) {
        if (*id == no_id) {
            cfg.drop_privileges = false;
            v.error(t.get("group")->source(), "server.group " + std::to_string(*id) +
                                                  " is not a group id (it means \"no change\" to the kernel)");
            return;
        }
        cfg.worker_gid = *id;
        return;
    }
    rc = ::getgrnam_r(cfg.group.c_str(), &gr, buf.data(), buf.size(), &gfound);
    if (gfound == nullptr) {
        cfg.drop_privileges = false;
        v.error(t.get("group")->source(), "server.group \"" + cfg.group + "\": " +
                                              (rc != 0 ? std::string{"cannot look it up: "} + std::strerror(rc)
                                                       : std::string{"no such group"}));
        return;
    }
    cfg.worker_gid = gr.gr_gid;
}

}  // namespace

void read_log(validator& v, const toml::table& t, config& cfg) {
    v.known_keys(t, "log", {"access", "access_format", "error", "level"});
    read_destination(v, t, "access", "log.access", true, cfg.worker.access_log);
    read_destination(v, t, "error", "log.error", false, cfg.log.error);
    std::string format;
    if (const toml::node* n = v.string(t, "access_format", "log.access_format", format)) {
        if (format == "combined" || format == "json") {
            cfg.worker.access_log_json = format == "json";
        } else {
            v.error(n->source(), "log.access_format must be \"combined\" or \"json\", got " + describe(*n));
        }
    }
    std::string level;
    if (const toml::node* n = v.string(t, "level", "log.level", level)) {
        if (level == "debug") {
            cfg.log.level = log_level::debug;
        } else if (level == "info") {
            cfg.log.level = log_level::info;
        } else if (level == "warn") {
            cfg.log.level = log_level::warn;
        } else if (level == "error") {
            cfg.log.level = log_level::error;
        } else {
            v.error(n->source(), "log.level must be \"debug\", \"info\", \"warn\" or \"error\", got " + describe(*n));
        }
    }
}

void read_metrics(validator& v, const toml::table& t, config& cfg) {
    v.known_keys(t, "metrics", {"listen"});
    std::string listen;
    if (const toml::node* n = v.string(t, "listen", "metrics.listen", listen)) {
        auto addr = parse_listen_address(listen);
        if (addr) {
            cfg.metrics.enabled = true;
            cfg.metrics.listen = std::move(*addr);
        } else {
            v.error(n->source(), "metrics.listen: " + addr.error());
        }
    }
}

void read_server_operations(validator& v, const toml::table& t, config& cfg) {
    bool names_ok = true;   // resolved only when written well; other keys' errors do not matter
    for (auto [key, name, out] : {std::tuple{"user", "server.user", &cfg.user},
                                  std::tuple{"group", "server.group", &cfg.group}}) {
        const toml::node* n = t.get(key);
        if (n != nullptr && !n->is_string()) {
            names_ok = false;
        }
        if (n = v.string(t, key, name, *out); n != nullptr) {
            if (out->empty() || out->find_first_of(std::string_view{":\n\0", 3}) != std::string::npos) {
                names_ok = false;
                v.error(n->source(), std::string{name} + " must be a user or group name or number, got " +
                                         describe(*n));
            }
        }
    }
    if (!cfg.group.empty() && cfg.user.empty()) {
        v.error(t.get("group")->source(), "server.group needs server.user: the workers drop to a user and its group "
                                          "(or this one), never to a group alone");
    } else if (names_ok) {
        resolve_user(v, t, cfg);
    }
    v.integer(t, "rlimit_nofile", "server.rlimit_nofile", cfg.rlimit_nofile, 64, std::int64_t{1} << 30);
    if (const toml::node* n = t.get("cpu_affinity")) {
        if (n->is_string() && (n->as_string()->get() == "auto" || n->as_string()->get() == "off")) {
            cfg.cpu_affinity = n->as_string()->get() == "auto";
        } else {
            v.error(n->source(), "server.cpu_affinity must be \"auto\" (worker slot i on the i-th allowed CPU) or "
                                 "\"off\", got " + describe(*n));
        }
    }
    v.duration(t, "shutdown_delay", "server.shutdown_delay", cfg.shutdown_delay, std::chrono::milliseconds{0});
}

}  // namespace pfd::server::config_parts
