#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "server/pid_file.hpp"
#include "unit/temp_files.hpp"

using namespace pfd::server;
using pfd::test::contains;
using pfd::test::slurp;
using pfd::test::temp_dir;

TEST_CASE("a pid file is trusted only when it names a live preforkd master of the right user", "[pid_file]") {
    temp_dir t;
    const std::string path = t.path + "/m.pid";
    auto write_text = [&](const std::string& text) {
        std::filesystem::remove(path);
        std::ofstream{path} << text;
    };

    SECTION("written by pid_file: 0644, our pid, removed by the guard") {
        {
            auto p = pid_file::write(path);
            REQUIRE(p);
            struct stat st {};
            REQUIRE(::lstat(path.c_str(), &st) == 0);
            CHECK((st.st_mode & 07777) == 0644);
            CHECK(st.st_uid == ::geteuid());
            CHECK(slurp(path) == std::to_string(::getpid()) + "\n");
            // This process runs the preforkd code's own executable and is not a worker:
            // taken for a master that has not set its title yet.
            auto m = find_master(path, ::geteuid());
            REQUIRE(m);
            CHECK(m->pid == ::getpid());
            CHECK(m->pidfd.valid());
        }
        CHECK_FALSE(std::filesystem::exists(path));
    }
    SECTION("no file, a symbolic link, or no pid in it") {
        auto none = running_master(path);
        REQUIRE_FALSE(none);
        CHECK(contains(none.error(), "not running (no pid file at " + path + ")"));

        write_text(std::to_string(::getpid()) + "\n");
        const std::string link = t.path + "/link.pid";
        REQUIRE(::symlink(path.c_str(), link.c_str()) == 0);
        auto l = running_master(link);
        REQUIRE_FALSE(l);
        CHECK(contains(l.error(), "is a symbolic link"));

        for (const char* bad : {"", "\n", "12x\n", "-5\n", "99999999999\n", "12\n13\n"}) {
            write_text(bad);
            auto r = running_master(path);
            REQUIRE_FALSE(r);
            CHECK(contains(r.error(), "does not hold a pid"));
        }
    }
    SECTION("an unrelated process, a gone one, another user's") {
        const pid_t child = ::fork();
        REQUIRE(child >= 0);
        if (child == 0) {
            ::execl("/bin/sleep", "sleep", "30", static_cast<char*>(nullptr));
            ::_exit(127);
        }
        // Until exec has happened (and set up the new arguments) the child is still this
        // executable, with this title.
        const std::string cmdline_path = "/proc/" + std::to_string(child) + "/cmdline";
        for (int i = 0; i < 1000 && slurp(cmdline_path) != std::string{"sleep\0" "30\0", 9}; ++i) {
            ::usleep(2000);
        }
        write_text(std::to_string(child) + "\n");
        auto r = running_master(path);
        ::kill(child, SIGKILL);
        ::waitpid(child, nullptr, 0);
        REQUIRE_FALSE(r);
        INFO(r.error());
        CHECK(contains(r.error(), "is not a preforkd master (it is \"sleep 30\"); not touching it"));

        auto gone = running_master(path);   // reaped: the pid is free
        REQUIRE_FALSE(gone);
        CHECK(contains(gone.error(), "a stale pid file"));

        // This process, but asked about by somebody else than its user.
        write_text(std::to_string(::getpid()) + "\n");
        const uid_t stranger = ::geteuid() == 0 ? 65534 : ::geteuid() + 1;
        auto foreign = find_master(path, stranger);
        REQUIRE_FALSE(foreign);
        CHECK(contains(foreign.error(), "is run by uid " + std::to_string(::geteuid()) + ", not by you"));
        if (::geteuid() == 0) {
            // A pid file somebody else wrote names our process: not trusted even by root.
            REQUIRE(::chown(path.c_str(), 65534, 65534) == 0);
            auto planted = find_master(path, 0);
            REQUIRE_FALSE(planted);
            CHECK(contains(planted.error(), "belongs to uid 65534 but pid"));
        }
    }
}
