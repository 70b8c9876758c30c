#include "server/reload.hpp"

#include <algorithm>
#include <cstring>
#include <string>

#include "base/log.hpp"
#include "server/log_files.hpp"
#include "server/privileges.hpp"

namespace pfd::server {

namespace {

bool same_address(const listen_address& a, const listen_address& b) noexcept {
    return a.addr_len == b.addr_len && std::memcmp(&a.addr, &b.addr, a.addr_len) == 0;
}

// Tells the workers of the generations `of` picks that are not draining yet to drain; how many.
template <class Pred>
std::size_t drain_generations(worker_pool& pool, std::chrono::milliseconds graceful_timeout, Pred of) noexcept {
    std::size_t n = 0;
    for (auto& w : pool.procs()) {
        if (of(w.config_gen) && !w.draining) {
            pool.drain(w, graceful_timeout, worker::restart_reason::reload);
            ++n;
        }
    }
    return n;
}

}  // namespace

void reload_state::on_hup(generation& current, worker_pool& pool) noexcept {
    if (may_proceed()) {
        log_line("received SIGHUP: reloading %s", current.cfg.path.c_str());
        requested_ = false;
        reload(current, pool);
    } else {
        log_line("received SIGHUP: generation %u is still starting; %s is read again once it is ready "
                 "(the newest file wins)", current.number, current.cfg.path.c_str());
        requested_ = true;
    }
}

void reload_state::step(generation& current, worker_pool& pool) noexcept {
    retire_previous(current, pool);
    if (requested_ && may_proceed()) {
        requested_ = false;
        reload(current, pool);
    }
}

void reload_state::cancel() noexcept {
    previous_.reset();
    deadline_.reset();
    requested_ = false;
}

bool reload_state::may_proceed() const noexcept {
    return !previous_ || pending_failed_ || steady_clock::now() >= *deadline_;
}

// Draining workers hold scoreboard entries until they exit (graceful_timeout at most):
// a reload waits for enough of them rather than start a generation that cannot fit.
void reload_state::defer(std::size_t free, unsigned needed, const generation& current) noexcept {
    requested_ = true;
    if (!deferred_logged_) {
        deferred_logged_ = true;
        log_line("reload: %zu free scoreboard entries, %u needed; %s is read again once draining workers have "
                 "exited", free, needed, current.cfg.path.c_str());
    }
}

// The previous generation drains once the new one is ready in every slot (or at
// deadline_, so a new generation that cannot start never keeps the old configuration
// serving forever... nor leaves the service without workers: the old ones drain only
// when at least one new worker is ready).
void reload_state::retire_previous(const generation& current, worker_pool& pool) noexcept {
    if (!previous_) {
        return;
    }
    // Slots of the new generation with a ready worker (not one told to drain, and a
    // recycling pair counts once).
    const unsigned workers = current.cfg.workers;
    std::vector<bool> ready_slot(workers, false);
    for (const auto& w : pool.procs()) {
        if (w.config_gen == current.number && !w.draining && w.slot < ready_slot.size() && pool.ready(w)) {
            ready_slot[w.slot] = true;
        }
    }
    const auto ready = static_cast<std::size_t>(std::count(ready_slot.begin(), ready_slot.end(), true));
    const bool all_ready = ready >= workers;
    if (!all_ready && (ready == 0 || steady_clock::now() < *deadline_)) {
        return;
    }
    const std::size_t drained = drain_generations(pool, current.cfg.supervisor.graceful_timeout,
                                                   [&](std::uint32_t gen) { return gen != current.number; });
    log_line("reload: %zu of %u new workers ready; draining %zu old worker(s)", ready, workers, drained);
    previous_.reset();   // its own sockets (another address) stay open in its draining workers only
    deadline_.reset();
    pending_failed_ = false;
}

// Re-read the configuration; if it is invalid, keep everything as it is. If valid,
// start a new generation of workers with it and drain the old one once it is ready.
// A reload that supersedes a pending one stops that generation's workers (none of them
// got to serve alone) and keeps the generation that served before it serving.
void reload_state::reload(generation& current, worker_pool& pool) noexcept {
    if (const std::size_t free = pool.free_board_entries(); free < current.cfg.workers) {
        defer(free, current.cfg.workers, current);
        return;
    }
    auto fresh = load_config(current.cfg.path);
    if (!fresh) {
        for (const auto& e : fresh.error()) {
            log_line("reload failed: %s", e.c_str());
        }
        log_line("reload failed: %s is invalid; still serving the previous configuration", current.cfg.path.c_str());
        return;
    }
    config next = std::move(*fresh);
    for (const auto& w : next.warnings) {
        log_line("reload: %s", w.c_str());
    }
    if (next.workers > pool.max_workers()) {
        log_line("reload failed: workers = %u is more than this master can run (%u: its scoreboard is sized at "
                 "start); restart it to go further; still serving the previous configuration",
                 next.workers, pool.max_workers());
        return;
    }
    // A user the workers cannot become, or an fd limit the kernel refuses: the new
    // generation's workers would exit at once, so it is not started at all.
    if (auto ok = prepare_workers(next); !ok) {
        log_error("reload failed: %s; still serving the previous configuration", ok.error().c_str());
        return;
    }
    if (next.metrics.enabled != current.cfg.metrics.enabled ||
        (next.metrics.enabled && !same_address(next.metrics.listen, current.cfg.metrics.listen))) {
        log_warn("reload: [metrics] listen changed; the master's metrics listener stays as it started (%s) until a "
                 "restart", current.cfg.metrics.enabled ? current.cfg.metrics.listen.text.c_str() : "none");
    }
    if (const std::size_t free = pool.free_board_entries(); free < next.workers) {
        defer(free, next.workers, current);
        return;
    }
    if (current.listeners.activated() && !same_address(next.listen, current.cfg.listen)) {
        log_warn("reload: listen = \"%s\" is not used: the listening socket%s came from systemd (socket "
                 "activation) and stay%s; still listening on %s", next.listen.text.c_str(),
                 current.listeners.size() == 1 ? "" : "s", current.listeners.size() == 1 ? "s" : "",
                 current.cfg.listen.text.c_str());
        next.listen = current.cfg.listen;
    }
    // Back to the address the serving generation still listens on (a pending reload had
    // moved away from it): its sockets are the ones to keep.
    const bool from_previous =
        previous_ && !previous_->listeners.empty() && same_address(next.listen, previous_->cfg.listen);
    generation& base = from_previous ? *previous_ : current;
    auto carried = base.listeners.carry_over(base.cfg, next);
    if (!carried) {
        log_line("reload failed: %s; still serving the previous configuration", carried.error().c_str());
        return;
    }
    if (next.pid_file != current.cfg.pid_file || next.control_socket != current.cfg.control_socket) {
        log_line("reload: pid_file and control_socket changes take effect at the next start");
        next.pid_file = current.cfg.pid_file;
        next.control_socket = current.cfg.control_socket;
    }
    if (carried->shares_group) {
        pool.mark_removed_sockets(current.listeners, carried->sockets.size());
    }
    // The old workers keep their own copies of the old sockets until they let go of them.
    listener_set old_sockets = std::exchange(current.listeners, std::move(carried->sockets));
    if (carried->shares_group) {
        current.listeners.steer(pool.removed_socket_held());
    }
    const unsigned old_workers = current.cfg.workers;
    const std::uint32_t superseded = previous_ ? current.number : 0;
    std::vector<slot_state> slots(next.workers);
    for (std::size_t i = 0; i < slots.size() && i < current.slots.size(); ++i) {
        slots[i].restarts = current.slots[i].restarts;
        slots[i].spawns = current.slots[i].spawns;
    }
    if (!previous_) {
        previous_.emplace(generation{.cfg = std::move(current.cfg), .number = current.number,
                                     .slots = std::move(current.slots), .listeners = {}});
    }
    if (from_previous) {
        previous_->listeners.close_all();   // the rest were removed slots' sockets; its workers hold them
    } else if (previous_->listeners.empty() && !same_address(next.listen, previous_->cfg.listen)) {
        previous_->listeners = std::move(old_sockets);   // its workers may need replacing until the new ones serve
        previous_->listeners.park();
    }
    old_sockets.close_all();   // before the forks below: a new worker must not inherit them
    apply_log_config(next);    // the master opens what the new workers will write to
    current.cfg = std::move(next);
    ++current.number;
    current.slots = std::move(slots);
    pending_failed_ = false;
    deferred_logged_ = false;
    if (superseded != 0) {
        const std::size_t stopped = drain_generations(pool, current.cfg.supervisor.graceful_timeout,
                                                      [&](std::uint32_t gen) { return gen == superseded; });
        log_line("reload: generation %u was not ready yet; stopping its %zu worker(s); generation %u serves "
                 "until the new one is ready", superseded, stopped, previous_->number);
    }
    log_line("reload: %s is valid; starting generation %u: %u worker(s) (was %u), listening on %s (balance %s)",
             current.cfg.path.c_str(), current.number, current.cfg.workers, old_workers,
             current.cfg.listen.text.c_str(), balance_name(current.cfg));
    deadline_ = steady_clock::now() + current.cfg.supervisor.worker_timeout;
    for (unsigned i = 0; i < current.cfg.workers; ++i) {
        pool.start(current, i, current.listeners);
    }
}

}  // namespace pfd::server
