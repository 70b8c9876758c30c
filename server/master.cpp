#include "server/master.hpp"

#include <poll.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <optional>
#include <vector>

#include "server/listeners.hpp"
#include "server/proc_title.hpp"
#include "worker/log.hpp"
#include "worker/unique_fd.hpp"
#include "worker/worker.hpp"

namespace pfd::server {

namespace {

using clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A worker that dies sooner than this after its start counts toward a crash loop.
constexpr milliseconds min_uptime{1000};
constexpr milliseconds first_backoff{100};
constexpr milliseconds max_backoff{10'000};
constexpr milliseconds fast_stop_timeout{5'000};
constexpr milliseconds graceful_stop_timeout{30'000};

struct worker_slot {
    pid_t pid = 0;
    clock::time_point started{};
    unsigned early_deaths = 0;                   // in a row
    std::optional<clock::time_point> respawn_at;
};

enum class run_state : std::uint8_t { serving, stopping_gracefully, stopping_fast };

double seconds(clock::duration d) noexcept {
    return std::chrono::duration<double>(d).count();
}

class master {
public:
    master(const config& cfg, std::vector<unique_fd> listeners, unique_fd sig)
        : cfg_{cfg}, listeners_{std::move(listeners)}, signal_fd_{std::move(sig)}, slots_(cfg.workers) {}

    int run() noexcept;

private:
    void spawn(unsigned slot) noexcept;
    [[noreturn]] void become_worker(unsigned slot, pid_t master_pid) noexcept;
    void reap() noexcept;
    void on_worker_exit(unsigned slot, int status) noexcept;
    void on_signal(std::uint32_t signo) noexcept;
    void begin_stop(run_state how) noexcept;
    void respawn_due() noexcept;
    [[nodiscard]] int poll_timeout_ms() const noexcept;
    [[nodiscard]] unsigned live_workers() const noexcept;
    void signal_workers(int signo) noexcept;
    [[nodiscard]] int listener_for(unsigned slot) const noexcept {
        return listeners_.size() == 1 ? listeners_[0].get() : listeners_[slot].get();
    }

    const config& cfg_;
    std::vector<unique_fd> listeners_;
    unique_fd signal_fd_;
    std::vector<worker_slot> slots_;
    run_state state_ = run_state::serving;
    clock::time_point stop_deadline_{};
    bool killed_stragglers_ = false;
};

int master::run() noexcept {
    for (unsigned i = 0; i < slots_.size(); ++i) {
        spawn(i);
    }
    while (state_ == run_state::serving || live_workers() > 0) {
        pollfd p{.fd = signal_fd_.get(), .events = POLLIN, .revents = 0};
        const int n = ::poll(&p, 1, poll_timeout_ms());
        if (n < 0 && errno != EINTR) {
            log_line("poll failed: %s; stopping", std::strerror(errno));
            begin_stop(run_state::stopping_fast);
        }
        if (n > 0) {
            signalfd_siginfo si{};
            while (::read(signal_fd_.get(), &si, sizeof si) == static_cast<ssize_t>(sizeof si)) {
                on_signal(si.ssi_signo);
            }
        }
        if (state_ == run_state::serving) {
            respawn_due();
        } else if (!killed_stragglers_ && clock::now() >= stop_deadline_) {
            log_line("%u worker(s) still running after the stop timeout; sending SIGKILL", live_workers());
            signal_workers(SIGKILL);
            killed_stragglers_ = true;
        }
    }
    log_line("all workers exited; master exiting");
    return 0;
}

void master::spawn(unsigned slot) noexcept {
    worker_slot& w = slots_[slot];
    w.respawn_at.reset();
    const pid_t master_pid = ::getpid();
    const pid_t pid = ::fork();
    if (pid < 0) {
        log_line("fork for worker %u failed: %s; retrying in 1 s", slot, std::strerror(errno));
        w.respawn_at = clock::now() + milliseconds{1000};
        return;
    }
    if (pid == 0) {
        become_worker(slot, master_pid);
    }
    w.pid = pid;
    w.started = clock::now();
    log_line("worker %u started, pid %d", slot, static_cast<int>(pid));
}

void master::become_worker(unsigned slot, pid_t master_pid) noexcept {
    // If the master dies, even by SIGKILL, its workers die with it: no orphans.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != master_pid) {
        ::_exit(0);   // the master died before the line above took effect
    }
    char who[32];
    std::snprintf(who, sizeof who, "worker %u", slot);
    set_log_identity(who);
    char title[64];
    std::snprintf(title, sizeof title, "preforkd: worker process %u", slot);
    set_proc_title(title);

    signal_fd_.reset();
    const int listen_fd = listener_for(slot);
    for (auto& fd : listeners_) {
        if (fd.get() != listen_fd) {
            fd.reset();   // reuseport: another slot's socket
        }
    }
    ::_exit(worker::run(cfg_.worker, listen_fd));
}

void master::reap() noexcept {
    for (;;) {
        int status = 0;
        const pid_t pid = ::waitpid(-1, &status, WNOHANG);
        if (pid <= 0) {
            return;   // 0: none left to reap now; -1/ECHILD: no children at all
        }
        const auto it = std::find_if(slots_.begin(), slots_.end(), [pid](const worker_slot& w) { return w.pid == pid; });
        if (it != slots_.end()) {
            on_worker_exit(static_cast<unsigned>(it - slots_.begin()), status);
        }
    }
}

void master::on_worker_exit(unsigned slot, int status) noexcept {
    worker_slot& w = slots_[slot];
    const auto uptime = clock::now() - w.started;
    const pid_t pid = std::exchange(w.pid, 0);

    char how[96];
    if (WIFSIGNALED(status)) {
        std::snprintf(how, sizeof how, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
    } else {
        std::snprintf(how, sizeof how, "exited with code %d", WEXITSTATUS(status));
    }
    if (state_ != run_state::serving) {
        log_line("worker %u pid %d %s after %.1f s", slot, static_cast<int>(pid), how, seconds(uptime));
        return;
    }

    // Back off only when workers keep dying young; one crash is repaired at once.
    w.early_deaths = uptime < min_uptime ? w.early_deaths + 1 : 0;
    milliseconds delay{0};
    if (w.early_deaths >= 2) {
        const unsigned shift = std::min(w.early_deaths - 2, 16U);
        delay = std::min<milliseconds>(first_backoff * (1U << shift), max_backoff);
    }
    w.respawn_at = clock::now() + delay;
    if (delay.count() == 0) {
        log_line("worker %u pid %d %s after %.1f s; respawning now", slot, static_cast<int>(pid), how,
                 seconds(uptime));
    } else {
        log_line("worker %u pid %d %s after %.1f s; %u early exits in a row, respawn in %lld ms", slot,
                 static_cast<int>(pid), how, seconds(uptime), w.early_deaths,
                 static_cast<long long>(delay.count()));
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
    stop_deadline_ = clock::now() + (fast ? fast_stop_timeout : graceful_stop_timeout);
    for (auto& w : slots_) {
        w.respawn_at.reset();
    }
    signal_workers(fast ? SIGTERM : SIGQUIT);
}

void master::respawn_due() noexcept {
    const auto now = clock::now();
    for (unsigned i = 0; i < slots_.size(); ++i) {
        if (slots_[i].pid == 0 && slots_[i].respawn_at && *slots_[i].respawn_at <= now) {
            spawn(i);
        }
    }
}

int master::poll_timeout_ms() const noexcept {
    auto next = clock::now() + milliseconds{1000};
    if (state_ == run_state::serving) {
        for (const auto& w : slots_) {
            if (w.pid == 0 && w.respawn_at) {
                next = std::min(next, *w.respawn_at);
            }
        }
    } else if (!killed_stragglers_) {
        next = std::min(next, stop_deadline_);
    }
    const auto wait = std::chrono::ceil<milliseconds>(next - clock::now());
    return static_cast<int>(std::max<long long>(0, wait.count()));
}

unsigned master::live_workers() const noexcept {
    return static_cast<unsigned>(std::count_if(slots_.begin(), slots_.end(), [](const worker_slot& w) { return w.pid > 0; }));
}

void master::signal_workers(int signo) noexcept {
    for (const auto& w : slots_) {
        if (w.pid > 0) {
            ::kill(w.pid, signo);
        }
    }
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

int run_master(const config& cfg, const std::string& cmdline) noexcept {
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
    auto listeners = open_listeners(cfg);
    if (!listeners) {
        log_line("cannot listen on %s: %s failed: %s", cfg.listen.text.c_str(), listeners.error().call,
                 std::strerror(listeners.error().code));
        return 1;
    }
    set_proc_title("preforkd: master process " + cmdline);
    log_line("listening on %s (balance %s, %zu socket%s), starting %u worker%s", cfg.listen.text.c_str(),
             to_string(cfg.balance), listeners->size(), listeners->size() == 1 ? "" : "s", cfg.workers,
             cfg.workers == 1 ? "" : "s");
    master m{cfg, std::move(*listeners), std::move(sig)};
    return m.run();
}

}  // namespace pfd::server
