#include <catch2/catch.hpp>

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/cli.hpp"

using namespace pfd::server;

namespace {

// Builds a mutable argc/argv pair (argv[0] is the program name) and parses it.
tl::expected<cli_options, std::string> parse(std::initializer_list<std::string_view> args) {
    std::vector<std::string> storage{"preforkd"};
    for (auto a : args) {
        storage.emplace_back(a);
    }
    std::vector<char*> argv;
    for (auto& s : storage) {
        argv.push_back(s.data());
    }
    argv.push_back(nullptr);
    return parse_cli(static_cast<int>(storage.size()), argv.data());
}

bool contains(const std::string& s, std::string_view part) { return s.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("no arguments means serve with conf/server.toml", "[cli]") {
    auto o = parse({});
    REQUIRE(o.has_value());
    CHECK(o->action == cli_action::serve);
    CHECK(o->config_path == "conf/server.toml");
}

TEST_CASE("-c and --config take the next argument as the config file", "[cli]") {
    auto shortform = parse({"-c", "/etc/preforkd.toml"});
    REQUIRE(shortform.has_value());
    CHECK(shortform->config_path == "/etc/preforkd.toml");
    CHECK(shortform->action == cli_action::serve);

    auto longform = parse({"--config", "other.toml"});
    REQUIRE(longform.has_value());
    CHECK(longform->config_path == "other.toml");
}

TEST_CASE("--config=FILE sets the config file", "[cli]") {
    auto o = parse({"--config=/tmp/x.toml"});
    REQUIRE(o.has_value());
    CHECK(o->config_path == "/tmp/x.toml");
    CHECK(o->action == cli_action::serve);
}

TEST_CASE("-t tests the configuration, with or without -c", "[cli]") {
    auto t = parse({"-t"});
    REQUIRE(t.has_value());
    CHECK(t->action == cli_action::test_config);
    CHECK(t->config_path == "conf/server.toml");

    auto tc = parse({"-t", "-c", "a.toml"});
    REQUIRE(tc.has_value());
    CHECK(tc->action == cli_action::test_config);
    CHECK(tc->config_path == "a.toml");

    auto ct = parse({"--config=b.toml", "--test"});
    REQUIRE(ct.has_value());
    CHECK(ct->action == cli_action::test_config);
    CHECK(ct->config_path == "b.toml");
}

TEST_CASE("-h and --help ask for help, -v and --version for the version", "[cli]") {
    const std::pair<std::string_view, cli_action> cases[] = {
        {"-h", cli_action::help}, {"--help", cli_action::help},
        {"-v", cli_action::version}, {"--version", cli_action::version}};
    for (const auto& [flag, action] : cases) {
        CAPTURE(flag);
        auto o = parse({flag});
        REQUIRE(o.has_value());
        CHECK(o->action == action);
    }
}

TEST_CASE("an unknown option is an error naming it", "[cli]") {
    auto x = parse({"-x"});
    REQUIRE_FALSE(x.has_value());
    CHECK(contains(x.error(), "'-x'"));

    auto later = parse({"-t", "--frobnicate"});
    REQUIRE_FALSE(later.has_value());
    CHECK(contains(later.error(), "--frobnicate"));

    auto positional = parse({"server.toml"});
    REQUIRE_FALSE(positional.has_value());
    CHECK(contains(positional.error(), "server.toml"));
}

TEST_CASE("-c without a file name is an error", "[cli]") {
    auto c = parse({"-c"});
    REQUIRE_FALSE(c.has_value());
    CHECK(contains(c.error(), "-c"));

    auto cfg = parse({"-t", "--config"});
    REQUIRE_FALSE(cfg.has_value());
    CHECK(contains(cfg.error(), "--config"));
}

TEST_CASE("an empty config file name is an error", "[cli]") {
    CHECK_FALSE(parse({"--config="}).has_value());
    CHECK_FALSE(parse({"-c", ""}).has_value());
}

TEST_CASE("usage text names the program and every option", "[cli]") {
    const std::string u = usage_text("preforkd");
    CHECK(u.rfind("usage: preforkd ", 0) == 0);
    for (std::string_view opt : {"-c", "--config", "-t", "--test", "-h", "--help", "-v", "--version"}) {
        CAPTURE(opt);
        CHECK(contains(u, opt));
    }
}
