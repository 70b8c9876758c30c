#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include <cerrno>
#include <vector>

#include "base/unique_fd.hpp"
#include "server/steering_program.hpp"

using namespace pfd;
using namespace pfd::server;

namespace {

// A reuseport group of `n` listening sockets on one loopback port, in join order.
struct group {
    std::vector<unique_fd> sockets;
    sockaddr_in addr{};

    explicit group(unsigned n) {
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        for (unsigned i = 0; i < n; ++i) {
            unique_fd fd{::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
            REQUIRE(fd.valid());
            const int one = 1;
            REQUIRE(::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) == 0);
            REQUIRE(::bind(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
            if (i == 0) {
                socklen_t len = sizeof addr;
                REQUIRE(::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
            }
            REQUIRE(::listen(fd.get(), 256) == 0);
            sockets.push_back(std::move(fd));
        }
    }

    void attach(const steering& s) {
        std::vector<sock_filter> code = steering_program(s);
        sock_fprog prog{.len = static_cast<unsigned short>(code.size()), .filter = code.data()};
        REQUIRE(::setsockopt(sockets[0].get(), SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &prog, sizeof prog) == 0);
    }

    // Opens `count` connections and returns how many each socket queued.
    std::vector<unsigned> connect_and_count(unsigned count) {
        std::vector<unique_fd> clients;
        for (unsigned i = 0; i < count; ++i) {
            unique_fd c{::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)};
            REQUIRE(c.valid());
            REQUIRE(::connect(c.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0);
            clients.push_back(std::move(c));
        }
        std::vector<unsigned> queued(sockets.size(), 0);
        for (std::size_t k = 0; k < sockets.size(); ++k) {
            while (true) {
                unique_fd a{::accept4(sockets[k].get(), nullptr, nullptr, SOCK_CLOEXEC)};
                if (!a.valid()) {
                    REQUIRE((errno == EAGAIN || errno == EWOULDBLOCK));
                    break;
                }
                ++queued[k];
            }
        }
        return queued;
    }
};

// Runs the calling thread on `cpu` until the end of the scope.
struct pinned {
    cpu_set_t before{};
    explicit pinned(unsigned cpu) {
        REQUIRE(::sched_getaffinity(0, sizeof before, &before) == 0);
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        REQUIRE(::sched_setaffinity(0, sizeof one, &one) == 0);
    }
    ~pinned() { ::sched_setaffinity(0, sizeof before, &before); }
    pinned(const pinned&) = delete;
    pinned& operator=(const pinned&) = delete;
};

bool may_run_on(unsigned cpu) {
    cpu_set_t set;
    return ::sched_getaffinity(0, sizeof set, &set) == 0 && CPU_ISSET(cpu, &set);
}

}  // namespace

TEST_CASE("spread at random, new connections go only to the first `sockets`", "[steering]") {
    group g{4};
    g.attach({.sockets = 3});
    const auto queued = g.connect_and_count(60);
    CHECK(queued[0] > 0);
    CHECK(queued[1] > 0);
    CHECK(queued[2] > 0);   // each 0 by chance with probability (2/3)^60
    CHECK(queued[3] == 0);
}

TEST_CASE("skipped sockets get no new connection, the others all of them", "[steering]") {
    group g{4};
    const unsigned skipped[] = {0, 2};
    g.attach({.sockets = 4, .skipped = skipped});
    const auto queued = g.connect_and_count(40);
    CHECK(queued[0] == 0);
    CHECK(queued[2] == 0);
    CHECK(queued[1] > 0);
    CHECK(queued[3] > 0);
    CHECK(queued[1] + queued[3] == 40);
}

TEST_CASE("when every socket is skipped, none is", "[steering]") {
    group g{2};
    const unsigned skipped[] = {0, 1};
    g.attach({.sockets = 2, .skipped = skipped});
    const auto queued = g.connect_and_count(40);
    CHECK(queued[0] > 0);
    CHECK(queued[1] > 0);
}

TEST_CASE("by CPU: a connection goes to its CPU's socket, or elsewhere when that one is skipped", "[steering]") {
    // Connections made on loopback have their SYN taken in on the connecting CPU.
    if (!may_run_on(0) || !may_run_on(1)) {
        WARN("skipped: needs CPUs 0 and 1");
        return;
    }
    const auto cpus = static_cast<unsigned>(::get_nprocs_conf());
    group g{3};
    g.attach({.sockets = 2, .by_cpu = true, .cpus = cpus});
    for (unsigned cpu : {0U, 1U}) {
        pinned on{cpu};
        const auto queued = g.connect_and_count(20);
        CHECK(queued[cpu] == 20);
    }
    const unsigned skipped[] = {0};
    g.attach({.sockets = 3, .by_cpu = true, .cpus = cpus, .skipped = skipped});
    {
        pinned on{0};
        const auto queued = g.connect_and_count(40);
        CHECK(queued[0] == 0);
        CHECK(queued[1] > 0);   // one of the open ones at random
        CHECK(queued[2] > 0);
    }
    {
        pinned on{1};
        const auto queued = g.connect_and_count(20);
        CHECK(queued[1] == 20);   // 1 + CPUs is past the sockets: its own

    }
}
