#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "server/runtime_dir.hpp"
#include "unit/temp_files.hpp"

using namespace pfd::server;
using pfd::test::contains;
using pfd::test::slurp;
using pfd::test::temp_dir;

namespace {

// Another user to play in the choice of directory: ourselves unless we are root (root
// always gets /run/preforkd), then nobody, whose directories root can make with chown.
uid_t player() { return ::geteuid() == 0 ? 65534 : ::geteuid(); }

void own(const std::string& path, uid_t uid) {
    if (::geteuid() == 0) {
        REQUIRE(::chown(path.c_str(), uid, static_cast<gid_t>(-1)) == 0);
    }
}

std::string make_dir(const std::string& path, mode_t mode) {
    REQUIRE(::mkdir(path.c_str(), 0700) == 0);
    REQUIRE(::chmod(path.c_str(), mode) == 0);
    return path;
}

struct stat fake_stat(mode_t mode, uid_t owner) {
    struct stat st {};
    st.st_mode = mode;
    st.st_uid = owner;
    return st;
}

}  // namespace

TEST_CASE("default runtime directory: /run for root, a private XDG_RUNTIME_DIR, else a dir of our own in /tmp",
          "[runtime_dir]") {
    temp_dir t;
    runtime_user who;
    who.run_base = t.path + "/run";
    who.tmp_base = t.path + "/tmp/";

    SECTION("root: <run>/preforkd, whatever XDG_RUNTIME_DIR says") {
        who.uid = 0;
        who.xdg_runtime_dir = t.path;
        CHECK(default_runtime_dir(who) == t.path + "/run/preforkd");
        CHECK(default_runtime_path(who, "9000", "pid") == t.path + "/run/preforkd/preforkd-9000.pid");
    }
    SECTION("a user's XDG_RUNTIME_DIR, 0700 and theirs") {
        const std::string xdg = make_dir(t.path + "/xdg", 0700);
        own(xdg, player());
        who.uid = player();
        who.xdg_runtime_dir = xdg + "/";
        CHECK(default_runtime_dir(who) == xdg + "/preforkd");
        CHECK(default_runtime_path(who, "8080", "sock") == xdg + "/preforkd/preforkd-8080.sock");
    }
    const std::string fallback = t.path + "/tmp/preforkd-" + std::to_string(player());
    SECTION("no XDG_RUNTIME_DIR: <tmp>/preforkd-<uid>, never bare /tmp") {
        who.uid = player();
        CHECK(default_runtime_dir(who) == fallback);
        CHECK(default_runtime_path(who, "9000", "pid") == fallback + "/preforkd-9000.pid");
    }
    SECTION("an XDG_RUNTIME_DIR others may enter is not used") {
        const std::string xdg = make_dir(t.path + "/xdg", 0755);
        own(xdg, player());
        who.uid = player();
        who.xdg_runtime_dir = xdg;
        CHECK(default_runtime_dir(who) == fallback);
    }
    SECTION("another user's XDG_RUNTIME_DIR (inherited through su) is not used") {
        const std::string xdg = make_dir(t.path + "/xdg", 0700);
        who.uid = player() + 1;   // not the owner
        who.xdg_runtime_dir = xdg;
        CHECK(default_runtime_dir(who) == t.path + "/tmp/preforkd-" + std::to_string(player() + 1));
    }
    SECTION("a relative or missing XDG_RUNTIME_DIR is not used") {
        who.uid = player();
        who.xdg_runtime_dir = "run/user";
        CHECK(default_runtime_dir(who) == fallback);
        who.xdg_runtime_dir = t.path + "/absent";
        CHECK(default_runtime_dir(who) == fallback);
    }
}

TEST_CASE("the default directory is created private and checked at every use", "[runtime_dir]") {
    temp_dir t;
    runtime_user who;
    who.uid = ::geteuid();
    who.run_base = t.path;
    who.tmp_base = t.path;
    const std::string dir = default_runtime_dir(who);
    const mode_t expected = who.uid == 0 ? 0755 : 0700;

    SECTION("missing: created with its mode, whatever the umask") {
        const mode_t old = ::umask(0);
        auto fd = open_runtime_dir(dir, who);
        ::umask(old);
        REQUIRE(fd);
        struct stat st {};
        REQUIRE(::lstat(dir.c_str(), &st) == 0);
        CHECK(S_ISDIR(st.st_mode));
        CHECK((st.st_mode & 07777) == expected);
        CHECK(st.st_uid == who.uid);
        CHECK(open_runtime_dir(dir, who));   // and accepted again
    }
    SECTION("existing with a mode that lets others in: refused, not fixed") {
        make_dir(dir, 0777);
        auto fd = open_runtime_dir(dir, who);
        REQUIRE_FALSE(fd);
        CHECK(contains(fd.error(), dir + " has mode 0777"));
        struct stat st {};
        REQUIRE(::stat(dir.c_str(), &st) == 0);
        CHECK((st.st_mode & 07777) == 0777);
    }
    SECTION("a symbolic link to a directory of ours: refused") {
        const std::string target = make_dir(t.path + "/elsewhere", 0700);
        REQUIRE(::symlink(target.c_str(), dir.c_str()) == 0);
        auto fd = open_runtime_dir(dir, who);
        REQUIRE_FALSE(fd);
        CHECK(contains(fd.error(), "is a symbolic link"));
    }
    SECTION("made by another user first: refused") {
        if (::geteuid() != 0) {
            SUCCEED("needs root to make a directory of another user's");
            return;
        }
        // Play nobody, whose fallback directory root made and nobody does not own.
        runtime_user nobody = who;
        nobody.uid = 65534;
        const std::string theirs = make_dir(default_runtime_dir(nobody), 0700);
        auto fd = open_runtime_dir(theirs, nobody);
        REQUIRE_FALSE(fd);
        CHECK(contains(fd.error(), "belongs to uid 0, not to uid 65534"));
    }
}

TEST_CASE("directory checks for explicit paths", "[runtime_dir]") {
    const uid_t me = 1000;
    const uid_t other = 1001;
    CHECK(check_directory("/d", fake_stat(S_IFDIR | 0755, me), me));
    CHECK(check_directory("/d", fake_stat(S_IFDIR | 0700, 0), me));   // root's is fine
    CHECK(check_directory("/d", fake_stat(S_IFDIR | 01777, me), me));  // sticky and ours
    {
        auto r = check_directory("/d", fake_stat(S_IFDIR | 0777, me), me);
        REQUIRE_FALSE(r);
        CHECK(contains(r.error(), "/d is writable by other users (mode 0777) and not sticky"));
    }
    {
        auto r = check_directory("/d", fake_stat(S_IFDIR | 0775, me), me);
        REQUIRE_FALSE(r);
        CHECK(contains(r.error(), "not sticky"));
    }
    {
        auto r = check_directory("/d", fake_stat(S_IFDIR | 0755, other), me);
        REQUIRE_FALSE(r);
        CHECK(contains(r.error(), "/d belongs to uid 1001, not to uid 1000 or root"));
    }
    // /tmp: sticky but root's. A user is refused; root, who owns it, is not (what root
    // creates there nobody else can rename or remove, and it is never made through a
    // planted name).
    const auto tmp = fake_stat(S_IFDIR | 01777, 0);
    {
        auto r = check_directory("/tmp", tmp, me);
        REQUIRE_FALSE(r);
        CHECK(contains(r.error(), "/tmp is writable by other users (mode 1777) and is uid 0's, not uid 1000's"));
    }
    CHECK(check_directory("/tmp", tmp, 0));
    CHECK_FALSE(check_directory("/f", fake_stat(S_IFREG | 0644, me), me));

    // Above it: anyone's sticky directory is fine, a writable one or another user's is not.
    CHECK(check_ancestor("/tmp", tmp, me));
    CHECK(check_ancestor("/", fake_stat(S_IFDIR | 0755, 0), me));
    CHECK_FALSE(check_ancestor("/a", fake_stat(S_IFDIR | 0777, 0), me));
    CHECK_FALSE(check_ancestor("/home/other", fake_stat(S_IFDIR | 0755, other), me));

    CHECK(check_private_directory("/p", fake_stat(S_IFDIR | 0700, me), me));
    CHECK_FALSE(check_private_directory("/p", fake_stat(S_IFDIR | 0750, me), me));
    CHECK_FALSE(check_private_directory("/p", fake_stat(S_IFDIR | 0700, other), me));
    CHECK_FALSE(check_private_directory("/p", fake_stat(S_IFLNK | 0777, me), me));
    CHECK(check_private_directory("/run/preforkd", fake_stat(S_IFDIR | 0755, 0), 0));
    CHECK_FALSE(check_private_directory("/run/preforkd", fake_stat(S_IFDIR | 0775, 0), 0));
}

TEST_CASE("an explicit directory is checked on the whole way down", "[runtime_dir]") {
    temp_dir t;
    const runtime_user who = current_runtime_user();
    const std::string open_dir = make_dir(t.path + "/open", 0777);
    const std::string below = make_dir(open_dir + "/below", 0700);
    {
        auto r = open_runtime_dir(below, who);
        REQUIRE_FALSE(r);
        CHECK(contains(r.error(), open_dir + " is writable by other users"));
    }
    {
        auto r = open_runtime_dir(open_dir, who);
        REQUIRE_FALSE(r);
        CHECK(contains(r.error(), "not sticky"));
    }
    REQUIRE(::chmod(open_dir.c_str(), 01777) == 0);
    CHECK(open_runtime_dir(below, who));
    CHECK(open_runtime_dir(open_dir, who));   // sticky and ours
    CHECK_FALSE(open_runtime_dir(t.path + "/absent", who));
}

TEST_CASE("replace_file never follows or reuses what is at either name", "[runtime_dir]") {
    temp_dir t;
    const runtime_user who = current_runtime_user();
    auto dir = open_runtime_dir(t.path, who);
    REQUIRE(dir);
    const std::string victim = t.path + "/victim";
    { std::ofstream{victim} << "precious\n"; }
    const std::string target = t.path + "/p.pid";
    REQUIRE(::symlink(victim.c_str(), target.c_str()) == 0);

    const mode_t old = ::umask(0);
    auto r = replace_file(dir->get(), "p.pid", "42\n", 0644, target);
    ::umask(old);
    REQUIRE(r);
    CHECK(slurp(victim) == "precious\n");
    struct stat st {};
    REQUIRE(::lstat(target.c_str(), &st) == 0);
    CHECK(S_ISREG(st.st_mode));
    CHECK((st.st_mode & 07777) == 0644);
    CHECK(st.st_uid == ::geteuid());
    CHECK(slurp(target) == "42\n");
    // Nothing left behind under a temporary name.
    int entries = 0;
    for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(t.path)) {
        ++entries;
    }
    CHECK(entries == 2);

    const std::string a = temporary_name();
    CHECK(a.starts_with(".preforkd-"));
    CHECK(a.size() == 26);
    CHECK(a != temporary_name());
}

TEST_CASE("what may stand at a control socket's path", "[runtime_dir]") {
    temp_dir t;
    auto dir = open_runtime_dir(t.path, current_runtime_user());
    REQUIRE(dir);
    CHECK(check_replaceable_socket(dir->get(), "absent", ::geteuid(), "x"));

    { std::ofstream{t.path + "/file"} << "data"; }
    auto file = check_replaceable_socket(dir->get(), "file", ::geteuid(), t.path + "/file");
    REQUIRE_FALSE(file);
    CHECK(contains(file.error(), t.path + "/file exists and is a regular file, not a socket: not removing it"));

    REQUIRE(::symlink("/etc/passwd", (t.path + "/link").c_str()) == 0);
    auto link = check_replaceable_socket(dir->get(), "link", ::geteuid(), "link");
    REQUIRE_FALSE(link);
    CHECK(contains(link.error(), "a symbolic link"));

    const int s = ::socket(AF_UNIX, SOCK_STREAM, 0);
    sockaddr_un a{};
    a.sun_family = AF_UNIX;
    const std::string sock = t.path + "/s";
    std::memcpy(a.sun_path, sock.c_str(), sock.size() + 1);
    REQUIRE(::bind(s, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0);
    ::close(s);
    CHECK(check_replaceable_socket(dir->get(), "s", ::geteuid(), sock));   // stale, ours
    auto theirs = check_replaceable_socket(dir->get(), "s", ::geteuid() + 1, sock);
    REQUIRE_FALSE(theirs);
    CHECK(contains(theirs.error(), "is a socket of uid " + std::to_string(::geteuid()) + ", not of uid"));
}
