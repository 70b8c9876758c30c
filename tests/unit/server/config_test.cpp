#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "server/config.hpp"
#include "server/cpu_count.hpp"
#include "unit/temp_files.hpp"

using namespace pfd::server;

namespace {

// conf/server.toml as shipped, without its file route (whose root, conf/www, only exists
// beside the real file: tests/integration/test_cli.py checks that one with -t).
constexpr std::string_view default_toml = R"(# preforkd configuration. Check it with: preforkd -t -c conf/server.toml

[server]
listen = "0.0.0.0:9000"   # "host:port"; IPv6 as "[::]:9000"
workers = "auto"          # "auto" = CPUs this process may use (affinity, cgroup cpu.max), or a number
balance = "shared"        # "shared": one listening socket for all workers
                          # "reuseport": one SO_REUSEPORT socket per worker
backlog = 4096            # listen queue length (the kernel caps it at net.core.somaxconn)

[limits]
max_connections = 10000   # open connections per worker
max_request_line = 8192   # bytes of request target; longer gets 414
max_header_bytes = 32768  # bytes of header fields; more gets 431

[[route]]
path = "/"
body = "hello word"
content_type = "text/plain"
)";

const char* const file = "test.toml";

config_result parse(std::string_view text) { return parse_config(text, file); }

// The single error of a config that must fail with exactly one.
std::string single_error(std::string_view text) {
    auto r = parse(text);
    REQUIRE_FALSE(r.has_value());
    REQUIRE(r.error().size() == 1);
    return r.error()[0];
}

std::string prefix(int line, int col) {
    return std::string{file} + ":" + std::to_string(line) + ":" + std::to_string(col) + ": ";
}
std::string line_prefix(int line) { return std::string{file} + ":" + std::to_string(line) + ":"; }

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }
bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

std::uint16_t port_of(const listen_address& a) {
    if (a.addr.ss_family == AF_INET) {
        sockaddr_in in{};
        std::memcpy(&in, &a.addr, sizeof in);
        return ntohs(in.sin_port);
    }
    sockaddr_in6 in6{};
    std::memcpy(&in6, &a.addr, sizeof in6);
    return ntohs(in6.sin6_port);
}

std::string ipv4_of(const listen_address& a) {
    sockaddr_in in{};
    std::memcpy(&in, &a.addr, sizeof in);
    char buf[INET_ADDRSTRLEN] = {};
    inet_ntop(AF_INET, &in.sin_addr, buf, sizeof buf);
    return buf;
}

std::string ipv6_of(const listen_address& a) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, &a.addr, sizeof in6);
    char buf[INET6_ADDRSTRLEN] = {};
    inet_ntop(AF_INET6, &in6.sin6_addr, buf, sizeof buf);
    return buf;
}

}  // namespace

TEST_CASE("the shipped default configuration parses to its documented values", "[config]") {
    auto r = parse(default_toml);
    if (!r) {
        for (const auto& e : r.error()) {
            UNSCOPED_INFO(e);
        }
    }
    REQUIRE(r.has_value());
    const config& c = *r;
    CHECK(c.path == "test.toml");
    CHECK(c.listen.text == "0.0.0.0:9000");
    CHECK(c.listen.addr.ss_family == AF_INET);
    CHECK(c.listen.addr_len == sizeof(sockaddr_in));
    CHECK(ipv4_of(c.listen) == "0.0.0.0");
    CHECK(port_of(c.listen) == 9000);
    CHECK(c.balance == balance_mode::shared);
    CHECK(c.backlog == 4096);
    CHECK(c.workers_auto);
    CHECK(c.workers >= 1);
    CHECK(c.worker.max_connections == 10000);
    CHECK(c.worker.parser_limits.max_request_line == 8192);
    CHECK(c.worker.parser_limits.max_header_bytes == 32768);
    REQUIRE(c.worker.routes.size() == 1);
    CHECK(c.worker.routes[0].path == "/");
    CHECK(c.worker.routes[0].body == "hello word");
    CHECK(c.worker.routes[0].content_type == "text/plain");
}

TEST_CASE("workers = \"auto\" resolves to the usable CPU count", "[config]") {
    auto r = parse("[server]\nworkers = \"auto\"\n");
    REQUIRE(r.has_value());
    CHECK(r->workers_auto);
    CHECK(r->workers >= 1);
    CHECK(r->workers == usable_cpus());
}

TEST_CASE("an explicit worker count is used as given", "[config]") {
    auto r = parse("[server]\nworkers = 3\n");
    REQUIRE(r.has_value());
    CHECK_FALSE(r->workers_auto);
    CHECK(r->workers == 3);

    auto max = parse("[server]\nworkers = 1024\n");
    REQUIRE(max.has_value());
    CHECK(max->workers == 1024);
}

TEST_CASE("balance = \"reuseport\" selects SO_REUSEPORT balancing", "[config]") {
    auto r = parse("[server]\nbalance = \"reuseport\"\n");
    REQUIRE(r.has_value());
    CHECK(r->balance == balance_mode::reuseport);
    CHECK(std::string_view{to_string(r->balance)} == "reuseport");
    CHECK(std::string_view{to_string(balance_mode::shared)} == "shared");
    CHECK_FALSE(r->steer_by_cpu);
    CHECK(std::string_view{balance_name(*r)} == "reuseport");
}

TEST_CASE("balance = \"cpu\" is reuseport steered by the CPU a connection came in on", "[config]") {
    auto r = parse("[server]\nbalance = \"cpu\"\n");
    REQUIRE(r.has_value());
    CHECK(r->balance == balance_mode::reuseport);
    CHECK(r->steer_by_cpu);
    CHECK(std::string_view{balance_name(*r)} == "cpu");
}

TEST_CASE("an empty file gives the built-in defaults", "[config]") {
    auto r = parse("");
    REQUIRE(r.has_value());
    CHECK(port_of(r->listen) == 9000);
    CHECK(r->balance == balance_mode::shared);
    CHECK(r->backlog == 4096);
    CHECK(r->workers_auto);
    CHECK(r->worker.routes.empty());
    // Valid, but every request would be a 404: said once, about the file as a whole.
    REQUIRE(r->warnings.size() == 1);
    CHECK(r->warnings[0] == "test.toml: warning: no [[route]]: every request will be answered 404 "
                           "(add one with a path such as \"/\")");
}

TEST_CASE("listen, limits and several routes are read", "[config]") {
    auto r = parse(R"([server]
listen = "[::1]:8080"
backlog = 128

[limits]
max_connections = 5
max_request_line = 100
max_header_bytes = 1000

[[route]]
path = "/a"
body = "A"
content_type = "text/html"

[[route]]
path = "/b"
)");
    REQUIRE(r.has_value());
    CHECK(r->listen.addr.ss_family == AF_INET6);
    CHECK(ipv6_of(r->listen) == "::1");
    CHECK(port_of(r->listen) == 8080);
    CHECK(r->backlog == 128);
    CHECK(r->worker.max_connections == 5);
    CHECK(r->worker.parser_limits.max_request_line == 100);
    CHECK(r->worker.parser_limits.max_header_bytes == 1000);
    REQUIRE(r->worker.routes.size() == 2);
    CHECK(r->worker.routes[0].path == "/a");
    CHECK(r->worker.routes[0].body == "A");
    CHECK(r->worker.routes[0].content_type == "text/html");
    CHECK(r->worker.routes[1].path == "/b");
    CHECK(r->worker.routes[1].body.empty());
    CHECK(r->worker.routes[1].content_type == "text/plain");
}

TEST_CASE("bad [server] values give one error at the value's line and column", "[config][errors]") {
    struct bad {
        std::string line;  // the second line, after "[server]"
        std::string_view mentions;
    };
    // Every value starts at column 11: "workers = " / "balance = " / "backlog = " are 10 chars,
    // "listen = " is 9 (column 10).
    const bad cases[] = {
        {"workers = \"many\"", "server.workers"},  {"workers = 0", "server.workers"},
        {"workers = 1025", "server.workers"},      {"workers = 1.5", "server.workers"},
        {"workers = -3", "server.workers"},        {"workers = true", "server.workers"},
        {"balance = \"roundrobin\"", "server.balance"}, {"balance = 1", "server.balance"},
        {"backlog = -1", "server.backlog"},        {"backlog = 0", "server.backlog"},
        {"backlog = 65536", "server.backlog"},     {"backlog = \"x\"", "server.backlog"},
    };
    for (const auto& b : cases) {
        CAPTURE(b.line);
        const std::string e = single_error("[server]\n" + b.line + "\n");
        CHECK(starts_with(e, prefix(2, 11)));
        CHECK(contains(e, b.mentions));
    }
}

TEST_CASE("a bad listen address is an error at the value", "[config][errors]") {
    SECTION("no port") {
        const std::string e = single_error("[server]\nlisten = \"nohost\"\n");
        CHECK(starts_with(e, prefix(2, 10)));
        CHECK(contains(e, "server.listen"));
    }
    SECTION("port out of range") {
        const std::string e = single_error("[server]\nlisten = \"1.2.3.4:99999\"\n");
        CHECK(starts_with(e, prefix(2, 10)));
        CHECK(contains(e, "99999"));
    }
    SECTION("host is not an address") {
        const std::string e = single_error("[server]\nlisten = \"example.invalid:80\"\n");
        CHECK(starts_with(e, prefix(2, 10)));
        CHECK(contains(e, "example.invalid"));
    }
    SECTION("not a string") {
        const std::string e = single_error("[server]\nlisten = 9000\n");
        CHECK(starts_with(e, prefix(2, 10)));
        CHECK(contains(e, "must be a string"));
    }
}

TEST_CASE("offload_nudge: 1 ms unless set; \"0s\" turns it off; a bad value is an error at the value",
          "[config]") {
    REQUIRE(parse("").has_value());
    CHECK(parse("")->worker.offload_nudge == std::chrono::milliseconds{1});
    auto r = parse("[server]\noffload_nudge = \"3ms\"\n");
    REQUIRE(r.has_value());
    CHECK(r->worker.offload_nudge == std::chrono::milliseconds{3});
    r = parse("[server]\noffload_nudge = \"0s\"\n");
    REQUIRE(r.has_value());
    CHECK(r->worker.offload_nudge == std::chrono::milliseconds{0});
    for (const std::string bad : {"\"500us\"", "\"fast\"", "1"}) {
        CAPTURE(bad);
        const std::string e = single_error("[server]\noffload_nudge = " + bad + "\n");
        CHECK(starts_with(e, prefix(2, 17)));
        CHECK(contains(e, "server.offload_nudge"));
    }
}

TEST_CASE("an unknown key in [server] is reported at the key", "[config][errors]") {
    const std::string e = single_error("[server]\nworkers = 2\nthreads = 4\n");
    CHECK(starts_with(e, prefix(3, 1)));
    CHECK(contains(e, "unknown key 'threads' in [server]"));
}

TEST_CASE("an unknown key in [limits] is reported at the key", "[config][errors]") {
    const std::string e = single_error("[limits]\n  max_body = 4\n");
    CHECK(starts_with(e, prefix(2, 3)));
    CHECK(contains(e, "unknown key 'max_body' in [limits]"));
}

TEST_CASE("an unknown top-level table is reported on its line", "[config][errors]") {
    const std::string e = single_error("[server]\nworkers = 2\n\n[logging]\nlevel = \"debug\"\n");
    CHECK(starts_with(e, line_prefix(4)));
    CHECK(contains(e, "unknown key 'logging'"));
}

TEST_CASE("a section that is not a table is an error", "[config][errors]") {
    const std::string e = single_error("server = \"0.0.0.0:9000\"\n");
    CHECK(starts_with(e, prefix(1, 10)));
    CHECK(contains(e, "server must be a table"));
}

TEST_CASE("a [[route]] without path is an error on the route's line", "[config][errors]") {
    const std::string e = single_error(
        "[[route]]\npath = \"/\"\nbody = \"x\"\n\n[[route]]\nbody = \"no path\"\n");
    CHECK(starts_with(e, line_prefix(5)));
    CHECK(contains(e, "route.path is missing"));
}

TEST_CASE("a route path not starting with '/' is an error at the value", "[config][errors]") {
    const std::string e = single_error("[[route]]\npath = \"index.html\"\n");
    CHECK(starts_with(e, prefix(2, 8)));
    CHECK(contains(e, "must start with '/'"));
    CHECK(contains(e, "index.html"));

    const std::string empty = single_error("[[route]]\npath = \"\"\n");
    CHECK(starts_with(empty, prefix(2, 8)));
}

TEST_CASE("a configuration with routes has no warnings", "[config][warnings]") {
    auto r = parse(default_toml);
    REQUIRE(r.has_value());
    CHECK(r->warnings.empty());
}

TEST_CASE("a config with settings but no route is valid, with a warning", "[config][warnings]") {
    auto r = parse("[server]\nworkers = 2\n");
    REQUIRE(r.has_value());
    REQUIRE(r->warnings.size() == 1);
    CHECK(starts_with(r->warnings[0], "test.toml: warning: no [[route]]"));

    // An empty array of routes is no better: the warning points at it.
    auto empty = parse("route = []\n");
    REQUIRE(empty.has_value());
    REQUIRE(empty->warnings.size() == 1);
    CHECK(starts_with(empty->warnings[0], "test.toml:1:9: warning: no [[route]]"));
}

TEST_CASE("a route path no request can match is an error at the value", "[config][errors]") {
    const std::string space = single_error("[[route]]\npath = \"/a b\"\n");
    CHECK(starts_with(space, prefix(2, 8)));
    CHECK(contains(space, "route.path \"/a b\" can never match a request"));
    CHECK(contains(space, "\"/a%20b\""));

    const std::string query = single_error("[[route]]\npath = \"/search?q=1\"\n");
    CHECK(starts_with(query, prefix(2, 8)));
    CHECK(contains(query, "starts a query"));

    const std::string pct = single_error("[[route]]\npath = \"/100%\"\n");
    CHECK(contains(pct, "does not start a percent-encoding"));

    const std::string utf8 = single_error("[[route]]\npath = \"/caf\u00e9\"\n");
    CHECK(contains(utf8, "\"/caf%C3%A9\""));

    // Every route is checked, and each bad one reported.
    auto r = parse("[[route]]\npath = \"/a b\"\n[[route]]\npath = \"/ok\"\n[[route]]\npath = \"/c|d\"\n");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().size() == 2);
}

TEST_CASE("a percent-encoded route path is valid: it matches the request path as sent", "[config]") {
    auto r = parse("[[route]]\npath = \"/a%20b\"\n[[route]]\npath = \"/x:y@z;v=1\"\n");
    REQUIRE(r.has_value());
    CHECK(r->warnings.empty());
    REQUIRE(r->worker.routes.size() == 2);
    CHECK(r->worker.routes[0].path == "/a%20b");
}

TEST_CASE("a route path clients would normalise is valid, with a warning at the value", "[config][warnings]") {
    auto r = parse("[[route]]\npath = \"/\"\n[[route]]\npath = \"/a/../b\"\n[[route]]\npath = \"/%7euser\"\n");
    REQUIRE(r.has_value());
    REQUIRE(r->warnings.size() == 2);
    CHECK(starts_with(r->warnings[0], "test.toml:4:8: warning: route.path \"/a/../b\""));
    CHECK(starts_with(r->warnings[1], "test.toml:6:8: warning: route.path \"/%7euser\""));
}

TEST_CASE("relative pid_file and control_socket are taken from the config file's directory", "[config][paths]") {
    const std::string route = "[[route]]\npath = \"/\"\n";
    SECTION("an absolute config path") {
        auto r = parse_config("[server]\npid_file = \"run/p.pid\"\ncontrol_socket = \"./c.sock\"\n" + route,
                              "/etc/preforkd/site.toml");
        REQUIRE(r.has_value());
        CHECK(r->pid_file == "/etc/preforkd/run/p.pid");
        CHECK(r->control_socket == "/etc/preforkd/c.sock");
    }
    SECTION("\"..\" is kept: only the kernel knows where it leads past a symlink") {
        auto r = parse_config("[server]\npid_file = \"../p.pid\"\n" + route, "/etc/preforkd/./site.toml");
        REQUIRE(r.has_value());
        CHECK(r->pid_file == "/etc/preforkd/../p.pid");
    }
    SECTION("absolute paths are kept as written") {
        auto r = parse_config("[server]\npid_file = \"/var/run/x.pid\"\ncontrol_socket = \"/var/run/x.sock\"\n" +
                                  route, "/etc/preforkd/site.toml");
        REQUIRE(r.has_value());
        CHECK(r->pid_file == "/var/run/x.pid");
        CHECK(r->control_socket == "/var/run/x.sock");
    }
    SECTION("a relative config path is made absolute from the working directory") {
        char cwd[4096];
        REQUIRE(getcwd(cwd, sizeof cwd) != nullptr);
        const std::string base = std::string{cwd} == "/" ? "" : cwd;
        auto r = parse_config("[server]\npid_file = \"p.pid\"\ncontrol_socket = \"s/c.sock\"\n" + route,
                              "conf/site.toml");
        REQUIRE(r.has_value());
        CHECK(r->pid_file == base + "/conf/p.pid");
        CHECK(r->control_socket == base + "/conf/s/c.sock");
        auto bare = parse_config("[server]\npid_file = \"p.pid\"\n" + route, "site.toml");
        REQUIRE(bare.has_value());
        CHECK(bare->pid_file == base + "/p.pid");
    }
    SECTION("a control socket too long once resolved is an error at the value") {
        const std::string dir = "/" + std::string(90, 'd');
        auto r = parse_config("[server]\ncontrol_socket = \"" + std::string(20, 's') + "\"\n" + route,
                              dir + "/site.toml");
        REQUIRE_FALSE(r.has_value());
        REQUIRE(r.error().size() == 1);
        CHECK(starts_with(r.error()[0], dir + "/site.toml:2:18: "));
        CHECK(contains(r.error()[0], "too long for a Unix socket path"));
        CHECK(contains(r.error()[0], "beside the configuration file"));
    }
}

TEST_CASE("load_config resolves a relative pid_file beside the file it read", "[config][paths]") {
    char dir[] = "/tmp/preforkd-config-rel-XXXXXX";
    REQUIRE(mkdtemp(dir) != nullptr);
    const std::string name = std::string{dir} + "/site.toml";
    const std::string text = "[server]\npid_file = \"p.pid\"\ncontrol_socket = \"c.sock\"\n[[route]]\npath = \"/\"\n";
    const int fd = ::open(name.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    close(fd);
    auto r = load_config(name);
    unlink(name.c_str());
    rmdir(dir);
    REQUIRE(r.has_value());
    CHECK(r->pid_file == std::string{dir} + "/p.pid");
    CHECK(r->control_socket == std::string{dir} + "/c.sock");
}

TEST_CASE("a duplicate route path is an error at the second one", "[config][errors]") {
    const std::string e = single_error(
        "[[route]]\npath = \"/a\"\n\n[[route]]\npath = \"/b\"\n\n[[route]]\npath = \"/a\"\n");
    CHECK(starts_with(e, prefix(8, 8)));
    CHECK(contains(e, "already used"));
}

TEST_CASE("route fields of the wrong type are errors at the value", "[config][errors]") {
    SECTION("content_type") {
        const std::string e = single_error("[[route]]\npath = \"/\"\ncontent_type = 5\n");
        CHECK(starts_with(e, prefix(3, 16)));
        CHECK(contains(e, "route.content_type must be a string"));
    }
    SECTION("path") {
        const std::string e = single_error("[[route]]\npath = 5\n");
        CHECK(starts_with(e, prefix(2, 8)));
        CHECK(contains(e, "route.path must be a string"));
    }
    SECTION("body") {
        const std::string e = single_error("[[route]]\npath = \"/\"\nbody = [1, 2]\n");
        CHECK(starts_with(e, prefix(3, 8)));
        CHECK(contains(e, "route.body must be a string"));
    }
    SECTION("empty content_type") {
        const std::string e = single_error("[[route]]\npath = \"/\"\ncontent_type = \"\"\n");
        CHECK(starts_with(e, prefix(3, 16)));
    }
    SECTION("multi-line content_type") {
        const std::string e = single_error("[[route]]\npath = \"/\"\ncontent_type = \"text/plain\\r\\nX: y\"\n");
        CHECK(starts_with(e, prefix(3, 16)));
        CHECK(contains(e, "single-line"));
    }
    SECTION("unknown key in a route") {
        const std::string e = single_error("[[route]]\npath = \"/\"\nstatus = 201\n");
        CHECK(starts_with(e, prefix(3, 1)));
        CHECK(contains(e, "unknown key 'status' in [route]"));
    }
    SECTION("route is not an array of tables") {
        const std::string e = single_error("route = \"/\"\n");
        CHECK(starts_with(e, line_prefix(1)));
        CHECK(contains(e, "[[route]]"));
    }
}

TEST_CASE("limits out of range are errors at the value", "[config][errors]") {
    SECTION("max_connections = 0") {
        const std::string e = single_error("[limits]\nmax_connections = 0\n");
        CHECK(starts_with(e, prefix(2, 19)));
        CHECK(contains(e, "limits.max_connections"));
    }
    SECTION("max_request_line too small") {
        const std::string e = single_error("[limits]\nmax_request_line = 15\n");
        CHECK(starts_with(e, prefix(2, 20)));
        CHECK(contains(e, "limits.max_request_line"));
    }
    SECTION("max_header_bytes too large") {
        const std::string e = single_error("[limits]\nmax_header_bytes = 2000000\n");
        CHECK(starts_with(e, prefix(2, 20)));
        CHECK(contains(e, "limits.max_header_bytes"));
    }
}

TEST_CASE("a TOML syntax error is reported on its line", "[config][errors]") {
    SECTION("missing value") {
        const std::string e = single_error("[server]\nlisten = \"0.0.0.0:9000\"\nworkers = \n");
        CHECK(starts_with(e, line_prefix(3)));
    }
    SECTION("unterminated string") {
        const std::string e = single_error("[server]\n\nlisten = \"0.0.0.0:9000\nworkers = 2\n");
        CHECK(starts_with(e, line_prefix(3)));
    }
    SECTION("duplicate key") {
        const std::string e = single_error("[server]\nworkers = 1\nworkers = 2\n");
        CHECK(starts_with(e, line_prefix(3)));
    }
}

TEST_CASE("a file with several bad values reports every one of them", "[config][errors]") {
    auto r = parse(R"([server]
listen = "nohost"
workers = "many"
balance = "roundrobin"
backlog = -1
colour = "blue"

[limits]
max_connections = 0

[[route]]
path = "nope"

[[route]]
body = "x"
)");
    REQUIRE_FALSE(r.has_value());
    const auto& errs = r.error();
    REQUIRE(errs.size() == 8);
    // Every error carries the file, a line and a column.
    std::vector<int> lines;
    for (const auto& e : errs) {
        CAPTURE(e);
        REQUIRE(starts_with(e, "test.toml:"));
        lines.push_back(std::atoi(e.c_str() + std::strlen("test.toml:")));
    }
    std::sort(lines.begin(), lines.end());
    CHECK(lines == std::vector<int>{2, 3, 4, 5, 6, 9, 12, 14});
}

TEST_CASE("load_config reads a file and names it in messages", "[config]") {
    char name[] = "/tmp/preforkd-config-test-XXXXXX";
    const int fd = mkstemp(name);
    REQUIRE(fd >= 0);
    const std::string text = "[server]\nworkers = 2\nbalance = \"bogus\"\n";
    REQUIRE(write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
    close(fd);

    auto r = load_config(name);
    unlink(name);
    REQUIRE_FALSE(r.has_value());
    REQUIRE(r.error().size() == 1);
    CHECK(starts_with(r.error()[0], std::string{name} + ":3:11: "));
}

TEST_CASE("load_config of a good file returns its values", "[config]") {
    char name[] = "/tmp/preforkd-config-test-XXXXXX";
    const int fd = mkstemp(name);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, default_toml.data(), default_toml.size()) == static_cast<ssize_t>(default_toml.size()));
    close(fd);

    auto r = load_config(name);
    unlink(name);
    REQUIRE(r.has_value());
    CHECK(r->path == name);
    CHECK(port_of(r->listen) == 9000);
    REQUIRE(r->worker.routes.size() == 1);
    CHECK(r->worker.routes[0].body == "hello word");
}

TEST_CASE("load_config of a missing file gives one error naming the path", "[config][errors]") {
    const std::string path = "/nonexistent-preforkd-dir/missing.toml";
    auto r = load_config(path);
    REQUIRE_FALSE(r.has_value());
    REQUIRE(r.error().size() == 1);
    CHECK(contains(r.error()[0], path));
}

TEST_CASE("load_config of a directory is an error naming the path", "[config][errors]") {
    char dir[] = "/tmp/preforkd-config-dir-XXXXXX";
    REQUIRE(mkdtemp(dir) != nullptr);
    auto r = load_config(dir);
    rmdir(dir);
    // A directory is not a configuration file: it must not pass as an empty one.
    REQUIRE_FALSE(r.has_value());
    REQUIRE(r.error().size() == 1);
    CHECK(contains(r.error()[0], dir));
}

TEST_CASE("parse_listen_address accepts host:port, [v6]:port, *:port and :port", "[config][listen]") {
    auto v4 = parse_listen_address("127.0.0.1:9000");
    REQUIRE(v4.has_value());
    CHECK(v4->text == "127.0.0.1:9000");
    CHECK(v4->addr.ss_family == AF_INET);
    CHECK(v4->addr_len == sizeof(sockaddr_in));
    CHECK(ipv4_of(*v4) == "127.0.0.1");
    CHECK(port_of(*v4) == 9000);

    auto v6 = parse_listen_address("[::1]:8080");
    REQUIRE(v6.has_value());
    CHECK(v6->addr.ss_family == AF_INET6);
    CHECK(v6->addr_len == sizeof(sockaddr_in6));
    CHECK(ipv6_of(*v6) == "::1");
    CHECK(port_of(*v6) == 8080);

    auto any6 = parse_listen_address("[::]:1");
    REQUIRE(any6.has_value());
    CHECK(any6->addr.ss_family == AF_INET6);
    CHECK(port_of(*any6) == 1);

    for (std::string_view any : {"*:80", ":80"}) {
        CAPTURE(any);
        auto a = parse_listen_address(any);
        REQUIRE(a.has_value());
        CHECK(a->addr.ss_family == AF_INET);
        CHECK(ipv4_of(*a) == "0.0.0.0");
        CHECK(port_of(*a) == 80);
    }

    auto local = parse_listen_address("localhost:65535");
    REQUIRE(local.has_value());
    CHECK(ipv4_of(*local) == "127.0.0.1");
    CHECK(port_of(*local) == 65535);
}

TEST_CASE("parse_listen_address rejects malformed addresses and ports", "[config][listen]") {
    for (std::string_view bad : {"[::1:80", "host:0", "1.2.3.4", "1.2.3.4:", "1.2.3.4:65536", "1.2.3.4:8o",
                                 "1.2.3.4:-1", "::1:80", "[::1]", "[1.2.3.4]:80", "256.1.1.1:80", ""}) {
        CAPTURE(bad);
        auto a = parse_listen_address(bad);
        CHECK_FALSE(a.has_value());
        if (!a) {
            CHECK_FALSE(a.error().empty());
        }
    }
}

TEST_CASE("the [limits] body, request-count and timeout keys are read", "[config][limits]") {
    auto r = parse(
        "[limits]\n"
        "max_headers = 50\n"
        "max_body_bytes = 4096\n"
        "max_requests_per_connection = 0\n"
        "header_timeout = \"500ms\"\n"
        "body_timeout = \"45s\"\n"
        "keepalive_timeout = \"2m\"\n"
        "send_timeout = \"1h\"\n");
    if (!r) {
        for (const auto& e : r.error()) {
            UNSCOPED_INFO(e);
        }
    }
    REQUIRE(r.has_value());
    CHECK(r->worker.parser_limits.max_headers == 50);
    CHECK(r->worker.parser_limits.max_body_bytes == 4096);
    CHECK(r->worker.max_requests_per_connection == 0);
    CHECK(r->worker.timeouts.header == std::chrono::milliseconds{500});
    CHECK(r->worker.timeouts.body == std::chrono::milliseconds{45'000});
    CHECK(r->worker.timeouts.keepalive == std::chrono::milliseconds{120'000});
    CHECK(r->worker.timeouts.send == std::chrono::milliseconds{3'600'000});
}

TEST_CASE("max_body_bytes may be a size string", "[config][limits]") {
    auto r = parse("[limits]\nmax_body_bytes = \"10KiB\"\n");
    REQUIRE(r.has_value());
    CHECK(r->worker.parser_limits.max_body_bytes == 10 * 1024);

    auto m = parse("[limits]\nmax_body_bytes = \"2M\"\n");
    REQUIRE(m.has_value());
    CHECK(m->worker.parser_limits.max_body_bytes == 2 * 1024 * 1024);
}

TEST_CASE("max_requests_per_connection accepts 0 (unlimited) and a count", "[config][limits]") {
    auto r = parse("[limits]\nmax_requests_per_connection = 0\n");
    REQUIRE(r.has_value());
    CHECK(r->worker.max_requests_per_connection == 0);
    auto n = parse("[limits]\nmax_requests_per_connection = 100\n");
    REQUIRE(n.has_value());
    CHECK(n->worker.max_requests_per_connection == 100);
}

TEST_CASE("the new [limits] keys keep their defaults when absent", "[config][limits]") {
    auto r = parse("[limits]\nmax_connections = 5\n");
    REQUIRE(r.has_value());
    const pfd::worker::settings defaults;
    CHECK(r->worker.parser_limits.max_body_bytes == defaults.parser_limits.max_body_bytes);
    CHECK(r->worker.parser_limits.max_headers == defaults.parser_limits.max_headers);
    CHECK(r->worker.max_requests_per_connection == defaults.max_requests_per_connection);
    CHECK(r->worker.timeouts.header == defaults.timeouts.header);
    CHECK(r->worker.timeouts.body == defaults.timeouts.body);
    CHECK(r->worker.timeouts.keepalive == defaults.timeouts.keepalive);
    CHECK(r->worker.timeouts.send == defaults.timeouts.send);
}

TEST_CASE("bad values of the new [limits] keys are errors at the value", "[config][limits][errors]") {
    struct bad {
        std::string line;  // the second line, after "[limits]"
        int column;        // where the value starts
        std::string_view mentions;
        std::string_view why;
    };
    const bad cases[] = {
        {"header_timeout = \"10\"", 18, "limits.header_timeout", "needs a unit"},
        {"header_timeout = 5", 18, "limits.header_timeout", "must be a string"},
        {"header_timeout = \"0s\"", 18, "limits.header_timeout", "must be more than 0"},
        {"header_timeout = \"0ms\"", 18, "limits.header_timeout", "must be more than 0"},
        {"body_timeout = \"8d\"", 16, "limits.body_timeout", "needs a unit"},
        {"keepalive_timeout = \"200h\"", 21, "limits.keepalive_timeout", "longer than a week"},
        {"send_timeout = \"-1s\"", 16, "limits.send_timeout", "whole number"},
        {"max_headers = 101", 15, "limits.max_headers", "from 1 to 100"},
        {"max_headers = 0", 15, "limits.max_headers", "from 1 to 100"},
        {"max_body_bytes = \"1XB\"", 18, "limits.max_body_bytes", "unknown unit"},
        {"max_body_bytes = \"1KB\"", 18, "limits.max_body_bytes", "unknown unit"},
        {"max_body_bytes = -1", 18, "limits.max_body_bytes", "must be a size"},
        {"max_body_bytes = 1.5", 18, "limits.max_body_bytes", "must be a size"},
        {"max_requests_per_connection = -1", 31, "limits.max_requests_per_connection", "from 0 to 4294967295"},
        {"max_requests_per_connection = 4294967296", 31, "limits.max_requests_per_connection",
         "from 0 to 4294967295"},
    };
    for (const auto& b : cases) {
        CAPTURE(b.line);
        const std::string e = single_error("[limits]\n" + b.line + "\n");
        CAPTURE(e);
        CHECK(starts_with(e, prefix(2, b.column)));
        CHECK(contains(e, b.mentions));
        CHECK(contains(e, b.why));
    }
}

TEST_CASE("an unknown key among the new [limits] keys is reported at the key", "[config][limits][errors]") {
    const std::string e = single_error("[limits]\nheader_timeout = \"5s\"\nread_timeout = \"5s\"\n");
    CHECK(starts_with(e, prefix(3, 1)));
    CHECK(contains(e, "unknown key 'read_timeout' in [limits]"));
    CHECK(contains(e, "header_timeout"));
    CHECK(contains(e, "max_body_bytes"));
}

// ---------------------------------------------------------------- file routes and [mime]

namespace {

// A configuration directory holding www/ (with a file in it), and a file that is not a directory.
struct site {
    pfd::test::temp_dir dir;
    std::string config = dir.path + "/site.toml";
    std::string www = dir.path + "/www";
    site() {
        REQUIRE(::mkdir(www.c_str(), 0755) == 0);
        const int fd = ::open((dir.path + "/plain.txt").c_str(), O_WRONLY | O_CREAT | O_EXCL, 0644);
        REQUIRE(fd >= 0);
        ::close(fd);
    }
    [[nodiscard]] config_result parse(const std::string& text) const { return parse_config(text, config); }
    [[nodiscard]] std::string where(int line, int col) const {
        return config + ":" + std::to_string(line) + ":" + std::to_string(col) + ": ";
    }
    // The single error of a config that must fail with exactly one.
    [[nodiscard]] std::string single_error(const std::string& text) const {
        auto r = parse(text);
        REQUIRE_FALSE(r.has_value());
        for (const auto& e : r.error()) {
            UNSCOPED_INFO(e);
        }
        REQUIRE(r.error().size() == 1);
        return r.error()[0];
    }
};

const std::string file_route = "[[route]]\nprefix = \"/static/\"\nroot = \"www\"\n";

}  // namespace

TEST_CASE("a file route is read with its settings, root made absolute beside the file", "[config][files]") {
    const site s;
    auto r = s.parse("[[route]]\npath = \"/\"\nbody = \"hi\"\n\n"
                     "[[route]]\nprefix = \"/static/\"\nroot = \"./www\"\nindex = \"home.htm\"\n"
                     "cache_control = \"public, max-age=3600\"\nfollow_symlinks = true\nprecompressed = true\n"
                     "allow_dotfiles = true\n");
    if (!r) {
        for (const auto& e : r.error()) {
            UNSCOPED_INFO(e);
        }
    }
    REQUIRE(r.has_value());
    CHECK(r->warnings.empty());
    REQUIRE(r->worker.routes.size() == 2);
    CHECK(r->worker.routes[0].path == "/");
    CHECK_FALSE(r->worker.routes[0].files.has_value());
    const auto& f = r->worker.routes[1];
    CHECK(f.path.empty());
    CHECK(f.prefix == "/static/");
    REQUIRE(f.files.has_value());
    CHECK(f.files->root == s.www);
    CHECK(f.files->index == "home.htm");
    CHECK(f.files->cache_control == "public, max-age=3600");
    CHECK(f.files->follow_symlinks);
    CHECK(f.files->precompressed);
    CHECK(f.files->allow_dotfiles);
}

TEST_CASE("a file route's settings default as documented", "[config][files]") {
    const site s;
    auto r = s.parse(file_route);
    REQUIRE(r.has_value());
    REQUIRE(r->worker.routes.size() == 1);
    const auto& f = *r->worker.routes[0].files;
    CHECK(f.root == s.www);
    CHECK(f.index == "index.html");
    CHECK(f.cache_control.empty());
    CHECK_FALSE(f.follow_symlinks);
    CHECK_FALSE(f.precompressed);
    CHECK_FALSE(f.allow_dotfiles);
    // A file route is a route: no "no [[route]]" warning.
    CHECK(r->warnings.empty());
    CHECK(r->worker.mime.empty());

    auto none = s.parse(file_route + "index = \"\"\n");
    REQUIRE(none.has_value());
    CHECK(none->worker.routes[0].files->index.empty());
}

TEST_CASE("an absolute root is kept as written, and prefix \"/\" serves everything", "[config][files]") {
    const site s;
    auto r = parse_config("[[route]]\nprefix = \"/\"\nroot = \"" + s.www + "\"\n", "/nonexistent/site.toml");
    REQUIRE(r.has_value());
    CHECK(r->worker.routes[0].prefix == "/");
    CHECK(r->worker.routes[0].files->root == s.www);
}

TEST_CASE("load_config resolves a relative root beside the file it read", "[config][files]") {
    const site s;
    const int fd = ::open(s.config.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(write(fd, file_route.data(), file_route.size()) == static_cast<ssize_t>(file_route.size()));
    close(fd);
    auto r = load_config(s.config);
    REQUIRE(r.has_value());
    CHECK(r->worker.routes[0].files->root == s.www);
}

TEST_CASE("a root that is not an existing directory is an error at the value, with the errno text", "[config][files][errors]") {
    const site s;
    SECTION("missing, relative: the resolved path is shown") {
        const std::string e = s.single_error("[[route]]\nprefix = \"/static/\"\nroot = \"nope\"\n");
        CHECK(e == s.where(3, 8) + "route.root \"nope\" (" + s.dir.path + "/nope): No such file or directory");
    }
    SECTION("missing, absolute") {
        const std::string e = s.single_error("[[route]]\nprefix = \"/static/\"\nroot = \"" + s.dir.path + "/gone\"\n");
        CHECK(e == s.where(3, 8) + "route.root \"" + s.dir.path + "/gone\": No such file or directory");
    }
    SECTION("a file") {
        const std::string e = s.single_error("[[route]]\nprefix = \"/static/\"\nroot = \"plain.txt\"\n");
        CHECK(e == s.where(3, 8) + "route.root \"plain.txt\" (" + s.dir.path + "/plain.txt): Not a directory");
    }
    SECTION("below a file") {
        const std::string e = s.single_error("[[route]]\nprefix = \"/static/\"\nroot = \"plain.txt/www\"\n");
        CHECK(contains(e, ": Not a directory"));
    }
    SECTION("empty") {
        const std::string e = s.single_error("[[route]]\nprefix = \"/static/\"\nroot = \"\"\n");
        CHECK(starts_with(e, s.where(3, 8)));
        CHECK(contains(e, "route.root must be a directory's path"));
    }
    SECTION("not a string") {
        const std::string e = s.single_error("[[route]]\nprefix = \"/static/\"\nroot = 1\n");
        CHECK(starts_with(e, s.where(3, 8)));
        CHECK(contains(e, "route.root must be a string"));
    }
    SECTION("missing key: on the route's line") {
        const std::string e = s.single_error("[[route]]\npath = \"/\"\n\n[[route]]\nprefix = \"/static/\"\n");
        CHECK(starts_with(e, s.config + ":4:"));
        CHECK(contains(e, "route.root is missing"));
    }
}

TEST_CASE("a root without search permission is an error (not as root, which has it anyway)", "[config][files][errors]") {
    if (::geteuid() == 0) {
        WARN("skipped: root may search any directory");
        return;
    }
    const site s;
    REQUIRE(::chmod(s.www.c_str(), 0600) == 0);
    const std::string e = s.single_error(file_route);
    ::chmod(s.www.c_str(), 0755);
    CHECK(contains(e, "route.root \"www\" (" + s.www + "): Permission denied"));
}

TEST_CASE("a route has a path or a prefix, never both, and their keys do not mix", "[config][files][errors]") {
    const site s;
    SECTION("both") {
        const std::string e = s.single_error("[[route]]\npath = \"/\"\nprefix = \"/static/\"\nroot = \"www\"\n");
        CHECK(starts_with(e, s.where(3, 10)));
        CHECK(contains(e, "not both"));
    }
    SECTION("neither") {
        const std::string e = s.single_error("[[route]]\nroot = \"www\"\n");
        CHECK(starts_with(e, s.config + ":1:"));
        CHECK(contains(e, "route.path is missing"));
        CHECK(contains(e, "prefix"));
    }
    SECTION("body and content_type with a prefix: each at its key") {
        auto r = s.parse(file_route + "body = \"x\"\ncontent_type = \"text/html\"\n");
        REQUIRE_FALSE(r.has_value());
        REQUIRE(r.error().size() == 2);
        CHECK(starts_with(r.error()[0], s.where(4, 1)));
        CHECK(contains(r.error()[0], "route.body belongs to a route with a path"));
        CHECK(starts_with(r.error()[1], s.where(5, 1)));
        CHECK(contains(r.error()[1], "route.content_type belongs to a route with a path"));
    }
    SECTION("file settings with a path: each at its key") {
        auto r = s.parse("[[route]]\npath = \"/\"\nroot = \"www\"\nindex = \"a.html\"\ncache_control = \"no-cache\"\n"
                         "follow_symlinks = true\nprecompressed = true\nallow_dotfiles = true\n");
        REQUIRE_FALSE(r.has_value());
        REQUIRE(r.error().size() == 6);
        std::vector<std::string> sorted = r.error();
        std::sort(sorted.begin(), sorted.end());
        for (std::size_t i = 0; i < 6; ++i) {
            CAPTURE(sorted[i]);
            CHECK(starts_with(sorted[i], s.where(static_cast<int>(i) + 3, 1)));
            CHECK(contains(sorted[i], "belongs to a file route"));
        }
    }
    SECTION("an unknown key lists the file route's keys too") {
        const std::string e = s.single_error(file_route + "autoindex = true\n");
        CHECK(starts_with(e, s.where(4, 1)));
        CHECK(contains(e, "unknown key 'autoindex' in [route]"));
        CHECK(contains(e, "prefix root index cache_control follow_symlinks precompressed allow_dotfiles"));
    }
}

TEST_CASE("a prefix must start and end with '/', match some request, and be used once", "[config][files][errors]") {
    const site s;
    auto prefix_error = [&s](const std::string& prefix) {
        return s.single_error("[[route]]\nprefix = \"" + prefix + "\"\nroot = \"www\"\n");
    };
    SECTION("no leading '/'") {
        const std::string e = prefix_error("static/");
        CHECK(starts_with(e, s.where(2, 10)));
        CHECK(contains(e, "route.prefix must start with '/'"));
    }
    SECTION("empty") {
        CHECK(contains(prefix_error(""), "route.prefix must start with '/'"));
    }
    SECTION("no trailing '/'") {
        const std::string e = prefix_error("/static");
        CHECK(starts_with(e, s.where(2, 10)));
        CHECK(contains(e, "route.prefix must end with '/'"));
    }
    SECTION("a character no request path has") {
        const std::string e = prefix_error("/my files/");
        CHECK(starts_with(e, s.where(2, 10)));
        CHECK(contains(e, "can never match a request"));
        CHECK(contains(e, "/my%20files/"));
    }
    SECTION("a duplicate, at the second one") {
        const std::string e = s.single_error(file_route + "\n" + file_route);
        CHECK(starts_with(e, s.where(6, 10)));
        CHECK(contains(e, "route.prefix \"/static/\" is already used by an earlier route"));
    }
    SECTION("not a string") {
        const std::string e = prefix_error("x\" \"y");   // not even TOML
        CHECK(starts_with(e, s.config + ":2:"));
        const std::string t = s.single_error("[[route]]\nprefix = 3\nroot = \"www\"\n");
        CHECK(starts_with(t, s.where(2, 10)));
        CHECK(contains(t, "route.prefix must be a string"));
    }
    SECTION("a prefix and an exact path may be the same string") {
        auto r = s.parse("[[route]]\npath = \"/static/\"\n" + file_route);
        CHECK(r.has_value());
    }
    SECTION("a dot segment is a warning, as for a path") {
        auto r = s.parse("[[route]]\nprefix = \"/a/../b/\"\nroot = \"www\"\n");
        REQUIRE(r.has_value());
        REQUIRE(r->warnings.size() == 1);
        CHECK(starts_with(r->warnings[0], s.where(2, 10) + "warning: route.prefix"));
    }
}

TEST_CASE("index, cache_control and the switches are checked at the value", "[config][files][errors]") {
    const site s;
    for (const char* bad : {"a/b.html", "/index.html", ".", ".."}) {
        CAPTURE(bad);
        const std::string e = s.single_error(file_route + "index = \"" + bad + "\"\n");
        CHECK(starts_with(e, s.where(4, 9)));
        CHECK(contains(e, "route.index must be a file name"));
    }
    {
        const std::string e = s.single_error(file_route + "index = \"a\\u0000b\"\n");
        CHECK(contains(e, "route.index must be a file name"));
    }
    for (const char* bad : {"public\\r\\nX-Evil: 1", "no-cache\\n", "a\\u0000b", "a\\u007fb"}) {
        CAPTURE(bad);
        const std::string e = s.single_error(file_route + "cache_control = \"" + bad + "\"\n");
        CHECK(starts_with(e, s.where(4, 17)));
        CHECK(contains(e, "route.cache_control must be a single-line header value"));
    }
    for (const char* key : {"follow_symlinks", "precompressed", "allow_dotfiles"}) {
        CAPTURE(key);
        const std::string e = s.single_error(file_route + key + " = \"yes\"\n");
        CHECK(starts_with(e, s.where(4, static_cast<int>(std::strlen(key)) + 4)));
        CHECK(contains(e, "route." + std::string{key} + " must be true or false, got \"yes\""));
    }
    {
        const std::string e = s.single_error(file_route + "index = 1\n");
        CHECK(contains(e, "route.index must be a string"));
    }
}

TEST_CASE("a dot-file index that dotfile rules would hide is a warning", "[config][files][warnings]") {
    const site s;
    auto r = s.parse(file_route + "index = \".index.html\"\n");
    REQUIRE(r.has_value());
    REQUIRE(r->warnings.size() == 1);
    CHECK(starts_with(r->warnings[0], s.where(4, 9) + "warning: route.index \".index.html\" starts with '.'"));
    auto allowed = s.parse(file_route + "index = \".index.html\"\nallow_dotfiles = true\n");
    REQUIRE(allowed.has_value());
    CHECK(allowed->warnings.empty());
}

TEST_CASE("[mime] maps extensions, stored lower case, to media types", "[config][mime]") {
    const site s;
    auto r = s.parse(file_route + "\n[mime]\nmd = \"text/markdown\"\nGMI = \"text/gemini\"\n"
                                  "\"c++\" = \"text/x-c++src\"\nx-y = \"application/x-y; charset=\\\"latin-1\\\"\"\n"
                                  "mp4 = \" video/mp4 ; codecs=avc1 \"\n");
    if (!r) {
        for (const auto& e : r.error()) {
            UNSCOPED_INFO(e);
        }
    }
    REQUIRE(r.has_value());
    CHECK(r->warnings.empty());
    using pair = std::pair<std::string, std::string>;
    const std::vector<pair> want{{"md", "text/markdown"},
                                 {"gmi", "text/gemini"},
                                 {"c++", "text/x-c++src"},
                                 {"x-y", "application/x-y; charset=\"latin-1\""},
                                 {"mp4", "video/mp4 ; codecs=avc1"}};
    std::vector<pair> got{r->worker.mime.begin(), r->worker.mime.end()};
    std::sort(got.begin(), got.end());
    std::vector<pair> sorted = want;
    std::sort(sorted.begin(), sorted.end());
    CHECK(got == sorted);
}

TEST_CASE("a [mime] key written with its dot is read without it, with a warning", "[config][mime][warnings]") {
    const site s;
    auto r = s.parse(file_route + "[mime]\n\".md\" = \"text/markdown\"\n");
    REQUIRE(r.has_value());
    REQUIRE(r->worker.mime.size() == 1);
    CHECK(r->worker.mime[0].first == "md");
    REQUIRE(r->warnings.size() == 1);
    CHECK(starts_with(r->warnings[0], s.where(5, 1) + "warning: [mime] key \".md\""));
}

TEST_CASE("bad [mime] keys and values are errors where they are written", "[config][mime][errors]") {
    const site s;
    auto mime_error = [&s](const std::string& line) { return s.single_error(file_route + "[mime]\n" + line + "\n"); };
    SECTION("an inner dot can never match the last extension") {
        const std::string e = mime_error("\"tar.gz\" = \"application/gzip\"");
        CHECK(starts_with(e, s.where(5, 1)));
        CHECK(contains(e, "can never match"));
        CHECK(contains(e, "(\"gz\")"));
    }
    SECTION("characters an extension does not have") {
        for (const char* key : {"\"a b\"", "\"a/b\"", "\"a_b\"", "\"é\"", "\"..\""}) {
            CAPTURE(key);
            const std::string e = mime_error(std::string{key} + " = \"text/plain\"");
            CHECK(starts_with(e, s.where(5, 1)));
            CHECK(contains(e, "[mime] key"));
        }
    }
    SECTION("empty, or only a dot") {
        CHECK(contains(mime_error("\"\" = \"text/plain\""), "is not an extension"));
        auto r = s.parse(file_route + "[mime]\n\".\" = \"text/plain\"\n");
        REQUIRE_FALSE(r.has_value());
        CHECK(contains(r.error()[0], "is not an extension"));
    }
    SECTION("the same extension twice in different case") {
        // Reported at the later one in the file, whatever order the keys sort in.
        for (const auto& [first, second] : {std::pair{"md", "MD"}, std::pair{"MD", "md"}}) {
            auto r = s.parse(file_route + "[mime]\n" + first + " = \"text/markdown\"\n" + second +
                             " = \"text/x-markdown\"\n");
            REQUIRE_FALSE(r.has_value());
            REQUIRE(r.error().size() == 1);
            CHECK(starts_with(r.error()[0], s.where(6, 1)));
            CHECK(contains(r.error()[0], "[mime] key \"" + std::string{second} + "\" sets extension \"md\" again (as \"" +
                                             first + "\" did)"));
        }
    }
    SECTION("a value that is not a string") {
        const std::string e = mime_error("md = 1");
        CHECK(starts_with(e, s.where(5, 6)));
        CHECK(contains(e, "mime.md must be a media type string"));
    }
    SECTION("values that are not media types") {
        for (const char* v : {"markdown", "text/", "/markdown", "text/mark down", "text/markdown;", "text/x; a",
                              "text/x; a=", "text/x; a=\\\"b", "text/x\\r\\nX: y", "", "text / x", "text/x, y/z"}) {
            CAPTURE(v);
            const std::string e = mime_error(std::string{"md = \""} + v + "\"");
            CHECK(starts_with(e, s.where(5, 6)));
            CHECK(contains(e, "mime.md"));
        }
    }
    SECTION("[mime] that is not a table") {
        const std::string e = s.single_error("mime = \"text/plain\"\n" + file_route);
        CHECK(starts_with(e, s.where(1, 8)));
        CHECK(contains(e, "mime must be a table"));
    }
}

TEST_CASE("[mime] without a file route is valid, with a warning", "[config][mime][warnings]") {
    auto r = parse("[[route]]\npath = \"/\"\n[mime]\nmd = \"text/markdown\"\n");
    REQUIRE(r.has_value());
    REQUIRE(r->warnings.size() == 1);
    CHECK(starts_with(r->warnings[0], line_prefix(3)));
    CHECK(contains(r->warnings[0], "[mime] has no effect"));
}
