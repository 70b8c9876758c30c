#include "server/master.hpp"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <optional>
#include <vector>

#include "server/control.hpp"
#include "server/control_clients.hpp"
#include "server/listeners.hpp"
#include "server/proc_stats.hpp"
#include "server/status.hpp"
#include "server/proc_title.hpp"
#include "worker/log.hpp"
#include "worker/scoreboard.hpp"
#include "worker/unique_fd.hpp"
#include "worker/worker.hpp"

namespace pfd::server {

namespace {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds first_backoff{100};
constexpr milliseconds fast_stop_timeout{5'000};
// How often the master looks at heartbeats, request counts and memory.
constexpr milliseconds supervise_every{250};
// While a reload waits for its new workers to report ready, it looks this often.
constexpr milliseconds pending_reload_every{50};

// Reuseport: new connections go only to the first n sockets of fd's group, the slots
// that stay; the sockets of removed slots drain what they hold and close with nothing
// queued (Linux would reset it, unless net.ipv4.tcp_migrate_req is set).
void steer_new_connections(int fd, unsigned n) noexcept {
    if (auto r = spread_over_first_sockets(fd, n); !r) {
        log_line("%s: %s; connections queued on removed sockets may be reset as they close", r.error().call,
                 std::strerror(r.error().code));
    }
}

// One worker process. During a recycle two share a slot: the old one (retiring, then
// draining) and its replacement.
struct worker_proc {
    pid_t pid = 0;
    unsigned slot = 0;
    std::uint32_t generation = 0;          // per spawn, unique: the scoreboard entry's owner
    unsigned spawn = 0;                    // the how-manieth worker started in its slot
    std::size_t board = 0;                 // its scoreboard entry
    std::uint32_t config_gen = 0;          // the configuration it was started with
    clock::time_point started{};
    std::uint64_t request_limit = 0;       // max_requests + jitter; 0: none
    pid_t replaced_by = 0;                 // recycling: the replacement we wait for
    bool draining = false;                 // told to QUIT
    bool socket_removed = false;           // reuseport: its socket left listeners_ (scale-down, reload)
    clock::time_point drain_deadline{};
    const char* kill_reason = nullptr;     // why the master killed it, for the exit log line
    // Once a second: requests and CPU time, for rates over the last 10 s.
    struct sample {
        clock::time_point at{};
        std::uint64_t requests = 0;
        std::uint64_t cpu_ms = 0;
    };
    std::array<sample, 11> samples{};
    std::size_t sample_count = 0;
};

struct slot_state {
    unsigned early_deaths = 0;             // in a row
    unsigned restarts = 0;
    unsigned spawns = 0;
    std::optional<clock::time_point> respawn_at;
    // Recycling: a replacement that died before it was ready is tried again only then.
    std::optional<clock::time_point> recycle_at;
};

// While a reload waits for its new generation, the generation that served before it
// goes on serving, and a worker of it that dies is replaced with its configuration:
// a new generation that cannot start never takes the capacity down with it.
struct serving_generation {
    config cfg;
    std::uint32_t gen = 0;
    std::vector<slot_state> slots;
    // Its listening sockets when the pending reload moved to another address (else it
    // shares listeners_), and the reuseport steering they had.
    std::vector<unique_fd> sockets;
    unsigned steered_over = 0;
};

enum class run_state : std::uint8_t { serving, stopping_gracefully, stopping_fast };

double seconds(clock::duration d) noexcept {
    return std::chrono::duration<double>(d).count();
}

class master {
public:
    master(config cfg, std::vector<unique_fd> listeners, unique_fd sig, worker::scoreboard board,
           control_socket control, pid_file pid, std::vector<std::string> argv, std::string binary_path)
        : pid_file_{std::move(pid)},
          argv_{std::move(argv)},
          binary_path_{std::move(binary_path)},
          cfg_{std::move(cfg)},
          listeners_{std::move(listeners)},
          signal_fd_{std::move(sig)},
          control_{std::move(control)},
          board_{std::move(board)},
          slots_(cfg_.workers),
          rng_{(std::uint64_t{2654435761U} * static_cast<std::uint32_t>(::getpid())) ^ worker::monotonic_now_ms()} {
        steered_over_ = static_cast<unsigned>(listeners_.size());
    }

    int run() noexcept;
    // Started by a binary upgrade: the master that started us, while it runs.
    void set_previous_master(pid_t pid) noexcept { previous_master_ = pid; }

private:
    void spawn(unsigned slot) noexcept;
    void spawn_previous(unsigned slot) noexcept;
    void start_worker(const config& c, std::uint32_t config_gen, unsigned slot, slot_state& s, int listen_fd) noexcept;
    [[noreturn]] void become_worker(const worker_proc& w, pid_t master_pid, const config& c, int listen_fd) noexcept;
    [[nodiscard]] static milliseconds backoff_after(slot_state& s, const supervisor_settings& sup, clock::duration uptime,
                                                    const char* kill_reason) noexcept;
    void reap() noexcept;
    void on_worker_exit(std::size_t index, int status) noexcept;
    void on_signal(std::uint32_t signo) noexcept;
    void begin_stop(run_state how) noexcept;
    void supervise() noexcept;
    void respawn_due() noexcept;
    void take_samples() noexcept;
    void reload() noexcept;
    [[nodiscard]] bool reload_may_proceed() const noexcept;
    void defer_reload(std::size_t free, unsigned needed) noexcept;
    void upgrade() noexcept;
    void on_upgrade_exit(int status) noexcept;
    void scale(unsigned n) noexcept;
    void steer_over_listeners() noexcept;
    [[nodiscard]] bool removed_socket_held() const noexcept;
    void mark_removed_sockets(std::size_t kept) noexcept;
    void retire_old_generation() noexcept;
    [[nodiscard]] std::string answer(std::string_view command);
    [[nodiscard]] master_status status() const;
    void drain(worker_proc& w) noexcept;
    void kill_worker(worker_proc& w, const char* reason) noexcept;
    [[nodiscard]] bool slot_served(unsigned slot) const noexcept;
    [[nodiscard]] bool previous_slot_served(unsigned slot) const noexcept;
    [[nodiscard]] int previous_listener(unsigned slot) const noexcept;
    [[nodiscard]] std::size_t free_board_entries() const noexcept;
    [[nodiscard]] int poll_timeout_ms() const noexcept;
    [[nodiscard]] std::optional<std::size_t> free_board_entry() const noexcept;
    // Each slot may briefly have two workers (recycling, a reload), plus the master's spare.
    [[nodiscard]] unsigned max_workers() const noexcept { return static_cast<unsigned>((board_.size() - 2) / 2); }
    [[nodiscard]] int listener_for(unsigned slot) const noexcept {
        return listeners_.size() == 1 ? listeners_[0].get() : listeners_[slot].get();
    }
    worker::worker_stats& stats(const worker_proc& w) noexcept { return board_[w.board]; }

    pid_file pid_file_;
    std::vector<std::string> argv_;  // to start the new master on USR2 with the same arguments
    std::string binary_path_;        // the executable at start: USR2 runs what is there now
    config cfg_;                  // the current configuration; replaced by a reload
    std::uint32_t config_gen_ = 1;   // bumped by each successful reload
    // A reload is pending while previous_ is set: from the start of a new generation
    // until it is ready (or reload_deadline_ passes with part of it ready).
    std::optional<serving_generation> previous_;
    std::optional<clock::time_point> reload_deadline_;
    bool pending_failed_ = false;      // a worker of the pending generation died before it was ready
    // HUPs that came while a reload was pending collapse into this one: it re-reads the
    // file once the pending one is done (or has failed), so the newest file wins.
    bool reload_requested_ = false;
    bool reload_deferred_logged_ = false;
    // Reuseport: new connections go to the first steered_over_ sockets of the group (at
    // first, with no program attached, to all of them).
    unsigned steered_over_ = 0;
    bool steer_pending_ = false;   // steered_over_ < listeners_.size() until removed sockets close
    unsigned pending_scale_ = 0;   // from the control socket, applied once the client is answered
    pid_t previous_master_ = 0;    // binary upgrade: the old master, our parent until it exits
    pid_t upgrade_pid_ = 0;        // the new master started by USR2, while it runs  // old workers drain by then at the latest
    std::vector<unique_fd> listeners_;
    unique_fd signal_fd_;
    control_socket control_;
    control_clients clients_;
    worker::scoreboard board_;
    clock::time_point started_ = clock::now();
    clock::time_point next_sample_{};
    std::vector<slot_state> slots_;
    std::vector<worker_proc> procs_;
    std::uint32_t next_generation_ = 1;
    std::uint64_t rng_;
    run_state state_ = run_state::serving;
    clock::time_point stop_deadline_{};
    clock::time_point next_supervise_{};
    bool killed_stragglers_ = false;
};

int master::run() noexcept {
    for (unsigned i = 0; i < slots_.size(); ++i) {
        spawn(i);
    }
    const control_clients::answer_fn answer_fn = [this](std::string_view command) { return answer(command); };
    std::vector<pollfd> p;
    while (state_ == run_state::serving || !procs_.empty()) {
        p.clear();
        p.push_back({.fd = signal_fd_.get(), .events = POLLIN, .revents = 0});
        clients_.add_pollfds(control_.fd(), p);
        const int n = ::poll(p.data(), p.size(), poll_timeout_ms());
        if (n < 0 && errno != EINTR) {
            log_line("poll failed: %s; stopping", std::strerror(errno));
            begin_stop(run_state::stopping_fast);
        }
        if (n > 0 && (p[0].revents & POLLIN) != 0) {
            signalfd_siginfo si{};
            while (::read(signal_fd_.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
                on_signal(si.ssi_signo);
            }
        }
        // Every round, polled or not: deadlines pass without events.
        clients_.serve(control_.fd(), std::span<const pollfd>{p}.subspan(1), answer_fn);
        if (pending_scale_ != 0) {
            scale(std::exchange(pending_scale_, 0U));
        }
        if (clock::now() >= next_sample_) {
            next_sample_ = clock::now() + milliseconds{1000};
            take_samples();
        }
        if (clock::now() >= next_supervise_) {
            next_supervise_ = clock::now() + supervise_every;
            supervise();
        }
        if (state_ == run_state::serving) {
            retire_old_generation();
        }
        if (state_ == run_state::serving && reload_requested_ && reload_may_proceed()) {
            reload_requested_ = false;
            reload();
        }
        if (state_ == run_state::serving) {
            respawn_due();
        } else if (!killed_stragglers_ && clock::now() >= stop_deadline_) {
            log_line("%zu worker(s) still running after the stop timeout; sending SIGKILL", procs_.size());
            for (auto& w : procs_) {
                ::kill(w.pid, SIGKILL);
            }
            killed_stragglers_ = true;
        }
    }
    log_line("all workers exited; master exiting");
    return 0;
}

std::optional<std::size_t> master::free_board_entry() const noexcept {
    for (std::size_t i = 0; i < board_.size(); ++i) {
        if (board_[i].state.load(std::memory_order_relaxed) == worker::worker_state::empty &&
            std::none_of(procs_.begin(), procs_.end(), [i](const worker_proc& w) { return w.board == i; })) {
            return i;
        }
    }
    return std::nullopt;
}

std::size_t master::free_board_entries() const noexcept {
    std::size_t n = 0;
    for (std::size_t i = 0; i < board_.size(); ++i) {
        if (board_[i].state.load(std::memory_order_relaxed) == worker::worker_state::empty &&
            std::none_of(procs_.begin(), procs_.end(), [i](const worker_proc& w) { return w.board == i; })) {
            ++n;
        }
    }
    return n;
}

void master::spawn(unsigned slot) noexcept {
    start_worker(cfg_, config_gen_, slot, slots_[slot], listener_for(slot));
}

// A worker of the generation that serves while a reload is pending.
void master::spawn_previous(unsigned slot) noexcept {
    start_worker(previous_->cfg, previous_->gen, slot, previous_->slots[slot], previous_listener(slot));
}

// Its own sockets if the pending reload moved to another address, else the current
// ones (the same address): a removed reuseport slot takes one of the sockets that stay,
// where new connections are steered.
int master::previous_listener(unsigned slot) const noexcept {
    const auto& v = previous_->sockets.empty() ? listeners_ : previous_->sockets;
    if (v.empty()) {
        return -1;
    }
    return v.size() == 1 || previous_->cfg.balance == balance_mode::shared ? v[0].get() : v[slot % v.size()].get();
}

void master::start_worker(const config& c, std::uint32_t config_gen, unsigned slot, slot_state& s,
                          int listen_fd) noexcept {
    s.respawn_at.reset();
    const auto entry = free_board_entry();
    if (!entry) {
        log_line("no free scoreboard entry for worker %u; retrying in 1 s", slot);
        s.respawn_at = clock::now() + milliseconds{1000};
        return;
    }
    worker_proc w;
    w.slot = slot;
    w.generation = next_generation_++;
    w.spawn = ++s.spawns;
    w.board = *entry;
    w.config_gen = config_gen;
    w.started = clock::now();
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
    st.requests.store(0, std::memory_order_relaxed);
    st.bytes_in.store(0, std::memory_order_relaxed);
    st.bytes_out.store(0, std::memory_order_relaxed);
    st.accepted.store(0, std::memory_order_relaxed);
    st.active.store(0, std::memory_order_relaxed);
    st.holds_listener.store(true, std::memory_order_relaxed);
    st.heartbeat_ms.store(worker::monotonic_now_ms(), std::memory_order_relaxed);
    timespec now{};
    clock_gettime(CLOCK_REALTIME, &now);
    st.start_unix_ms.store(static_cast<std::uint64_t>(now.tv_sec) * 1000 + static_cast<std::uint64_t>(now.tv_nsec) / 1'000'000,
                           std::memory_order_relaxed);
    st.state.store(worker::worker_state::starting, std::memory_order_relaxed);

    const pid_t master_pid = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
        log_line("fork for worker %u failed: %s; retrying in 1 s", slot, std::strerror(errno));
        st.state.store(worker::worker_state::empty, std::memory_order_relaxed);
        s.respawn_at = clock::now() + milliseconds{1000};
        return;
    }
    if (pid == 0) {
        become_worker(w, master_pid, c, listen_fd);
    }
    w.pid = pid;
    st.pid.store(pid, std::memory_order_relaxed);
    procs_.push_back(w);
    log_line("worker %u started, pid %d, generation %u", slot, static_cast<int>(pid), w.config_gen);
}

void master::become_worker(const worker_proc& w, pid_t master_pid, const config& c, int listen_fd) noexcept {
    // If the master dies, even by SIGKILL, its workers die with it: no orphans.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != master_pid) {
        ::_exit(0);   // the master died before the line above took effect
    }
    // Before the title: once a worker is named, it holds no socket but its own (another
    // slot's reuseport socket, or one the previous generation keeps, would stay in use).
    signal_fd_.reset();
    control_.close_in_worker();
    clients_.close_in_worker();
    for (auto& fd : listeners_) {
        if (fd.get() != listen_fd) {
            fd.reset();   // reuseport: another slot's socket
        }
    }
    if (previous_) {
        for (auto& fd : previous_->sockets) {
            if (fd.get() != listen_fd) {
                fd.reset();
            }
        }
    }
    char who[32];
    std::snprintf(who, sizeof who, "worker %u", w.slot);
    set_log_identity(who);
    char title[64];
    std::snprintf(title, sizeof title, "preforkd: worker process %u", w.slot);
    set_proc_title(title);

    worker::worker_stats& st = board_[w.board];
    st.pid.store(::getpid(), std::memory_order_relaxed);
    const worker::scoreboard* peers = c.balance == balance_mode::shared ? &board_ : nullptr;
    ::_exit(worker::run(c.worker, listen_fd, st, peers));
}

void master::reap() noexcept {
    for (;;) {
        int status = 0;
        const pid_t pid = ::waitpid(-1, &status, WNOHANG);
        if (pid <= 0) {
            return;   // 0: none left to reap now; -1/ECHILD: no children at all
        }
        if (pid == upgrade_pid_) {
            on_upgrade_exit(status);
            continue;
        }
        const auto it = std::find_if(procs_.begin(), procs_.end(), [pid](const worker_proc& w) { return w.pid == pid; });
        if (it != procs_.end()) {
            on_worker_exit(static_cast<std::size_t>(it - procs_.begin()), status);
        }
    }
}

bool master::slot_served(unsigned slot) const noexcept {
    return std::any_of(procs_.begin(), procs_.end(), [this, slot](const worker_proc& w) {
        return w.slot == slot && !w.draining && w.config_gen == config_gen_;
    });
}

bool master::previous_slot_served(unsigned slot) const noexcept {
    return std::any_of(procs_.begin(), procs_.end(), [this, slot](const worker_proc& w) {
        return w.slot == slot && !w.draining && w.config_gen == previous_->gen;
    });
}

// Back off only when workers keep dying young on their own; one crash, or a worker
// we killed for hanging, is repaired at once.
milliseconds master::backoff_after(slot_state& s, const supervisor_settings& sup, clock::duration uptime,
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

void master::on_worker_exit(std::size_t index, int status) noexcept {
    const worker_proc w = procs_[index];
    procs_.erase(procs_.begin() + static_cast<std::ptrdiff_t>(index));
    board_[w.board].state.store(worker::worker_state::empty, std::memory_order_relaxed);
    const auto now = clock::now();
    const auto uptime = now - w.started;

    char how[128];
    if (WIFSIGNALED(status)) {
        std::snprintf(how, sizeof how, "killed by signal %d (%s)%s%s", WTERMSIG(status), strsignal(WTERMSIG(status)),
                      w.kill_reason != nullptr ? ": " : "", w.kill_reason != nullptr ? w.kill_reason : "");
    } else {
        std::snprintf(how, sizeof how, "exited with code %d", WEXITSTATUS(status));
    }
    const bool serving = state_ == run_state::serving && !w.draining;
    const bool current = w.config_gen == config_gen_ && w.slot < slots_.size();
    if (serving && current && previous_) {
        pending_failed_ = true;   // a HUP waiting for this generation need not wait any longer
    }

    // A recycling replacement that died before it took over: the worker it was to
    // replace goes on serving, and the next try backs off as a crash loop's respawn would.
    const auto replaced = std::find_if(procs_.begin(), procs_.end(), [&](const worker_proc& p) {
        return p.replaced_by == w.pid && !p.draining;
    });
    if (serving && current && replaced != procs_.end()) {
        replaced->replaced_by = 0;
        slot_state& s = slots_[w.slot];
        const milliseconds delay = backoff_after(s, cfg_.supervisor, uptime, w.kill_reason);
        s.recycle_at = now + delay;
        log_line("worker %u pid %d, replacing pid %d, %s after %.1f s, before it took over; %u early exits in a "
                 "row, next replacement in %lld ms", w.slot, static_cast<int>(w.pid), static_cast<int>(replaced->pid),
                 how, seconds(uptime), s.early_deaths, static_cast<long long>(delay.count()));
        return;
    }

    // The generation that serves until the pending one is ready: keep its capacity.
    if (serving && previous_ && w.config_gen == previous_->gen && w.slot < previous_->slots.size() &&
        !previous_slot_served(w.slot)) {
        slot_state& s = previous_->slots[w.slot];
        ++s.restarts;
        const milliseconds delay = backoff_after(s, previous_->cfg.supervisor, uptime, w.kill_reason);
        s.respawn_at = now + delay;
        log_line("worker %u pid %d %s after %.1f s; generation %u serves until generation %u is ready: "
                 "respawning it in %lld ms (%u early exits in a row)",
                 w.slot, static_cast<int>(w.pid), how, seconds(uptime), previous_->gen, config_gen_,
                 static_cast<long long>(delay.count()), s.early_deaths);
        return;
    }

    if (!serving || !current || slot_served(w.slot)) {
        // Planned: a stop, a recycle, a reload, or a worker whose replacement already serves.
        log_line("worker %u pid %d %s after %.1f s", w.slot, static_cast<int>(w.pid), how, seconds(uptime));
        return;
    }

    slot_state& s = slots_[w.slot];
    ++s.restarts;
    const milliseconds delay = backoff_after(s, cfg_.supervisor, uptime, w.kill_reason);
    s.respawn_at = now + delay;
    if (delay.count() == 0) {
        log_line("worker %u pid %d %s after %.1f s; respawning now", w.slot, static_cast<int>(w.pid), how,
                 seconds(uptime));
    } else {
        log_line("worker %u pid %d %s after %.1f s; %u early exits in a row, respawn in %lld ms", w.slot,
                 static_cast<int>(w.pid), how, seconds(uptime), s.early_deaths, static_cast<long long>(delay.count()));
    }
}

void master::kill_worker(worker_proc& w, const char* reason) noexcept {
    if (w.kill_reason == nullptr) {
        w.kill_reason = reason;
        ::kill(w.pid, SIGKILL);
    }
}

void master::drain(worker_proc& w) noexcept {
    w.draining = true;
    w.drain_deadline = clock::now() + cfg_.supervisor.graceful_timeout;
    ::kill(w.pid, SIGQUIT);
}

// Heartbeats, recycling and drain deadlines, from the scoreboard and /proc.
void master::supervise() noexcept {
    if (steer_pending_ && state_ == run_state::serving && !removed_socket_held()) {
        steer_over_listeners();
        log_line("the removed slots' workers have let go of their sockets: new connections now go to all %zu",
                 listeners_.size());
    }
    const auto& sup = cfg_.supervisor;
    const std::uint64_t now_ms = worker::monotonic_now_ms();
    const auto now = clock::now();
    // Index loop: spawn() below may grow procs_.
    for (std::size_t i = 0; i < procs_.size(); ++i) {
        worker_proc& w = procs_[i];
        const worker::worker_stats& st = board_[w.board];
        const std::uint64_t beat = st.heartbeat_ms.load(std::memory_order_relaxed);
        if (w.kill_reason == nullptr && now_ms > beat && now_ms - beat > static_cast<std::uint64_t>(sup.worker_timeout.count())) {
            log_line("worker %u pid %d: no heartbeat for %.1f s (worker_timeout %.1f s): stuck or stopped; killing it",
                     w.slot, static_cast<int>(w.pid), static_cast<double>(now_ms - beat) / 1000.0,
                     seconds(sup.worker_timeout));
            kill_worker(procs_[i], "unresponsive");
            continue;
        }
        if (w.draining) {
            if (now >= w.drain_deadline) {
                log_line("worker %u pid %d still draining after graceful_timeout; killing it", w.slot,
                         static_cast<int>(w.pid));
                kill_worker(procs_[i], "graceful_timeout passed");
            }
            continue;
        }
        if (state_ != run_state::serving || w.config_gen != config_gen_) {
            continue;   // old generation: drained as a whole below
        }
        if (w.replaced_by != 0) {
            // Recycling: drain the old worker only once its replacement accepts.
            const auto r = std::find_if(procs_.begin(), procs_.end(),
                                        [&](const worker_proc& p) { return p.pid == w.replaced_by; });
            if (r == procs_.end()) {
                w.replaced_by = 0;   // the replacement died; try again on the next round
            } else if (board_[r->board].state.load(std::memory_order_relaxed) == worker::worker_state::ready) {
                drain(procs_[i]);
            }
            continue;
        }
        // Only a ready worker that is not itself a replacement still waited for is
        // recycled, and for memory not before min_uptime: a max_memory below what a fresh
        // worker uses would otherwise replace each replacement at once, a fork storm.
        const bool pending_replacement = std::any_of(procs_.begin(), procs_.end(), [&](const worker_proc& p) {
            return p.replaced_by == w.pid;
        });
        const auto& retry_at = w.slot < slots_.size() ? slots_[w.slot].recycle_at : std::nullopt;
        if (pending_replacement || st.state.load(std::memory_order_relaxed) != worker::worker_state::ready ||
            (retry_at && now < *retry_at)) {
            continue;
        }
        const std::uint64_t requests = st.requests.load(std::memory_order_relaxed);
        const bool memory_due = sup.max_memory > 0 && now - w.started >= sup.min_uptime;
        const std::uint64_t rss = memory_due ? rss_bytes(w.pid) : 0;
        const bool over_requests = w.request_limit > 0 && requests >= w.request_limit;
        const bool over_memory = memory_due && rss > sup.max_memory;
        if (over_requests || over_memory) {
            if (over_requests) {
                log_line("worker %u pid %d served %llu requests (max_requests %llu): recycling it", w.slot,
                         static_cast<int>(w.pid), static_cast<unsigned long long>(requests),
                         static_cast<unsigned long long>(w.request_limit));
            } else {
                log_line("worker %u pid %d uses %llu KiB (max_memory %llu KiB): recycling it", w.slot,
                         static_cast<int>(w.pid), static_cast<unsigned long long>(rss / 1024),
                         static_cast<unsigned long long>(sup.max_memory / 1024));
            }
            const unsigned slot = w.slot;
            spawn(slot);   // may reallocate procs_
            if (!procs_.empty() && procs_.back().slot == slot && procs_.back().pid != procs_[i].pid) {
                procs_[i].replaced_by = procs_.back().pid;
            }
        }
    }
}

void master::take_samples() noexcept {
    const auto now = clock::now();
    for (auto& w : procs_) {
        auto& slot = w.samples[w.sample_count % w.samples.size()];
        slot = {now, board_[w.board].requests.load(std::memory_order_relaxed), cpu_time_ms(w.pid)};
        ++w.sample_count;
    }
}

master_status master::status() const {
    master_status s;
    s.pid = ::getpid();
    s.uptime_s = seconds(clock::now() - started_);
    s.listen = cfg_.listen.text;
    s.balance = to_string(cfg_.balance);
    const auto now = clock::now();
    for (const auto& w : procs_) {
        const worker::worker_stats& st = board_[w.board];
        worker_status ws;
        ws.slot = w.slot;
        ws.pid = w.pid;
        ws.generation = w.config_gen;
        ws.spawn = w.spawn;
        switch (st.state.load(std::memory_order_relaxed)) {
            case worker::worker_state::empty: ws.state = "empty"; break;
            case worker::worker_state::starting: ws.state = "starting"; break;
            case worker::worker_state::ready: ws.state = w.draining ? "draining" : "ready"; break;
            case worker::worker_state::draining: ws.state = "draining"; break;
            case worker::worker_state::exiting: ws.state = "exiting"; break;
        }
        ws.uptime_s = seconds(now - w.started);
        const std::vector<slot_state>& slots = previous_ && w.config_gen == previous_->gen ? previous_->slots : slots_;
        ws.restarts = w.slot < slots.size() ? slots[w.slot].restarts : 0;
        ws.requests = st.requests.load(std::memory_order_relaxed);
        ws.active = st.active.load(std::memory_order_relaxed);
        ws.accepted = st.accepted.load(std::memory_order_relaxed);
        ws.bytes_in = st.bytes_in.load(std::memory_order_relaxed);
        ws.bytes_out = st.bytes_out.load(std::memory_order_relaxed);
        ws.rss_bytes = rss_bytes(w.pid);
        // Rates over the last 10 s: from the oldest sample once the window is full, else
        // from the worker's start (its counters start at zero), so a worker born under
        // load shows what it did before its first sample.
        worker_proc::sample oldest{.at = w.started, .requests = 0, .cpu_ms = 0};
        if (w.sample_count >= w.samples.size()) {
            oldest = w.samples[w.sample_count % w.samples.size()];
        }
        if (const double dt = seconds(now - oldest.at); dt > 0.05) {
            ws.requests_per_s = static_cast<double>(ws.requests - oldest.requests) / dt;
            ws.cpu_percent = static_cast<double>(cpu_time_ms(w.pid) - oldest.cpu_ms) / 10.0 / dt;
        }
        s.workers.push_back(ws);
    }
    std::sort(s.workers.begin(), s.workers.end(),
              [](const worker_status& a, const worker_status& b) { return a.slot != b.slot ? a.slot < b.slot : a.generation != b.generation ? a.generation < b.generation : a.spawn < b.spawn; });
    return s;
}

std::string master::answer(std::string_view command) {
    if (command.rfind("scale ", 0) == 0) {
        unsigned n = 0;
        const auto arg = command.substr(6);
        auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), n);
        if (ec != std::errc{} || end != arg.data() + arg.size() || n < 1 || n > 1024) {
            return "error: scale needs a worker count from 1 to 1024\n";
        }
        // Applied once this round of control clients is served, outside the answer
        // (workers forked then close their copies of every client's socket).
        pending_scale_ = n;
        return "scaling to " + std::to_string(n) + " workers\n";
    }
    if (command == "ping") {
        return "pong\n";
    }
    if (command == "status") {
        return render_table(status());
    }
    if (command == "status json") {
        return render_json(status());
    }
    return "error: unknown command '" + std::string{command} + "'\n";
}

// After a reload, the old generation drains once the new one is ready in every slot
// (or at reload_deadline_, so a new generation that cannot start never keeps the old
// configuration serving forever... nor leaves the service without workers: the old
// ones drain only when at least one new worker is ready).
void master::retire_old_generation() noexcept {
    if (!previous_) {
        return;
    }
    // Slots of the new generation with a ready worker (not one told to drain, and a
    // recycling pair counts once).
    std::vector<bool> ready_slot(cfg_.workers, false);
    for (const auto& w : procs_) {
        if (w.config_gen == config_gen_ && !w.draining && w.slot < ready_slot.size() &&
            board_[w.board].state.load(std::memory_order_relaxed) == worker::worker_state::ready) {
            ready_slot[w.slot] = true;
        }
    }
    const auto ready = static_cast<std::size_t>(std::count(ready_slot.begin(), ready_slot.end(), true));
    const bool all_ready = ready >= cfg_.workers;
    if (!all_ready && (ready == 0 || clock::now() < *reload_deadline_)) {
        return;
    }
    std::size_t drained = 0;
    for (auto& w : procs_) {
        if (w.config_gen != config_gen_ && !w.draining) {
            drain(w);
            ++drained;
        }
    }
    log_line("reload: %zu of %u new workers ready; draining %zu old worker(s)", ready, cfg_.workers, drained);
    previous_.reset();   // its own sockets (another address) stay open in its draining workers only
    reload_deadline_.reset();
    pending_failed_ = false;
}

bool master::reload_may_proceed() const noexcept {
    return !previous_ || pending_failed_ || clock::now() >= *reload_deadline_;
}

// Draining workers hold scoreboard entries until they exit (graceful_timeout at most):
// a reload waits for enough of them rather than start a generation that cannot fit.
void master::defer_reload(std::size_t free, unsigned needed) noexcept {
    reload_requested_ = true;
    if (!reload_deferred_logged_) {
        reload_deferred_logged_ = true;
        log_line("reload: %zu free scoreboard entries, %u needed; %s is read again once draining workers have "
                 "exited", free, needed, cfg_.path.c_str());
    }
}

namespace {
bool same_address(const listen_address& a, const listen_address& b) noexcept {
    return a.addr_len == b.addr_len && std::memcmp(&a.addr, &b.addr, a.addr_len) == 0;
}
}  // namespace

// HUP: re-read the configuration; if it is invalid, keep everything as it is. If valid,
// start a new generation of workers with it and drain the old one once it is ready.
// A reload that supersedes a pending one stops that generation's workers (none of them
// got to serve alone) and keeps the generation that served before it serving.
void master::reload() noexcept {
    if (const std::size_t free = free_board_entries(); free < cfg_.workers) {
        defer_reload(free, cfg_.workers);
        return;
    }
    auto fresh = load_config(cfg_.path);
    if (!fresh) {
        for (const auto& e : fresh.error()) {
            log_line("reload failed: %s", e.c_str());
        }
        log_line("reload failed: %s is invalid; still serving the previous configuration", cfg_.path.c_str());
        return;
    }
    config next = std::move(*fresh);
    if (next.workers > max_workers()) {
        log_line("reload failed: workers = %u is more than this master can run (%u: its scoreboard is sized at "
                 "start); restart it to go further; still serving the previous configuration",
                 next.workers, max_workers());
        return;
    }
    if (const std::size_t free = free_board_entries(); free < next.workers) {
        defer_reload(free, next.workers);
        return;
    }
    // Back to the address the serving generation still listens on (a pending reload had
    // moved away from it): its sockets are the ones to keep.
    const bool from_previous = previous_ && !previous_->sockets.empty() && same_address(next.listen, previous_->cfg.listen);
    const config& base = from_previous ? previous_->cfg : cfg_;
    std::vector<unique_fd>& source = from_previous ? previous_->sockets : listeners_;
    // Keep sockets that still fit (no gap, nothing queued lost); bind the rest.
    const bool same = same_address(next.listen, base.listen);
    const bool to_reuseport = same && base.balance == balance_mode::shared &&
                              next.balance == balance_mode::reuseport && !source.empty();
    const bool to_shared = same && base.balance == balance_mode::reuseport &&
                           next.balance == balance_mode::shared && !source.empty();
    if (to_reuseport) {
        // The shared socket becomes slot 0's; any steering program left from an earlier
        // switch to shared mode is replaced below, once the new sockets are bound.
        if (auto r = allow_reuseport(source[0].get()); !r) {
            log_line("reload failed: %s on the shared socket: %s; still serving the previous configuration",
                     r.error().call, std::strerror(r.error().code));
            return;
        }
    }
    std::vector<unique_fd> sockets;
    const unsigned wanted = next.balance == balance_mode::reuseport ? next.workers : 1;
    for (unsigned i = 0; i < wanted; ++i) {
        if (same && i < source.size()) {
            sockets.push_back(std::move(source[i]));
            continue;
        }
        auto fd = open_listener(next.listen, next.backlog, next.balance == balance_mode::reuseport);
        if (!fd) {
            log_line("reload failed: cannot listen on %s: %s failed: %s; still serving the previous configuration",
                     next.listen.text.c_str(), fd.error().call, std::strerror(fd.error().code));
            // Give back what was taken so nothing changes.
            for (std::size_t k = 0; k < sockets.size() && same && k < source.size(); ++k) {
                if (!source[k].valid()) {
                    source[k] = std::move(sockets[k]);
                }
            }
            return;
        }
        sockets.push_back(std::move(*fd));
    }
    if (next.pid_file != cfg_.pid_file || next.control_socket != cfg_.control_socket) {
        log_line("reload: pid_file and control_socket changes take effect at the next start");
        next.pid_file = cfg_.pid_file;
        next.control_socket = cfg_.control_socket;
    }
    const unsigned steered_before = steered_over_;
    if (from_previous) {
        steered_over_ = previous_->steered_over;   // the steering its group has
        steer_pending_ = false;
    }
    const bool steer = same && (to_shared || next.balance == balance_mode::reuseport);
    if (steer) {
        mark_removed_sockets(sockets.size());
    }
    // The old workers keep their own copies of the old sockets until they let go of them.
    std::vector<unique_fd> old_sockets = std::exchange(listeners_, std::move(sockets));
    if (steer) {
        // Sockets that go stay in the reuseport group until the old workers holding them
        // have drained, and the kernel would go on handing them new connections, to be
        // reset when they close: spread new connections over the sockets that stay
        // (reuseport -> shared: socket 0 alone; SO_REUSEPORT is harmless on it).
        steer_over_listeners();
    } else {
        steered_over_ = static_cast<unsigned>(listeners_.size());   // a new group, or none
        steer_pending_ = false;
    }
    const unsigned old_workers = cfg_.workers;
    const std::uint32_t superseded = previous_ ? config_gen_ : 0;
    std::vector<slot_state> slots(next.workers);
    for (std::size_t i = 0; i < slots.size() && i < slots_.size(); ++i) {
        slots[i].restarts = slots_[i].restarts;
        slots[i].spawns = slots_[i].spawns;
    }
    if (!previous_) {
        previous_.emplace(serving_generation{.cfg = std::move(cfg_), .gen = config_gen_, .slots = std::move(slots_),
                                             .sockets = {}, .steered_over = steered_before});
    }
    if (from_previous) {
        previous_->sockets.clear();   // the rest were removed slots' sockets; its workers hold them
    } else if (previous_->sockets.empty() && !same_address(next.listen, previous_->cfg.listen)) {
        previous_->sockets = std::move(old_sockets);   // its workers may need replacing until the new ones serve
        previous_->steered_over = steered_before;
    }
    old_sockets.clear();   // before the forks below: a new worker must not inherit them
    cfg_ = std::move(next);
    ++config_gen_;
    slots_ = std::move(slots);
    pending_failed_ = false;
    reload_deferred_logged_ = false;
    if (superseded != 0) {
        std::size_t stopped = 0;
        for (auto& w : procs_) {
            if (w.config_gen == superseded && !w.draining) {
                drain(w);
                ++stopped;
            }
        }
        log_line("reload: generation %u was not ready yet; stopping its %zu worker(s); generation %u serves "
                 "until the new one is ready", superseded, stopped, previous_->gen);
    }
    log_line("reload: %s is valid; starting generation %u: %u worker(s) (was %u), listening on %s (balance %s)",
             cfg_.path.c_str(), config_gen_, cfg_.workers, old_workers, cfg_.listen.text.c_str(),
             to_string(cfg_.balance));
    reload_deadline_ = clock::now() + cfg_.supervisor.worker_timeout;
    for (unsigned i = 0; i < cfg_.workers; ++i) {
        spawn(i);
    }
}

// USR2: start the (possibly replaced) binary as a second master that inherits the
// listening sockets, so no connection is refused at any point. Both masters serve until
// the operator sends QUIT to the old one. The old master steps aside from the pid file
// (renamed to .oldbin, as nginx does) and from the control socket's path; if the new
// master dies, it takes both back and goes on alone.
void master::upgrade() noexcept {
    if (upgrade_pid_ != 0) {
        log_line("upgrade: a new master (pid %d) is already running; ignored", static_cast<int>(upgrade_pid_));
        return;
    }
    if (previous_master_ != 0 && ::getppid() == previous_master_) {
        // Its pid file is .oldbin, which ours would have to become: one upgrade at a time.
        log_line("upgrade: the previous master (pid %d) is still running; send it QUIT first; ignored",
                 static_cast<int>(previous_master_));
        return;
    }
    std::string fds;
    for (const auto& fd : listeners_) {
        fds += (fds.empty() ? "" : ",") + std::to_string(fd.get());
    }
    const std::string old_pid_file = cfg_.pid_file + ".oldbin";
    if (!pid_file_.move_to(old_pid_file)) {
        log_line("upgrade: cannot rename %s: %s; not upgrading", cfg_.pid_file.c_str(), std::strerror(errno));
        return;
    }
    control_.release_path();
    const pid_t pid = ::fork();
    if (pid < 0) {
        log_line("upgrade: fork failed: %s", std::strerror(errno));
        on_upgrade_exit(0);
        return;
    }
    if (pid == 0) {
        // The new master: listening sockets survive exec, nothing else of ours does.
        for (const auto& fd : listeners_) {
            ::fcntl(fd.get(), F_SETFD, 0);
        }
        ::setenv("PREFORKD_LISTEN_FDS", fds.c_str(), 1);
        const sigset_t set = master_signals();
        ::sigprocmask(SIG_UNBLOCK, &set, nullptr);   // the mask survives exec
        std::vector<char*> args;
        for (const auto& a : argv_) {
            args.push_back(const_cast<char*>(a.c_str()));
        }
        args.push_back(nullptr);
        ::execv(binary_path_.c_str(), args.data());
        std::fprintf(stderr, "preforkd: upgrade: exec %s failed: %s\n", binary_path_.c_str(), std::strerror(errno));
        ::_exit(127);
    }
    upgrade_pid_ = pid;
    log_line("upgrade: started new master pid %d from %s with the listening sockets %s; send QUIT to this "
             "master (pid %d, now in %s) once it serves",
             static_cast<int>(pid), binary_path_.c_str(), fds.c_str(), static_cast<int>(::getpid()), old_pid_file.c_str());
}

void master::on_upgrade_exit(int status) noexcept {
    const pid_t pid = std::exchange(upgrade_pid_, 0);
    if (state_ != run_state::serving) {
        return;
    }
    log_line("upgrade: new master pid %d exited (%s %d) before this one was told to quit; this master keeps "
             "serving and takes back %s", static_cast<int>(pid), WIFSIGNALED(status) ? "signal" : "code",
             WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), cfg_.pid_file.c_str());
    if (!pid_file_.move_to(cfg_.pid_file)) {
        log_line("upgrade: cannot take back %s: %s", cfg_.pid_file.c_str(), std::strerror(errno));
    }
    if (listeners_.size() > 1) {
        // It steered new connections over its own number of sockets.
        steer_new_connections(listeners_[0].get(), static_cast<unsigned>(listeners_.size()));
        steered_over_ = static_cast<unsigned>(listeners_.size());
    }
    auto reopened = control_socket::open(cfg_.control_socket);
    if (reopened) {
        control_ = std::move(*reopened);
    } else {
        log_line("upgrade: cannot reopen the control socket: %s", reopened.error().c_str());
    }
}

// TTIN/TTOU and `preforkd ctl scale N`: add workers, or drain the highest slots.
void master::scale(unsigned n) noexcept {
    if (n < 1 || n > max_workers()) {
        log_line("scale: %u workers is out of range (1 to %u: the scoreboard was sized at start for twice "
                 "the larger of workers and 32; restart with a larger workers to go further); ignored",
                 n, max_workers());
        return;
    }
    if (n == cfg_.workers || state_ != run_state::serving) {
        return;
    }
    const bool reuseport = cfg_.balance == balance_mode::reuseport;
    while (reuseport && listeners_.size() < n) {
        auto fd = open_listener(cfg_.listen, cfg_.backlog, true);
        if (!fd) {
            log_line("scale: cannot open a socket for a new slot: %s failed: %s; staying at %u workers",
                     fd.error().call, std::strerror(fd.error().code), cfg_.workers);
            return;
        }
        listeners_.push_back(std::move(*fd));
    }
    const unsigned was = cfg_.workers;
    cfg_.workers = n;
    slots_.resize(n);
    log_line("scale: %u -> %u workers", was, n);
    for (unsigned i = was; i < n; ++i) {
        spawn(i);
    }
    if (reuseport) {
        // Before the removed slots' workers are told to drain: once steered, nothing
        // new is queued on their sockets while they take what is there and close them.
        mark_removed_sockets(n);
        listeners_.resize(n);   // draining workers keep their own copies until they let go
        steer_over_listeners();
    }
    for (auto& w : procs_) {
        if (w.slot >= n && !w.draining) {
            drain(w);
        }
    }
}

// The kernel keeps a reuseport group in join order and fills the hole a closed socket
// leaves with its last one; steering picks by that order. The first
// min(steered_over_, listeners_.size()) sockets of the group are always ones that stay
// (holes are only ever left, and filled, above them), so that is where new connections
// go while a removed slot's socket is still in the group; once none is, all of
// listeners_ (sockets added meanwhile have moved down into the holes).
void master::steer_over_listeners() noexcept {
    const auto all = static_cast<unsigned>(listeners_.size());
    const unsigned n = removed_socket_held() ? std::min(steered_over_, all) : all;
    if (n < all && !steer_pending_) {
        log_line("new sockets get connections once the removed slots' workers let go of theirs");
    }
    steer_pending_ = n < all;
    if (n != steered_over_) {
        steer_new_connections(listeners_[0].get(), n);
        steered_over_ = n;
    }
}

bool master::removed_socket_held() const noexcept {
    return std::any_of(procs_.begin(), procs_.end(), [this](const worker_proc& w) {
        return w.socket_removed && board_[w.board].holds_listener.load(std::memory_order_relaxed);
    });
}

// Workers whose socket is not among the first `kept` of listeners_ (reuseport: slot i
// has socket i; a single socket is everyone's socket 0).
void master::mark_removed_sockets(std::size_t kept) noexcept {
    for (auto& w : procs_) {
        const std::size_t socket = listeners_.size() > 1 ? w.slot : 0;
        w.socket_removed = w.socket_removed || socket >= kept;
    }
}

void master::on_signal(std::uint32_t signo) noexcept {
    switch (signo) {
        case SIGCHLD:
            reap();
            break;
        case SIGTERM:
        case SIGINT:
            log_line("received SIG%s: stopping now", sigabbrev_np(static_cast<int>(signo)));
            begin_stop(run_state::stopping_fast);
            break;
        case SIGQUIT:
            log_line("received SIGQUIT: stopping gracefully (in-flight requests finish)");
            begin_stop(run_state::stopping_gracefully);
            break;
        case SIGTTIN:
            scale(cfg_.workers + 1);
            break;
        case SIGTTOU:
            scale(cfg_.workers - 1);
            break;
        case SIGUSR2:
            if (state_ == run_state::serving) {
                upgrade();
            }
            break;
        case SIGHUP:
            if (state_ != run_state::serving) {
                break;
            }
            if (reload_may_proceed()) {
                log_line("received SIGHUP: reloading %s", cfg_.path.c_str());
                reload_requested_ = false;
                reload();
            } else {
                log_line("received SIGHUP: generation %u is still starting; %s is read again once it is ready "
                         "(the newest file wins)", config_gen_, cfg_.path.c_str());
                reload_requested_ = true;
            }
            break;
        default:
            log_line("received SIG%s: not supported yet, ignored", sigabbrev_np(static_cast<int>(signo)));
            break;
    }
}

void master::begin_stop(run_state how) noexcept {
    if (state_ == how || state_ == run_state::stopping_fast) {
        return;
    }
    state_ = how;
    killed_stragglers_ = false;
    const bool fast = how == run_state::stopping_fast;
    stop_deadline_ = clock::now() + (fast ? fast_stop_timeout : cfg_.supervisor.graceful_timeout);
    for (auto& s : slots_) {
        s.respawn_at.reset();
    }
    previous_.reset();
    reload_deadline_.reset();
    reload_requested_ = false;
    // Close our copies of the listening sockets first: once the workers close theirs
    // too, new clients are refused at once rather than queued until we exit. (A new
    // master from a binary upgrade holds its own copies and goes on serving.)
    listeners_.clear();
    for (auto& w : procs_) {
        w.draining = true;
        w.drain_deadline = stop_deadline_;
        ::kill(w.pid, fast ? SIGTERM : SIGQUIT);
    }
}

void master::respawn_due() noexcept {
    const auto now = clock::now();
    for (unsigned i = 0; i < slots_.size(); ++i) {
        if (!slots_[i].respawn_at) {
            continue;
        }
        if (slot_served(i)) {
            slots_[i].respawn_at.reset();   // or the poll timeout would wait for it: a busy loop
        } else if (*slots_[i].respawn_at <= now) {
            spawn(i);
        }
    }
    for (unsigned i = 0; previous_ && i < previous_->slots.size(); ++i) {
        auto& at = previous_->slots[i].respawn_at;
        if (!at) {
            continue;
        }
        if (previous_slot_served(i)) {
            at.reset();
        } else if (*at <= now) {
            spawn_previous(i);
        }
    }
}

int master::poll_timeout_ms() const noexcept {
    auto next = std::min(clock::now() + milliseconds{1000}, next_supervise_);
    if (state_ == run_state::serving) {
        for (const auto& s : slots_) {
            if (s.respawn_at) {
                next = std::min(next, *s.respawn_at);
            }
        }
        if (previous_) {
            next = std::min(next, clock::now() + pending_reload_every);
            for (const auto& s : previous_->slots) {
                if (s.respawn_at) {
                    next = std::min(next, *s.respawn_at);
                }
            }
        }
    } else if (!killed_stragglers_) {
        next = std::min(next, stop_deadline_);
    }
    if (const auto client = clients_.next_deadline()) {
        next = std::min(next, *client);
    }
    const auto wait = std::chrono::ceil<milliseconds>(next - clock::now());
    return static_cast<int>(std::max<long long>(0, wait.count()));
}

}  // namespace

sigset_t master_signals() noexcept {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU}) {
        sigaddset(&set, s);
    }
    return set;
}

namespace {

// Each worker may hold max_connections sockets: raise the soft open-file limit to the
// hard one (as nginx's worker_rlimit_nofile would) and say so if it still falls short.
void raise_fd_limit(const config& cfg) noexcept {
    rlimit lim{};
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0) {
        return;
    }
    if (lim.rlim_cur < lim.rlim_max) {
        lim.rlim_cur = lim.rlim_max;
        ::setrlimit(RLIMIT_NOFILE, &lim);
    }
    constexpr rlim_t reserved_fds = 64;   // listeners, ring, signalfd, logs
    const rlim_t needed = static_cast<rlim_t>(cfg.worker.max_connections) + reserved_fds;
    if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < needed) {
        log_line("open-file limit %llu is below limits.max_connections %u + %llu: a worker will refuse "
                 "connections beyond it (raise it with ulimit -n or LimitNOFILE=)",
                 static_cast<unsigned long long>(lim.rlim_cur), cfg.worker.max_connections,
                 static_cast<unsigned long long>(reserved_fds));
    }
}

}  // namespace

namespace {

// A binary upgrade hands the listening sockets over in PREFORKD_LISTEN_FDS. Sockets bound
// to the configured address are adopted (nothing queued on them is lost); the rest are
// closed and what is missing is bound.
result<std::vector<unique_fd>> adopt_or_open_listeners(const config& cfg) noexcept {
    const char* inherited = std::getenv("PREFORKD_LISTEN_FDS");
    if (inherited == nullptr) {
        return open_listeners(cfg);
    }
    std::vector<unique_fd> adopted;
    for (std::string_view rest{inherited}; !rest.empty();) {
        const auto comma = rest.find(',');
        const std::string_view item = rest.substr(0, comma);
        rest = comma == std::string_view::npos ? std::string_view{} : rest.substr(comma + 1);
        int fd = -1;
        std::from_chars(item.data(), item.data() + item.size(), fd);
        if (fd < 0) {
            continue;
        }
        unique_fd owned{fd};
        sockaddr_storage addr{};
        socklen_t len = sizeof addr;
        int listening = 0;
        socklen_t optlen = sizeof listening;
        const bool ours = ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0 &&
                          ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &optlen) == 0 && listening != 0 &&
                          len == cfg.listen.addr_len && std::memcmp(&addr, &cfg.listen.addr, len) == 0;
        if (ours) {
            ::fcntl(fd, F_SETFD, FD_CLOEXEC);
            adopted.push_back(std::move(owned));
        }
    }
    ::unsetenv("PREFORKD_LISTEN_FDS");
    const bool reuseport = cfg.balance == balance_mode::reuseport;
    const unsigned wanted = reuseport ? cfg.workers : 1;
    const bool was_group = adopted.size() > 1;
    if (reuseport && !adopted.empty()) {
        // From a shared-mode master: its socket joins the group the new ones will form.
        if (auto r = allow_reuseport(adopted[0].get()); !r) {
            return tl::unexpected(r.error());
        }
    }
    adopted.resize(std::min<std::size_t>(adopted.size(), wanted));
    log_line("adopted %zu listening socket(s) from the previous master", adopted.size());
    while (adopted.size() < wanted) {
        auto fd = open_listener(cfg.listen, cfg.backlog, reuseport);
        if (!fd) {
            return tl::unexpected(fd.error());
        }
        adopted.push_back(std::move(*fd));
    }
    if (was_group || adopted.size() > 1) {
        // The group is in slot order: the old master's sockets, then any opened here.
        // Its steering (if it had scaled) counts the old number of slots, and the old
        // master's sockets beyond ours close when its workers exit: spread new
        // connections over exactly ours, now, while the old workers still serve theirs.
        steer_new_connections(adopted[0].get(), wanted);
    }
    return adopted;
}

// A live process whose title says it is a preforkd master (a pid file can outlive its
// master, and the pid be reused).
bool is_master_process(int pid) {
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%d/cmdline", pid);
    unique_fd fd{::open(path, O_RDONLY | O_CLOEXEC)};
    char buf[64] = {};
    const ssize_t n = fd.valid() ? ::read(fd.get(), buf, sizeof buf - 1) : -1;
    return n > 0 && std::string_view{buf, static_cast<std::size_t>(n)}.starts_with("preforkd: master process");
}

std::string own_executable() {
    char buf[4096];
    const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    return n > 0 ? std::string{buf, static_cast<std::size_t>(n)} : std::string{};
}

}  // namespace

int run_master(const config& cfg, const std::vector<std::string>& argv, const std::string& cmdline) noexcept {
    set_log_identity("master");
    raise_fd_limit(cfg);
    const sigset_t set = master_signals();
    if (::sigprocmask(SIG_BLOCK, &set, nullptr) < 0) {
        log_line("sigprocmask failed: %s", std::strerror(errno));
        return 1;
    }
    unique_fd sig{::signalfd(-1, &set, SFD_NONBLOCK | SFD_CLOEXEC)};
    if (!sig.valid()) {
        log_line("signalfd failed: %s", std::strerror(errno));
        return 1;
    }
    // A log reader that goes away (`| head`) must not kill the master and its workers.
    ::signal(SIGPIPE, SIG_IGN);
    const bool from_upgrade = std::getenv("PREFORKD_LISTEN_FDS") != nullptr;
    // First: a second master with the same configuration is told so, not 'address in use',
    // and takes over neither the pid file nor the control socket (even if the running
    // one is slow to answer on it). A binary upgrade's old master has moved its pid file.
    if (auto other = running_master(cfg.pid_file); other && *other != ::getpid() && is_master_process(*other)) {
        log_line("another preforkd master is running (pid %d, in %s); not starting", *other, cfg.pid_file.c_str());
        return 1;
    }
    auto control = control_socket::open(cfg.control_socket);
    if (!control) {
        log_line("cannot open the control socket: %s", control.error().c_str());
        return 1;
    }
    auto pid = pid_file::write(cfg.pid_file);
    if (!pid) {
        log_line("cannot write the pid file: %s", pid.error().c_str());
        return 1;
    }
    auto listeners = adopt_or_open_listeners(cfg);
    if (!listeners) {
        log_line("cannot listen on %s: %s failed: %s", cfg.listen.text.c_str(), listeners.error().call,
                 std::strerror(listeners.error().code));
        return 1;
    }
    set_proc_title("preforkd: master process " + cmdline);
    log_line("listening on %s (balance %s, %zu socket%s), starting %u worker%s", cfg.listen.text.c_str(),
             to_string(cfg.balance), listeners->size(), listeners->size() == 1 ? "" : "s", cfg.workers,
             cfg.workers == 1 ? "" : "s");
    // Room for every slot twice (a recycled worker and its replacement overlap, as do
    // two generations during a reload), and for reloads that add workers.
    auto board = worker::scoreboard::create(static_cast<std::size_t>(std::max(cfg.workers, 32U)) * 2 + 2);
    if (!board) {
        log_line("cannot create the scoreboard: %s failed: %s", board.error().call, std::strerror(board.error().code));
        return 1;
    }
    master m{cfg,          std::move(*listeners), std::move(sig), std::move(*board), std::move(*control),
             std::move(*pid), argv, own_executable()};
    if (from_upgrade) {
        m.set_previous_master(::getppid());
    }
    return m.run();
}

}  // namespace pfd::server
