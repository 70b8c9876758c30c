#include "server/worker_pool.hpp"

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#include <sys/prctl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "base/log.hpp"
#include "base/cpu_affinity.hpp"
#include "server/listeners.hpp"
#include "server/privileges.hpp"
#include "server/proc_title.hpp"
#include "worker/worker.hpp"

namespace pfd::server {

worker_pool::worker_pool(worker::scoreboard board, close_fn close_inherited) noexcept
    : board_{std::move(board)},
      close_inherited_{std::move(close_inherited)},
      rng_{(std::uint64_t{2654435761U} * static_cast<std::uint32_t>(::getpid())) ^ monotonic_ms()} {}

bool worker_pool::entry_free(std::size_t i) const noexcept {
    return board_[i].state.load(std::memory_order_relaxed) == worker::worker_state::empty &&
           std::none_of(procs_.begin(), procs_.end(), [i](const worker_proc& w) { return w.board == i; });
}

std::optional<std::size_t> worker_pool::free_board_entry() const noexcept {
    for (std::size_t i = 0; i < board_.size(); ++i) {
        if (entry_free(i)) {
            return i;
        }
    }
    return std::nullopt;
}

std::size_t worker_pool::free_board_entries() const noexcept {
    std::size_t n = 0;
    for (std::size_t i = 0; i < board_.size(); ++i) {
        if (entry_free(i)) {
            ++n;
        }
    }
    return n;
}

void worker_pool::start(generation& g, unsigned slot, const listener_set& sockets) noexcept {
    const config& c = g.cfg;
    slot_state& s = g.slots[slot];
    const int listen_fd = sockets.fd_for(slot, c.balance);
    s.respawn_at.reset();
    const auto entry = free_board_entry();
    if (!entry) {
        board_full_log_.log("no free scoreboard entry for worker %u; retrying in 1 s", slot);
        s.respawn_at = steady_clock::now() + std::chrono::milliseconds{1000};
        return;
    }
    worker_proc w;
    w.slot = slot;
    w.generation = next_generation_++;
    w.spawn = ++s.spawns;
    w.board = *entry;
    w.config_gen = g.number;
    w.started = steady_clock::now();
    const auto& sup = c.supervisor;
    if (sup.max_requests > 0) {
        // xorshift: jitter only has to differ between workers, not be unpredictable.
        rng_ ^= rng_ << 13;
        rng_ ^= rng_ >> 7;
        rng_ ^= rng_ << 17;
        w.request_limit = sup.max_requests + (sup.max_requests_jitter > 0 ? rng_ % (sup.max_requests_jitter + 1) : 0);
    }
    worker::worker_stats& st = board_[w.board];
    st.slot.store(slot, std::memory_order_relaxed);
    st.generation.store(w.generation, std::memory_order_relaxed);
    st.reset_counters();
    st.holds_listener.store(true, std::memory_order_relaxed);
    st.heartbeat_ms.store(monotonic_ms(), std::memory_order_relaxed);
    st.start_unix_ms.store(unix_ms(), std::memory_order_relaxed);
    st.state.store(worker::worker_state::starting, std::memory_order_relaxed);

    // Its message channel: without one (out of descriptors) it serves all the same, and
    // its modules' send_message answers PFD_EINVAL.
    auto channel = message_relay::open_pair();
    if (!channel) {
        static log_limiter no_channel_log;
        no_channel_log.log("worker %u starts without a message channel: %s failed: %s", slot, channel.error().call,
                           std::strerror(channel.error().code));
    }
    const std::optional<unsigned> cpu = affinity_cpu(c, slot);
    const pid_t master_pid = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
        log_line("fork for worker %u failed: %s; retrying in 1 s", slot, std::strerror(errno));
        st.state.store(worker::worker_state::empty, std::memory_order_relaxed);
        s.respawn_at = steady_clock::now() + std::chrono::milliseconds{1000};
        return;
    }
    if (pid == 0) {
        if (channel) {
            channel->master.reset();
            g.cfg.worker.message_fd = channel->worker.release();   // this process's copy of the configuration
        }
        become_worker(w, master_pid, c, listen_fd, cpu);
    }
    w.pid = pid;
    st.pid.store(pid, std::memory_order_relaxed);
    if (channel) {
        relay_.add(pid, slot, std::move(channel->master));   // its worker end closes here
    }
    procs_.push_back(w);
    log_line("worker %u started, pid %d, generation %u", slot, static_cast<int>(pid), w.config_gen);
}

std::optional<unsigned> worker_pool::affinity_cpu(const config& c, unsigned slot) noexcept {
    if (!c.cpu_affinity) {
        return std::nullopt;
    }
    try {
        // Read at each spawn, not once: a cpuset changed while the master runs (a container
        // resized) then places new workers on CPUs they may use.
        const std::vector<unsigned> allowed = allowed_cpus();
        if (allowed.empty()) {
            return std::nullopt;
        }
        std::string set = describe_cpus(allowed);
        if (set != affinity_logged_) {
            std::string mapping;
            const unsigned shown = std::min(c.workers, 8U);
            for (unsigned i = 0; i < shown; ++i) {
                mapping += (i == 0 ? "slot " : ", slot ") + std::to_string(i) + " on CPU " +
                           std::to_string(cpu_for_slot(allowed, i));
            }
            if (shown < c.workers) {
                mapping += ", ...";
            }
            log_line("cpu_affinity auto: worker slot i runs on the (i mod %zu)-th of the allowed CPUs %s, its "
                     "helper threads with it (%s)", allowed.size(), set.c_str(), mapping.c_str());
            affinity_logged_ = std::move(set);
        }
        return cpu_for_slot(allowed, slot);
    } catch (...) {
        return std::nullopt;   // out of memory: the worker runs on the whole set
    }
}

namespace {

// What a worker does to its process before it serves, in this order: the open-file limit
// while it may still raise the hard one, the CPU, then the identity. Exits on a failure
// that would leave it other than configured (a worker never runs as root when a user is
// configured); a CPU it cannot take is only logged, serving on any CPU is still right.
void set_up_process(const config& c, std::optional<unsigned> cpu) noexcept {
    try {
        if (auto limit = apply_fd_limit(c.rlimit_nofile); !limit) {
            log_line("%s; exiting", limit.error().c_str());
            ::_exit(exit_cannot_drop);
        }
    } catch (...) {
        ::_exit(exit_cannot_drop);
    }
    if (cpu) {
        if (auto pinned = pin_to_cpu(*cpu); !pinned) {
            log_line("cpu_affinity: cannot pin to CPU %u (%s: %s); running on the master's CPUs", *cpu,
                     pinned.error().call, std::strerror(pinned.error().code));
        }
    }
    if (auto dropped = drop_privileges(c); !dropped) {
        log_line("%s; exiting with code %d", dropped.error().c_str(), exit_cannot_drop);
        ::_exit(exit_cannot_drop);
    }
}

}  // namespace

void worker_pool::become_worker(const worker_proc& w, pid_t master_pid, const config& c, int listen_fd,
                                std::optional<unsigned> cpu) noexcept {
    // If the master dies, even by SIGKILL, its workers die with it: no orphans.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != master_pid) {
        ::_exit(0);   // the master died before the line above took effect
    }
    // Before the title: once a worker is named, it holds no socket but its own (another
    // slot's reuseport socket, or one the previous generation keeps, would stay in use).
    close_inherited_(listen_fd);
    relay_.close_in_worker();   // the other workers' channels
    char who[32];
    std::snprintf(who, sizeof who, "worker %u", w.slot);
    set_log_identity(who);
    char title[64];
    std::snprintf(title, sizeof title, "preforkd: worker process %u", w.slot);
    set_proc_title(title);
    // Before the ring, the helper threads and the modules' init: all of them run as the
    // configured user, on the configured CPU.
    set_up_process(c, cpu);
    if (::getppid() != master_pid) {
        ::_exit(0);   // the master died while the drop had unset the parent-death signal
    }

    worker::worker_stats& st = board_[w.board];
    st.pid.store(::getpid(), std::memory_order_relaxed);
    const int rc = worker::run(c.worker, listen_fd, st, board_, c.balance == balance_mode::shared);
#if defined(__SANITIZE_ADDRESS__)
    // _exit skips LeakSanitizer's exit check: without this, no test could see a leak in a worker.
    __lsan_do_leak_check();
#endif
    ::_exit(rc);
}

std::optional<worker_proc> worker_pool::take_exited(pid_t pid) noexcept {
    const auto it = std::find_if(procs_.begin(), procs_.end(), [pid](const worker_proc& w) { return w.pid == pid; });
    if (it == procs_.end()) {
        return std::nullopt;
    }
    const worker_proc w = *it;
    procs_.erase(it);
    relay_.remove(pid);
    board_.retire(w.board, w.slot);
    board_[w.board].state.store(worker::worker_state::empty, std::memory_order_relaxed);
    return w;
}

void worker_pool::drain(worker_proc& w, std::chrono::milliseconds graceful_timeout,
                        std::optional<worker::restart_reason> why) noexcept {
    w.retire_reason = why;
    w.draining = true;
    w.drain_deadline = steady_clock::now() + graceful_timeout;
    ::kill(w.pid, SIGQUIT);
}

void worker_pool::kill_worker(worker_proc& w, const char* reason, std::optional<worker::restart_reason> why) noexcept {
    if (w.kill_reason == nullptr) {
        w.kill_reason = reason;
        if (!w.retire_reason) {
            w.retire_reason = why;
        }
        ::kill(w.pid, SIGKILL);
    }
}

bool worker_pool::slot_served(std::uint32_t gen, unsigned slot) const noexcept {
    return std::any_of(procs_.begin(), procs_.end(), [gen, slot](const worker_proc& w) {
        return w.slot == slot && !w.draining && w.config_gen == gen;
    });
}

void worker_pool::mark_removed_sockets(const listener_set& sockets, std::size_t kept) noexcept {
    for (auto& w : procs_) {
        w.socket_removed = w.socket_removed || sockets.index_of(w.slot) >= kept;
    }
}

bool worker_pool::removed_socket_held() const noexcept {
    return std::any_of(procs_.begin(), procs_.end(), [this](const worker_proc& w) {
        return w.socket_removed && board_[w.board].holds_listener.load(std::memory_order_relaxed);
    });
}

}  // namespace pfd::server
