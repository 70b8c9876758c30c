#include <catch2/catch.hpp>

#include <string>

#include "proto/target_path.hpp"

using namespace pfd::proto;

namespace {
struct row {
    std::string_view path;
    int status;
    std::string_view relative;
    bool trailing_slash;
};

void check_rows(std::string_view prefix, std::initializer_list<row> rows, target_path_options o = {}) {
    for (const auto& r : rows) {
        INFO("path '" << std::string(r.path) << "' prefix '" << std::string(prefix) << "'");
        const auto got = resolve_target_path(r.path, prefix, o);
        CHECK(got.status == r.status);
        if (r.status == 0) {
            CHECK(got.relative == r.relative);
            CHECK(got.trailing_slash == r.trailing_slash);
        } else {
            CHECK(got.relative.empty());
        }
    }
}
}  // namespace

TEST_CASE("target path: plain names below the prefix", "[proto][target_path]") {
    check_rows("/static/", {
        {"/static/", 0, "", true},
        {"/static/a.css", 0, "a.css", false},
        {"/static/css/site.css", 0, "css/site.css", false},
        {"/static/css/", 0, "css", true},
        {"/static/css", 0, "css", false},
        {"/static", 0, "", false},  // the prefix without '/': redirect to it
        {"/static/a+b c~d!$&'()*,;=:@", 0, "a+b c~d!$&'()*,;=:@", false},  // '+' is not a space in a path
        {"/static/%C3%A9t%C3%A9.txt", 0, "\xC3\xA9t\xC3\xA9.txt", false},
        {"/static/a%20b", 0, "a b", false},
        {"/static/%7euser", 0, "~user", false},
        {"/static/a.", 0, "a.", false},
        {"/static/a..b", 0, "a..b", false},
        {"/static/..a", 404, "", false},  // a dotfile, not a dot segment
        {"/staticx", 404, "", false},
        {"/stat", 404, "", false},
        {"/", 404, "", false},
        {"", 404, "", false},
        {"*", 404, "", false},
        {"/STATIC/a", 404, "", false},
        {"/other/static/a", 404, "", false},
        {"/%73tatic/a", 404, "", false},  // the prefix is matched raw, as the route table does
    });
}

TEST_CASE("target path: empty and '.' segments collapse", "[proto][target_path]") {
    check_rows("/static/", {
        {"/static//a", 0, "a", false},
        {"/static/a//b", 0, "a/b", false},
        {"/static/a///", 0, "a", true},
        {"/static/./a", 0, "a", false},
        {"/static/a/./b", 0, "a/b", false},
        {"/static/a/.", 0, "a", true},  // "a/." names the directory a, like "a/"
        {"/static/a/%2e", 0, "a", true},
        {"/static/%2E/a", 0, "a", false},
        {"/static/.", 0, "", true},
        {"/static/./", 0, "", true},
        {"/static///", 0, "", true},
        {"/static/a/./", 0, "a", true},
    });
}

TEST_CASE("target path: dot-dot in every spelling is 403", "[proto][target_path]") {
    check_rows("/static/", {
        {"/static/..", 403, "", false},
        {"/static/../", 403, "", false},
        {"/static/../etc/passwd", 403, "", false},
        {"/static/a/../../etc/passwd", 403, "", false},
        {"/static/a/../b", 403, "", false},  // refused, not resolved: clients remove dot segments
        {"/static/a/..", 403, "", false},
        {"/static/%2e%2e/etc/passwd", 403, "", false},
        {"/static/%2E%2E/etc/passwd", 403, "", false},
        {"/static/.%2e/etc/passwd", 403, "", false},
        {"/static/%2e./etc/passwd", 403, "", false},
        {"/static//..//etc", 403, "", false},
        {"/static/./../x", 403, "", false},
    });
    // Allowing dotfiles allows names like ".well-known", never "..".
    check_rows("/static/", {
        {"/static/..", 403, "", false},
        {"/static/%2e%2e", 403, "", false},
    }, target_path_options{true});
}

TEST_CASE("target path: decoded exactly once", "[proto][target_path]") {
    check_rows("/static/", {
        {"/static/%252e%252e/etc/passwd", 0, "%2e%2e/etc/passwd", false},
        {"/static/%252e%252e", 0, "%2e%2e", false},
        {"/static/%252f", 0, "%2f", false},
        {"/static/%255c", 0, "%5c", false},
        {"/static/%2500", 0, "%00", false},
        {"/static/%25", 0, "%", false},
        {"/static/%2525", 0, "%25", false},
    });
}

TEST_CASE("target path: separators, NUL and controls are 404", "[proto][target_path]") {
    check_rows("/static/", {
        {"/static/%2f", 404, "", false},
        {"/static/%2F", 404, "", false},
        {"/static/..%2fetc%2fpasswd", 404, "", false},
        {"/static/a%2f..%2f..%2fetc", 404, "", false},
        {"/static/%2e%2e%2fetc", 404, "", false},
        {"/static/%5c", 404, "", false},
        {"/static/%5C..%5C..%5Cetc", 404, "", false},
        {"/static/..\\..\\etc\\passwd", 404, "", false},
        {"/static/a\\b", 404, "", false},
        {"/static/%00", 404, "", false},
        {"/static/index.html%00.txt", 404, "", false},
        {std::string_view("/static/a\0b", 11), 404, "", false},
        {"/static/%01", 404, "", false},
        {"/static/%0a", 404, "", false},
        {"/static/%0D%0ASet-Cookie:x", 404, "", false},
        {"/static/%1f", 404, "", false},
        {"/static/%7f", 404, "", false},
        {"/static/a\tb", 404, "", false},
        {"/static/a\x7f", 404, "", false},
        {"/static/%20", 0, " ", false},  // SP is not a control byte
        {"/static/%80%ff", 0, "\x80\xff", false},
    });
}

TEST_CASE("target path: malformed escapes are 400, before anything else", "[proto][target_path]") {
    check_rows("/static/", {
        {"/static/%", 400, "", false},
        {"/static/a%", 400, "", false},
        {"/static/a%2", 400, "", false},
        {"/static/%zz", 400, "", false},
        {"/static/%g0", 400, "", false},
        {"/static/%0g", 400, "", false},
        {"/static/%%32%65", 400, "", false},
        {"/static/%u002e", 400, "", false},
        {"/static/../%zz", 400, "", false},
        {"/static/.git/%", 400, "", false},
        {"/static/%2e%2e/%2", 400, "", false},
    });
}

TEST_CASE("target path: dotfiles are 404 unless allowed", "[proto][target_path]") {
    check_rows("/static/", {
        {"/static/.env", 404, "", false},
        {"/static/.git/config", 404, "", false},
        {"/static/a/.htaccess", 404, "", false},
        {"/static/%2egit/config", 404, "", false},
        {"/static/.well-known/", 404, "", false},
        {"/static/...", 404, "", false},
    });
    check_rows("/static/", {
        {"/static/.env", 0, ".env", false},
        {"/static/.git/config", 0, ".git/config", false},
        {"/static/%2egit/", 0, ".git", true},
        {"/static/...", 0, "...", false},
        {"/static/.", 0, "", true},
    }, target_path_options{true});
}

TEST_CASE("target path: NAME_MAX and PATH_MAX", "[proto][target_path]") {
    const std::string seg255(255, 'a');
    const std::string seg256(256, 'a');
    CHECK(resolve_target_path("/s/" + seg255, "/s/").relative == seg255);
    CHECK(resolve_target_path("/s/" + seg256, "/s/").status == 404);
    // The limit is on decoded bytes: 255 escapes are 255 bytes.
    std::string enc;
    for (int i = 0; i < 255; ++i) {
        enc += "%41";
    }
    CHECK(resolve_target_path("/s/" + enc, "/s/").relative == std::string(255, 'A'));
    CHECK(resolve_target_path("/s/" + enc + "%41", "/s/").status == 404);

    // 16 segments of 255 bytes plus 15 '/': 4095 bytes, the most a name can have.
    std::string longest;
    for (int i = 0; i < 16; ++i) {
        longest += (i ? "/" : "") + seg255;
    }
    REQUIRE(longest.size() == 4095);
    CHECK(resolve_target_path("/s/" + longest, "/s/").relative == longest);
    CHECK(resolve_target_path("/s/" + longest + "b", "/s/").status == 404);
    CHECK(resolve_target_path("/s/" + longest + "/b", "/s/").status == 404);
    // Collapsed segments do not count.
    CHECK(resolve_target_path("/s/" + std::string(8000, '/') + "a", "/s/").relative == "a");
}

TEST_CASE("target path: a prefix without a trailing slash", "[proto][target_path]") {
    check_rows("/static", {
        {"/static", 0, "", false},
        {"/static/", 0, "", true},
        {"/static/a", 0, "a", false},
        {"/staticfoo", 404, "", false},
        {"/static/..", 403, "", false},
    });
    check_rows("/", {
        {"/", 0, "", true},
        {"/index.html", 0, "index.html", false},
        {"/%2e%2e", 403, "", false},
    });
}
