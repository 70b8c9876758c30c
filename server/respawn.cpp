#include "server/respawn.hpp"

#include <string>

#include "handlers/module_library.hpp"

#include <sys/wait.h>

#include <algorithm>
#include <cstdio>
#include <cstring>

#include "base/log.hpp"

namespace pfd::server {

namespace {
using std::chrono::milliseconds;
constexpr milliseconds first_backoff{100};
}  // namespace

// Back off only when workers keep dying young on their own.
milliseconds backoff_after(slot_state& s, const supervisor_settings& sup, steady_clock::duration uptime,
                           const char* kill_reason) noexcept {
    const bool early = uptime < sup.min_uptime && kill_reason == nullptr;
    s.early_deaths = early ? s.early_deaths + 1 : 0;
    milliseconds delay{0};
    if (s.early_deaths >= 2) {
        const unsigned shift = std::min(s.early_deaths - 2, 16U);
        delay = std::min<milliseconds>(first_backoff * (1U << shift), sup.restart_delay_max);
    }
    return delay;
}

// " in route /app/ (module /path/libx.so)" if the worker died inside a module's code.
std::string module_at_death(const worker_proc& w, const generation& current, const generation* previous,
                            const worker_pool& pool) noexcept {
    const std::uint32_t at = pool.stats(w).in_module.load(std::memory_order_relaxed);
    const generation* g = w.config_gen == current.number ? &current
                          : previous != nullptr && w.config_gen == previous->number ? previous : nullptr;
    if (at == 0 || g == nullptr || at > g->cfg.worker.routes.size()) {
        return {};
    }
    try {
        const handlers::route_spec& r = g->cfg.worker.routes[at - 1];
        return " in route " + (r.prefix.empty() ? r.path : r.prefix) +
               (r.module != nullptr ? " (module " + r.module->path() + ")" : std::string{});
    } catch (...) {
        return {};
    }
}

// preforkd_worker_restarts_total: a worker the master retired for a reason (scale,
// reload, recycle), one it killed for hanging while it served, or one that died on its
// own while it served (a crash). A stop is none of these: nothing replaces the worker.
namespace {
void count_restart(const worker_proc& w, bool serving, worker_pool& pool) noexcept {
    std::optional<worker::restart_reason> why = w.retire_reason;
    if (why == worker::restart_reason::hang && !serving) {
        why.reset();   // a hang during a stop: killed, not replaced
    } else if (!why && serving) {
        why = worker::restart_reason::crash;
    }
    if (why) {
        auto& n = pool.server().restarts[static_cast<std::size_t>(*why)];
        n.store(n.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);   // the master only writes it
    }
}
}  // namespace

bool after_exit(const worker_proc& w, int status, bool serving, generation& current, generation* previous,
                worker_pool& pool) noexcept {
    count_restart(w, serving, pool);
    const auto now = steady_clock::now();
    const auto uptime = now - w.started;

    char how[640];
    if (WIFSIGNALED(status)) {
        const std::string in_module = module_at_death(w, current, previous, pool);
        std::snprintf(how, sizeof how, "killed by signal %d (%s)%s%s%s", WTERMSIG(status), strsignal(WTERMSIG(status)),
                      in_module.c_str(), w.kill_reason != nullptr ? ": " : "", w.kill_reason != nullptr ? w.kill_reason : "");
    } else {
        std::snprintf(how, sizeof how, "exited with code %d", WEXITSTATUS(status));
    }
    const bool of_current = w.config_gen == current.number && w.slot < current.slots.size();
    const bool serving_current = serving && of_current;

    // A recycling replacement that died before it took over: the worker it was to
    // replace goes on serving, and the next try backs off as a crash loop's respawn would.
    auto& procs = pool.procs();
    const auto replaced = std::find_if(procs.begin(), procs.end(), [&](const worker_proc& p) {
        return p.replaced_by == w.pid && !p.draining;
    });
    if (serving_current && replaced != procs.end()) {
        replaced->replaced_by = 0;
        slot_state& s = current.slots[w.slot];
        const milliseconds delay = backoff_after(s, current.cfg.supervisor, uptime, w.kill_reason);
        s.recycle_at = now + delay;
        log_warn("worker %u pid %d, replacing pid %d, %s after %.1f s, before it took over; %u early exits in a "
                 "row, next replacement in %lld ms", w.slot, static_cast<int>(w.pid), static_cast<int>(replaced->pid),
                 how, to_seconds(uptime), s.early_deaths, static_cast<long long>(delay.count()));
        return serving_current;
    }

    // The generation that serves until the pending one is ready: keep its capacity.
    if (serving && previous != nullptr && w.config_gen == previous->number && w.slot < previous->slots.size() &&
        !pool.slot_served(previous->number, w.slot)) {
        slot_state& s = previous->slots[w.slot];
        ++s.restarts;
        const milliseconds delay = backoff_after(s, previous->cfg.supervisor, uptime, w.kill_reason);
        s.respawn_at = now + delay;
        log_warn("worker %u pid %d %s after %.1f s; generation %u serves until generation %u is ready: "
                 "respawning it in %lld ms (%u early exits in a row)",
                 w.slot, static_cast<int>(w.pid), how, to_seconds(uptime), previous->number, current.number,
                 static_cast<long long>(delay.count()), s.early_deaths);
        return serving_current;
    }

    if (!serving_current || pool.slot_served(current.number, w.slot)) {
        // Planned: a stop, a recycle, a reload, or a worker whose replacement already serves.
        log_line("worker %u pid %d %s after %.1f s", w.slot, static_cast<int>(w.pid), how, to_seconds(uptime));
        return serving_current;
    }

    slot_state& s = current.slots[w.slot];
    ++s.restarts;
    const milliseconds delay = backoff_after(s, current.cfg.supervisor, uptime, w.kill_reason);
    s.respawn_at = now + delay;
    if (delay.count() == 0) {
        log_warn("worker %u pid %d %s after %.1f s; respawning now", w.slot, static_cast<int>(w.pid), how,
                 to_seconds(uptime));
    } else {
        log_error("worker %u pid %d %s after %.1f s; %u early exits in a row, respawn in %lld ms", w.slot,
                 static_cast<int>(w.pid), how, to_seconds(uptime), s.early_deaths, static_cast<long long>(delay.count()));
    }
    return serving_current;
}

void respawn_due(worker_pool& pool, generation& g, const listener_set& sockets) noexcept {
    const auto now = steady_clock::now();
    for (unsigned i = 0; i < g.slots.size(); ++i) {
        auto& at = g.slots[i].respawn_at;
        if (!at) {
            continue;
        }
        if (pool.slot_served(g.number, i)) {
            at.reset();   // or the poll timeout would wait for it: a busy loop
        } else if (*at <= now) {
            pool.start(g, i, sockets);
        }
    }
}

std::optional<steady_clock::time_point> next_respawn(const generation& g) noexcept {
    std::optional<steady_clock::time_point> next;
    for (const auto& s : g.slots) {
        if (s.respawn_at && (!next || *s.respawn_at < *next)) {
            next = s.respawn_at;
        }
    }
    return next;
}

}  // namespace pfd::server
