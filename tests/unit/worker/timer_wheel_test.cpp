#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <vector>

#include "worker/timer_wheel.hpp"

using pfd::worker::timer_wheel;
using tick_t = timer_wheel::tick_t;

namespace {

// Advances to `now` and returns the ids fired, in firing order.
std::vector<std::uint32_t> advance(timer_wheel& w, tick_t now) {
    std::vector<std::uint32_t> fired;
    w.advance(now, [&](std::uint32_t id) { fired.push_back(id); });
    return fired;
}

// Steps one tick at a time up to `until`; returns the tick at which each id fired
// (an id firing twice is recorded twice).
std::multimap<std::uint32_t, tick_t> step_until(timer_wheel& w, tick_t until) {
    std::multimap<std::uint32_t, tick_t> at;
    for (tick_t t = w.now() + 1; t <= until; ++t) {
        for (auto id : advance(w, t)) {
            at.emplace(id, t);
        }
    }
    return at;
}

using ids = std::vector<std::uint32_t>;

// The ids in increasing order, for checks that do not care in which order a tick fires them.
ids sorted(ids fired) {
    std::sort(fired.begin(), fired.end());
    return fired;
}

}  // namespace

TEST_CASE("a deadline fires at its tick, not before", "[worker][timer_wheel]") {
    timer_wheel w{4, 8};
    CHECK(w.now() == 0);
    w.arm(1, 5);
    CHECK(w.armed(1));
    CHECK(advance(w, 4).empty());
    CHECK(w.armed(1));
    CHECK(advance(w, 5) == ids{1});
    CHECK_FALSE(w.armed(1));
    CHECK(w.now() == 5);
    CHECK(advance(w, 20).empty());  // fires once only
}

TEST_CASE("stepping tick by tick fires each deadline exactly at its tick", "[worker][timer_wheel]") {
    timer_wheel w{8, 8};
    for (std::uint32_t id = 0; id < 8; ++id) {
        w.arm(id, 1 + id * 3);  // 1, 4, ..., 22: several turns of an 8-slot wheel
    }
    const auto at = step_until(w, 40);
    REQUIRE(at.size() == 8);
    for (std::uint32_t id = 0; id < 8; ++id) {
        CAPTURE(id);
        REQUIRE(at.count(id) == 1);
        CHECK(at.find(id)->second == 1 + id * 3);
    }
}

TEST_CASE("a deadline passed over by a jump fires at that advance", "[worker][timer_wheel]") {
    timer_wheel w{2, 8};
    w.arm(0, 3);
    CHECK(advance(w, 2).empty());
    CHECK(advance(w, 6) == ids{0});
}

TEST_CASE("re-arming moves the deadline", "[worker][timer_wheel]") {
    timer_wheel w{2, 8};
    SECTION("later") {
        w.arm(0, 3);
        w.arm(0, 6);
        CHECK(advance(w, 3).empty());
        CHECK(advance(w, 5).empty());
        CHECK(advance(w, 6) == ids{0});
        CHECK(advance(w, 30).empty());
    }
    SECTION("earlier") {
        w.arm(0, 7);
        w.arm(0, 2);
        CHECK(advance(w, 2) == ids{0});
        CHECK(advance(w, 30).empty());
    }
    SECTION("into a later turn of the wheel, same slot") {
        w.arm(0, 3);
        w.arm(0, 11);  // 11 & 7 == 3
        CHECK(advance(w, 3).empty());
        CHECK(w.armed(0));
        CHECK(advance(w, 10).empty());
        CHECK(advance(w, 11) == ids{0});
    }
}

TEST_CASE("a deadline moved later again and again fires once, at the last one", "[worker][timer_wheel]") {
    // What a busy keep-alive connection does: every request pushes its deadline on.
    timer_wheel w{3, 8};
    w.arm(0, 4);
    w.arm(1, 6);
    tick_t deadline = 4;
    std::multimap<std::uint32_t, tick_t> at;
    for (tick_t t = 1; t <= 60; ++t) {
        if (t < 40) {
            deadline = t + 4;   // moved later at every tick, past several turns of the wheel
            w.arm(0, deadline);
        }
        for (auto id : advance(w, t)) {
            at.emplace(id, t);
        }
    }
    REQUIRE(at.count(0) == 1);
    CHECK(at.find(0)->second == 43);
    REQUIRE(at.count(1) == 1);
    CHECK(at.find(1)->second == 6);
}

TEST_CASE("moved later, then earlier than where it is linked, it fires at the earlier one", "[worker][timer_wheel]") {
    timer_wheel w{2, 8};
    w.arm(0, 5);
    w.arm(0, 20);   // later: stays linked at 5
    w.arm(0, 3);    // earlier than 5: relinked
    CHECK(advance(w, 2).empty());
    CHECK(advance(w, 3) == ids{0});
    CHECK(advance(w, 30).empty());
}

TEST_CASE("disarm prevents firing", "[worker][timer_wheel]") {
    timer_wheel w{3, 8};
    w.arm(0, 2);
    w.arm(1, 2);
    w.arm(2, 2);
    w.disarm(1);
    CHECK_FALSE(w.armed(1));
    w.disarm(1);  // twice is harmless
    const auto fired = sorted(advance(w, 5));
    CHECK(fired == ids{0, 2});
    CHECK(advance(w, 100).empty());
}

TEST_CASE("disarm of the head, middle and tail of a slot's list keeps the others", "[worker][timer_wheel]") {
    for (std::uint32_t gone = 0; gone < 3; ++gone) {
        CAPTURE(gone);
        timer_wheel w{3, 4};
        w.arm(0, 5);
        w.arm(1, 5);
        w.arm(2, 5);
        w.disarm(gone);
        const auto fired = sorted(advance(w, 5));
        ids expected;
        for (std::uint32_t id = 0; id < 3; ++id) {
            if (id != gone) {
                expected.push_back(id);
            }
        }
        CHECK(fired == expected);
    }
}

TEST_CASE("a deadline beyond one turn of the wheel fires at its tick, not a turn early", "[worker][timer_wheel]") {
    timer_wheel w{1, 8};
    w.arm(0, 20);  // slot 20 & 7 == 4, walked at ticks 4, 12 and 20
    SECTION("tick by tick") {
        const auto at = step_until(w, 30);
        REQUIRE(at.size() == 1);
        CHECK(at.begin()->second == 20);
    }
    SECTION("landing exactly on the earlier turns") {
        CHECK(advance(w, 4).empty());
        CHECK(advance(w, 12).empty());
        CHECK(advance(w, 19).empty());
        CHECK(advance(w, 20) == ids{0});
    }
}

TEST_CASE("a long stall fires everything due exactly once and nothing early", "[worker][timer_wheel]") {
    timer_wheel w{6, 8};
    w.arm(0, 1);
    w.arm(1, 7);
    w.arm(2, 8);
    w.arm(3, 30);
    w.arm(4, 31);  // not due at 30
    w.arm(5, 50);  // 50 & 7 == 2, a slot the jump walks: not due
    const auto fired = sorted(advance(w, 30));  // a jump of more than the 8 slots
    CHECK(fired == ids{0, 1, 2, 3});
    CHECK(w.armed(4));
    CHECK(w.armed(5));
    CHECK(advance(w, 31) == ids{4});
    CHECK(advance(w, 49).empty());
    CHECK(advance(w, 1000) == ids{5});
    CHECK(advance(w, 5000).empty());
}

TEST_CASE("a jump of exactly the wheel size walks every slot once", "[worker][timer_wheel]") {
    timer_wheel w{8, 8};
    for (std::uint32_t id = 0; id < 8; ++id) {
        w.arm(id, 1 + id);  // one per slot
    }
    const auto fired = sorted(advance(w, 8));
    CHECK(fired == ids{0, 1, 2, 3, 4, 5, 6, 7});
}

TEST_CASE("arming at or before now fires on the next advance", "[worker][timer_wheel]") {
    timer_wheel w{3, 8};
    CHECK(advance(w, 10).empty());
    w.arm(0, 10);  // now
    w.arm(1, 3);   // in the past
    w.arm(2, 0);
    CHECK(w.armed(0));
    const auto fired = sorted(advance(w, 11));
    CHECK(fired == ids{0, 1, 2});
}

TEST_CASE("advance to the same or an earlier tick does nothing", "[worker][timer_wheel]") {
    timer_wheel w{1, 8};
    CHECK(advance(w, 5).empty());
    w.arm(0, 6);
    CHECK(advance(w, 5).empty());
    CHECK(advance(w, 2).empty());
    CHECK(w.now() == 5);
    CHECK(advance(w, 6) == ids{0});
}

TEST_CASE("the fire callback may re-arm the same id", "[worker][timer_wheel]") {
    timer_wheel w{2, 8};
    std::vector<tick_t> fired_at;
    w.arm(0, 3);
    for (tick_t t = 1; t <= 40; ++t) {
        w.advance(t, [&](std::uint32_t id) {
            REQUIRE(id == 0);
            CHECK_FALSE(w.armed(0));  // unlinked before fire
            fired_at.push_back(t);
            w.arm(0, t + 5);  // a periodic timer
        });
    }
    CHECK(fired_at == std::vector<tick_t>{3, 8, 13, 18, 23, 28, 33, 38});
    CHECK(w.armed(0));
}

TEST_CASE("a fire callback that re-arms for now fires on the next advance, not again now", "[worker][timer_wheel]") {
    timer_wheel w{1, 8};
    w.arm(0, 2);
    int fires = 0;
    w.advance(2, [&](std::uint32_t) {
        ++fires;
        w.arm(0, 2);  // at or before now
    });
    CHECK(fires == 1);
    w.advance(3, [&](std::uint32_t) { ++fires; });
    CHECK(fires == 2);
}

TEST_CASE("many ids with random deadlines and advances fire once, on time", "[worker][timer_wheel]") {
    constexpr std::uint32_t n = 2000;
    timer_wheel w{n, 64};
    std::mt19937 rng{12345};
    std::vector<tick_t> deadline(n, 0);  // 0 = not armed in the model
    for (std::uint32_t id = 0; id < n; ++id) {
        deadline[id] = 1 + rng() % 500;
        w.arm(id, deadline[id]);
    }
    // Some moved, some cancelled.
    for (std::uint32_t id = 0; id < n; id += 7) {
        deadline[id] = 1 + rng() % 500;
        w.arm(id, deadline[id]);
    }
    for (std::uint32_t id = 3; id < n; id += 11) {
        deadline[id] = 0;
        w.disarm(id);
    }
    tick_t now = 0;
    std::size_t mismatches = 0;
    std::size_t total = 0;
    while (now < 600) {
        const tick_t next = now + 1 + rng() % 90;  // jumps of up to 90 ticks on a 64-slot wheel
        std::vector<int> count(n, 0);
        w.advance(next, [&](std::uint32_t id) { ++count[id]; });
        for (std::uint32_t id = 0; id < n; ++id) {
            const bool due = deadline[id] != 0 && deadline[id] <= next;
            if (count[id] != (due ? 1 : 0)) {
                ++mismatches;
            }
            if (due) {
                deadline[id] = 0;
                ++total;
            }
            if ((deadline[id] != 0) != w.armed(id)) {
                ++mismatches;
            }
        }
        now = next;
    }
    CHECK(mismatches == 0);
    CHECK(total == n - (n + 10) / 11);
}
