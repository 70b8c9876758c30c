// server/config_ops.cpp: [server] user, group, rlimit_nofile, cpu_affinity, shutdown_delay,
// [log] and [metrics], each bad value an error at its line and column.
#include <catch2/catch.hpp>

#include <grp.h>
#include <pwd.h>

#include <algorithm>
#include <string>
#include <string_view>

#include "server/config.hpp"

using namespace pfd::server;

namespace {

const char* const file = "ops.toml";
// Without a route a configuration is valid with a warning; these tests look at their own.
const std::string route = "\n[[route]]\npath = \"/\"\nbody = \"x\"\n";

config_result parse(std::string_view text) { return parse_config(text, file); }

std::string single_error(std::string_view text) {
    auto r = parse(text);
    REQUIRE_FALSE(r.has_value());
    REQUIRE(r.error().size() == 1);
    return r.error()[0];
}

std::string at(int line, int col) {
    return std::string{file} + ":" + std::to_string(line) + ":" + std::to_string(col) + ": ";
}

config parsed(std::string_view text) {
    auto r = parse(text);
    if (!r) {
        for (const auto& e : r.error()) {
            UNSCOPED_INFO(e);
        }
    }
    REQUIRE(r.has_value());
    return std::move(*r);
}

}  // namespace

TEST_CASE("without user, workers keep the master's identity and the defaults hold", "[config][ops]") {
    const config c = parsed("[server]\nworkers = 1\n");
    CHECK_FALSE(c.drop_privileges);
    CHECK(c.user.empty());
    CHECK(c.group.empty());
    CHECK(c.rlimit_nofile == 0);
    CHECK_FALSE(c.cpu_affinity);
    CHECK(c.shutdown_delay == std::chrono::milliseconds{0});
    CHECK(c.log.error.empty());
    CHECK(c.log.level == pfd::log_level::info);
    CHECK(c.worker.access_log.empty());
    CHECK_FALSE(c.metrics.enabled);
}

TEST_CASE("user by name resolves to its uid and primary gid", "[config][ops]") {
    const passwd* nobody = ::getpwnam("nobody");
    if (nobody == nullptr) {
        WARN("skipped: no user nobody on this system");
        return;
    }
    const uid_t uid = nobody->pw_uid;
    const gid_t gid = nobody->pw_gid;
    const config c = parsed("[server]\nuser = \"nobody\"\n" + route);
    CHECK(c.drop_privileges);
    CHECK(c.user == "nobody");
    CHECK(c.worker_uid == uid);
    CHECK(c.worker_gid == gid);
    CHECK(c.warnings.empty());
}

TEST_CASE("user and group by number are taken as written", "[config][ops]") {
    const config c = parsed("[server]\nuser = \"4321\"\ngroup = \"8765\"\n");
    CHECK(c.drop_privileges);
    CHECK(c.worker_uid == 4321);
    CHECK(c.worker_gid == 8765);
}

TEST_CASE("a numeric user not in the password database runs with its uid as gid", "[config][ops]") {
    // 4321 is nobody's on a stock system; if it is someone's, its gid is the answer.
    const passwd* pw = ::getpwuid(4321);
    const gid_t expected = pw != nullptr ? pw->pw_gid : 4321;
    const config c = parsed("[server]\nuser = \"4321\"\n");
    CHECK(c.worker_gid == expected);
}

TEST_CASE("group by name overrides the user's primary group", "[config][ops]") {
    const group* root_group = ::getgrgid(0);
    if (root_group == nullptr) {
        WARN("skipped: no group 0 on this system");
        return;
    }
    const std::string name = root_group->gr_name;
    const config c = parsed("[server]\nuser = \"4321\"\ngroup = \"" + name + "\"\n");
    CHECK(c.worker_gid == 0);
    CHECK(c.group == name);
}

TEST_CASE("user root is valid, with a warning that workers stay root", "[config][ops][warnings]") {
    const config c = parsed("[server]\nuser = \"0\"\n" + route);
    CHECK(c.drop_privileges);
    CHECK(c.worker_uid == 0);
    REQUIRE(c.warnings.size() == 1);
    CHECK(c.warnings[0] == at(2, 8) + "warning: server.user \"0\" is uid 0: the workers keep root's privileges");
}

TEST_CASE("a user or group that does not exist is an error at the value", "[config][ops][errors]") {
    CHECK(single_error("[server]\nuser = \"no-such-user-pfd\"\n") ==
          at(2, 8) + "server.user \"no-such-user-pfd\": no such user");
    CHECK(single_error("[server]\nuser = \"4321\"\ngroup = \"no-such-group-pfd\"\n") ==
          at(3, 9) + "server.group \"no-such-group-pfd\": no such group");
}

TEST_CASE("id 4294967295 is refused: to set*id it means no change", "[config][ops][errors]") {
    CHECK(single_error("[server]\nuser = \"4294967295\"\n") ==
          at(2, 8) + "server.user 4294967295 is not a user id (it means \"no change\" to the kernel)");
    CHECK(single_error("[server]\nuser = \"4321\"\ngroup = \"4294967295\"\n") ==
          at(3, 9) + "server.group 4294967295 is not a group id (it means \"no change\" to the kernel)");
    // Past the range of an id at all: a name, and no user has it.
    CHECK(single_error("[server]\nuser = \"4294967296\"\n") == at(2, 8) + "server.user \"4294967296\": no such user");
}

TEST_CASE("malformed user and group values are errors at the value", "[config][ops][errors]") {
    CHECK(single_error("[server]\nuser = \"\"\n") ==
          at(2, 8) + "server.user must be a user or group name or number, got \"\"");
    CHECK(single_error("[server]\nuser = \"a:b\"\n") ==
          at(2, 8) + "server.user must be a user or group name or number, got \"a:b\"");
    CHECK(single_error("[server]\nuser = 65534\n") == at(2, 8) + "server.user must be a string, got 65534");
    CHECK(single_error("[server]\nuser = \"4321\"\ngroup = true\n") ==
          at(3, 9) + "server.group must be a string, got true");
}

TEST_CASE("a group without a user is an error at the group", "[config][ops][errors]") {
    CHECK(single_error("[server]\ngroup = \"0\"\n") ==
          at(2, 9) + "server.group needs server.user: the workers drop to a user and its group (or this one), "
                     "never to a group alone");
}

TEST_CASE("a missing user is reported together with the file's other problems", "[config][ops][errors]") {
    auto r = parse("[nonsense]\n[server]\nuser = \"no-such-user-pfd\"\nbacklog = \"x\"\n");
    REQUIRE_FALSE(r.has_value());
    const auto& e = r.error();
    REQUIRE(e.size() == 3);
    CHECK(std::count_if(e.begin(), e.end(), [](const std::string& s) {
              return s == at(3, 8) + "server.user \"no-such-user-pfd\": no such user";
          }) == 1);
}

TEST_CASE("rlimit_nofile is an integer from 64 to 2^30", "[config][ops]") {
    CHECK(parsed("[server]\nrlimit_nofile = 65536\n").rlimit_nofile == 65536);
    CHECK(parsed("[server]\nrlimit_nofile = 64\n").rlimit_nofile == 64);
    CHECK(parsed("[server]\nrlimit_nofile = 1073741824\n").rlimit_nofile == 1073741824);
    for (const char* bad : {"63", "0", "-1", "1073741825", "\"many\"", "1.5"}) {
        INFO(bad);
        const std::string e = single_error(std::string{"[server]\nrlimit_nofile = "} + bad + "\n");
        CHECK(e == at(2, 17) + "server.rlimit_nofile must be an integer from 64 to 1073741824, got " +
                       (std::string_view{bad} == "\"many\"" ? std::string{"\"many\""} : std::string{bad}));
    }
}

TEST_CASE("cpu_affinity is \"auto\" or \"off\"", "[config][ops]") {
    CHECK(parsed("[server]\ncpu_affinity = \"auto\"\n").cpu_affinity);
    CHECK_FALSE(parsed("[server]\ncpu_affinity = \"off\"\n").cpu_affinity);
    CHECK(single_error("[server]\ncpu_affinity = true\n") ==
          at(2, 16) + "server.cpu_affinity must be \"auto\" (worker slot i on the i-th allowed CPU) or \"off\", got true");
    CHECK(single_error("[server]\ncpu_affinity = \"0-3\"\n") ==
          at(2, 16) + "server.cpu_affinity must be \"auto\" (worker slot i on the i-th allowed CPU) or \"off\", got \"0-3\"");
}

TEST_CASE("shutdown_delay is a duration, 0 allowed", "[config][ops]") {
    CHECK(parsed("[server]\nshutdown_delay = \"5s\"\n").shutdown_delay == std::chrono::milliseconds{5000});
    CHECK(parsed("[server]\nshutdown_delay = \"250ms\"\n").shutdown_delay == std::chrono::milliseconds{250});
    CHECK(parsed("[server]\nshutdown_delay = \"0s\"\n").shutdown_delay == std::chrono::milliseconds{0});
    const std::string e = single_error("[server]\nshutdown_delay = \"soon\"\n");
    CHECK(e.rfind(at(2, 18) + "server.shutdown_delay: ", 0) == 0);
    CHECK(single_error("[server]\nshutdown_delay = 5\n") == at(2, 18) + "server.shutdown_delay must be a string, got 5");
}

TEST_CASE("[log] destinations: off, stderr, or a path made absolute beside the file", "[config][ops][log]") {
    auto c = parse_config("[log]\naccess = \"logs/access.log\"\nerror = \"/var/log/pfd.err\"\n", "/etc/pfd/ops.toml");
    REQUIRE(c.has_value());
    CHECK(c->worker.access_log == "/etc/pfd/logs/access.log");
    CHECK(c->log.error == "/var/log/pfd.err");
    CHECK(parsed("[log]\naccess = \"stderr\"\n").worker.access_log == "stderr");
    CHECK(parsed("[log]\naccess = \"off\"\n").worker.access_log.empty());
    CHECK(parsed("[log]\nerror = \"stderr\"\n").log.error.empty());
}

TEST_CASE("bad [log] values are errors at the value", "[config][ops][log][errors]") {
    CHECK(single_error("[log]\naccess = \"\"\n") ==
          at(2, 10) + "log.access must be \"off\", \"stderr\" or a file's path, got \"\"");
    CHECK(single_error("[log]\nerror = \"\"\n") == at(2, 9) + "log.error must be \"stderr\" or a file's path, got \"\"");
    CHECK(single_error("[log]\nerror = \"off\"\n") ==
          at(2, 9) + "log.error cannot be \"off\" (errors are always logged): \"stderr\" or a file's path");
    CHECK(single_error("[log]\naccess = 1\n") == at(2, 10) + "log.access must be a string, got 1");
    CHECK(single_error("[log]\naccess_format = \"clf\"\n") ==
          at(2, 17) + "log.access_format must be \"combined\" or \"json\", got \"clf\"");
    CHECK(single_error("[log]\nlevel = \"verbose\"\n") ==
          at(2, 9) + "log.level must be \"debug\", \"info\", \"warn\" or \"error\", got \"verbose\"");
    CHECK(single_error("[log]\nlevels = \"info\"\n") ==
          at(2, 1) + "unknown key 'levels' in [log]; expected one of: access access_format error level");
}

TEST_CASE("[log] access_format and level are read", "[config][ops][log]") {
    CHECK(parsed("[log]\naccess_format = \"json\"\n").worker.access_log_json);
    CHECK_FALSE(parsed("[log]\naccess_format = \"combined\"\n").worker.access_log_json);
    CHECK(parsed("[log]\nlevel = \"debug\"\n").log.level == pfd::log_level::debug);
    CHECK(parsed("[log]\nlevel = \"warn\"\n").log.level == pfd::log_level::warn);
    CHECK(parsed("[log]\nlevel = \"error\"\n").log.level == pfd::log_level::error);
}

TEST_CASE("[metrics] listen is an address, else an error at the value", "[config][ops][metrics]") {
    const config c = parsed("[metrics]\nlisten = \"127.0.0.1:9100\"\n");
    CHECK(c.metrics.enabled);
    CHECK(c.metrics.listen.text == "127.0.0.1:9100");
    const std::string e = single_error("[metrics]\nlisten = \"127.0.0.1\"\n");
    CHECK(e.rfind(at(2, 10) + "metrics.listen: ", 0) == 0);
    CHECK(single_error("[metrics]\nport = 9100\n") == at(2, 1) + "unknown key 'port' in [metrics]; expected one of: listen");
}
