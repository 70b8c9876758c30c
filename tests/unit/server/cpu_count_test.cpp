#include <catch2/catch.hpp>

#include <sched.h>

#include <optional>
#include <string_view>

#include "server/cpu_count.hpp"

using namespace pfd::server;

TEST_CASE("cpu.max of \"max\" means no quota", "[cpu_count]") {
    CHECK_FALSE(cpus_from_cpu_max("max 100000").has_value());
    CHECK_FALSE(cpus_from_cpu_max("max 100000\n").has_value());
}

TEST_CASE("cpu.max quotas are whole CPUs, rounded up", "[cpu_count]") {
    CHECK(cpus_from_cpu_max("200000 100000") == std::optional<unsigned>{2});
    CHECK(cpus_from_cpu_max("150000 100000") == std::optional<unsigned>{2});
    CHECK(cpus_from_cpu_max("50000 100000") == std::optional<unsigned>{1});
    CHECK(cpus_from_cpu_max("1 100000") == std::optional<unsigned>{1});
    CHECK(cpus_from_cpu_max("100000 100000") == std::optional<unsigned>{1});
    CHECK(cpus_from_cpu_max("100001 100000") == std::optional<unsigned>{2});
    CHECK(cpus_from_cpu_max("800000 100000") == std::optional<unsigned>{8});
    CHECK(cpus_from_cpu_max("300000 50000") == std::optional<unsigned>{6});
}

TEST_CASE("cpu.max as read from the file, with its newline, is understood", "[cpu_count]") {
    CHECK(cpus_from_cpu_max("400000 100000\n") == std::optional<unsigned>{4});
    CHECK(cpus_from_cpu_max("250000 100000\n") == std::optional<unsigned>{3});
}

TEST_CASE("unreadable cpu.max content gives no limit", "[cpu_count]") {
    for (std::string_view garbage :
         {"", "garbage", "abc def", "100000", "\n", " 100000", "100000 ", "0 100000", "100000 0", "-5 100000"}) {
        CAPTURE(garbage);
        CHECK_FALSE(cpus_from_cpu_max(garbage).has_value());
    }
}

TEST_CASE("usable_cpus is at least 1 and at most the CPUs in the affinity mask", "[cpu_count]") {
    const unsigned n = usable_cpus();
    CHECK(n >= 1);
    cpu_set_t set;
    CPU_ZERO(&set);
    REQUIRE(sched_getaffinity(0, sizeof set, &set) == 0);
    CHECK(n <= static_cast<unsigned>(CPU_COUNT(&set)));
    // Deterministic: the same answer twice.
    CHECK(usable_cpus() == n);
}
