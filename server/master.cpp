#include "server/master.hpp"

#include <poll.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "base/log.hpp"
#include "base/unique_fd.hpp"
#include "server/control.hpp"
#include "server/control_clients.hpp"
#include "server/full_workers.hpp"
#include "server/generation.hpp"
#include "server/listener_set.hpp"
#include "server/listeners.hpp"
#include "server/log_files.hpp"
#include "server/messages.hpp"
#include "server/metrics_listener.hpp"
#include "server/pid_file.hpp"
#include "server/proc_title.hpp"
#include "server/reload.hpp"
#include "server/respawn.hpp"
#include "server/status_sampler.hpp"
#include "server/supervision.hpp"
#include "server/systemd.hpp"
#include "server/upgrade.hpp"
#include "server/worker_pool.hpp"
#include "worker/scoreboard.hpp"

namespace pfd::server {

namespace {

using std::chrono::milliseconds;

constexpr milliseconds fast_stop_timeout{5'000};

enum class run_state : std::uint8_t { serving, stopping_gracefully, stopping_fast };

// The master: its poll loop over the signalfd and the control socket, the signals, and
// stopping. Each concern it drives lives in its own file: the workers (worker_pool,
// respawn), their supervision, reloads, the binary upgrade and the status report.
class master {
public:
    master(config cfg, listener_set listeners, unique_fd sig, worker::scoreboard board, control_socket control,
           pid_file pid, metrics_listener metrics, std::vector<std::string> argv, std::string binary_path)
        : pid_file_{std::move(pid)},
          metrics_{std::move(metrics)},
          upgrade_{std::move(argv), std::move(binary_path)},
          signal_fd_{std::move(sig)},
          control_{std::move(control)},
          pool_{std::move(board), [this](int listen_fd) { close_in_worker(listen_fd); }} {
        current_.slots.resize(cfg.workers);
        current_.cfg = std::move(cfg);
        current_.listeners = std::move(listeners);
    }

    int run() noexcept;
    void set_previous_master(pid_t pid) noexcept { upgrade_.set_previous_master(pid); }

private:
    [[nodiscard]] bool serving() const noexcept { return state_ == run_state::serving; }
    void spawn(unsigned slot) noexcept { pool_.start(current_, slot, current_.listeners); }
    void close_in_worker(int listen_fd) noexcept;
    void on_signal(std::uint32_t signo) noexcept;
    void reap() noexcept;
    void on_worker_exit(const worker_proc& w, int status) noexcept;
    void begin_stop(run_state how) noexcept;
    void scale(unsigned n) noexcept;
    void settle_steering() noexcept;
    [[nodiscard]] std::string answer(std::string_view command);
    [[nodiscard]] bool receives_messages(pid_t pid) const noexcept;
    [[nodiscard]] binary_upgrade::master_files files() noexcept {
        return {current_.listeners, pid_file_, control_, current_.cfg};
    }
    [[nodiscard]] int poll_timeout_ms() const noexcept;
    void publish_readiness() noexcept;
    [[nodiscard]] bool all_slots_up() const noexcept;
    void drain() noexcept;
    void quit() noexcept;
    [[nodiscard]] bool stop_pending(const char* what) const noexcept;
    void tell_service_manager() noexcept;
    [[nodiscard]] std::string status_line() const;

    pid_file pid_file_;
    metrics_listener metrics_;
    binary_upgrade upgrade_;
    generation current_;             // its configuration is replaced by a reload
    reload_state reload_;
    unique_fd signal_fd_;
    control_socket control_;
    control_clients clients_;
    unsigned pending_scale_ = 0;     // from the control socket, applied once the client is answered
    worker_pool pool_;
    status_sampler sampler_;
    full_workers full_;
    run_state state_ = run_state::serving;
    steady_clock::time_point stop_deadline_{};
    steady_clock::time_point next_supervise_{};
    bool killed_stragglers_ = false;
    // Draining (-s drain, or a graceful stop waiting out shutdown_delay): /readyz answers
    // 503 and responses say Connection: close, but everything still serves; since when.
    std::optional<steady_clock::time_point> drain_since_;
    std::optional<steady_clock::time_point> stop_at_;   // QUIT: the graceful stop begins then
    bool up_ = false;                 // every slot of a generation has been ready once
    bool reloading_told_ = false;     // RELOADING=1 sent, READY=1 not yet
    service_notifier notifier_;
};

int master::run() noexcept {
    for (unsigned i = 0; i < current_.slots.size(); ++i) {
        spawn(i);
    }
    const control_clients::answer_fn answer_fn = [this](std::string_view command) { return answer(command); };
    const message_relay::receives_fn receives_fn = [this](pid_t pid) { return receives_messages(pid); };
    std::vector<pollfd> p;
    while (serving() || !pool_.empty()) {
        p.clear();
        p.push_back({.fd = signal_fd_.get(), .events = POLLIN, .revents = 0});
        clients_.add_pollfds(control_.fd(), p);
        const std::size_t channels_at = p.size();
        pool_.relay().add_pollfds(p);
        const std::size_t metrics_at = p.size();
        metrics_.add_pollfds(p);
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
        // Before anything answers (status, metrics): what the signals just changed.
        publish_readiness();
        // Every round, polled or not: deadlines pass without events.
        clients_.serve(control_.fd(), std::span<const pollfd>{p}.subspan(1, channels_at - 1), answer_fn);
        if (n > 0) {
            pool_.relay().serve(std::span<const pollfd>{p}.subspan(channels_at, metrics_at - channels_at), receives_fn);
        }
        metrics_.serve(std::span<const pollfd>{p}.subspan(metrics_at), pool_, current_);
        if (pending_scale_ != 0) {
            scale(std::exchange(pending_scale_, 0U));
        }
        if (stop_at_ && steady_clock::now() >= *stop_at_) {
            log_line("shutdown_delay is over: stopping gracefully");
            begin_stop(run_state::stopping_gracefully);
        }
        sampler_.tick(pool_);
        if (steady_clock::now() >= next_supervise_) {
            next_supervise_ = steady_clock::now() + supervise_every;
            settle_steering();
            supervise(pool_, current_, serving());
            pool_.flush_logs();
        }
        if (serving()) {
            reload_.step(current_, pool_);
            if (reloading_told_ && reload_.idle()) {
                reloading_told_ = false;
                notifier_.ready(status_line(), false);
            }
            respawn_due(pool_, current_, current_.listeners);
            if (generation* previous = reload_.previous()) {
                respawn_due(pool_, *previous, sockets_of(*previous, current_));
            }
            // Steady only: a reload or an upgrade steers the group itself for a while.
            if (reload_.idle() && !upgrade_.running()) {
                full_.look(pool_, current_);
            }
        } else if (!killed_stragglers_ && steady_clock::now() >= stop_deadline_) {
            log_line("%zu worker(s) still running after the stop timeout; sending SIGKILL", pool_.procs().size());
            for (auto& w : pool_.procs()) {
                ::kill(w.pid, SIGKILL);
            }
            killed_stragglers_ = true;
        }
        tell_service_manager();
    }
    log_line("all workers exited; master exiting");
    return 0;
}

// In a new worker, before it is named: it holds no socket but its own (another slot's
// reuseport socket, or one the previous generation keeps, would stay in use).
void master::close_in_worker(int listen_fd) noexcept {
    forget_service_manager();
    signal_fd_.reset();
    control_.close_in_worker();
    metrics_.close_in_worker();
    clients_.close_in_worker();
    current_.listeners.close_all_but(listen_fd);
    if (generation* previous = reload_.previous()) {
        previous->listeners.close_all_but(listen_fd);
    }
}

void master::reap() noexcept {
    for (;;) {
        int status = 0;
        const pid_t pid = ::waitpid(-1, &status, WNOHANG);
        if (pid <= 0) {
            return;   // 0: none left to reap now; -1/ECHILD: no children at all
        }
        if (upgrade_.is_new_master(pid)) {
            upgrade_.on_exit(status, serving(), files());
            if (notifier_.muted()) {
                // It may have told systemd it was the main pid: we are again.
                notifier_.set_muted(false);
                if (serving()) {
                    notifier_.ready(status_line(), true);
                }
            }
            continue;
        }
        if (const auto w = pool_.take_exited(pid)) {
            on_worker_exit(*w, status);
        }
    }
}

void master::on_worker_exit(const worker_proc& w, int status) noexcept {
    const bool lost = serving() && !w.draining;
    if (after_exit(w, status, lost, current_, reload_.previous(), pool_)) {
        reload_.note_pending_failure();
    }
}

// Once no removed slot's worker holds its socket, new connections go to all sockets.
void master::settle_steering() noexcept {
    if (current_.listeners.steer_pending() && serving() && !pool_.removed_socket_held()) {
        current_.listeners.steer(false);
        log_line("the removed slots' workers have let go of their sockets: new connections now go to all %zu",
                 current_.listeners.size());
    }
}

// Messages go to the workers that serve: the current generation's and, while a reload
// is pending, the previous one's (it still takes requests); not to those draining.
bool master::receives_messages(pid_t pid) const noexcept {
    const auto& procs = pool_.procs();
    const auto it = std::find_if(procs.begin(), procs.end(), [pid](const worker_proc& w) { return w.pid == pid; });
    if (it == procs.end() || it->draining || !serving()) {
        return false;
    }
    const generation* previous = reload_.previous();
    return it->config_gen == current_.number || (previous != nullptr && it->config_gen == previous->number);
}

std::string master::answer(std::string_view command) {
    if (command.starts_with("send ")) {
        return answer_send(command.substr(5), pool_.relay(), [this](pid_t pid) { return receives_messages(pid); });
    }
    control_reply reply = pfd::server::answer(command, [this] { return sampler_.status(pool_, current_, reload_.previous()); });
    if (reply.scale_to != 0) {
        pending_scale_ = reply.scale_to;
    }
    return std::move(reply.text);
}

// TTIN/TTOU and `preforkd ctl scale N`: add workers, or drain the highest slots.
void master::scale(unsigned n) noexcept {
    if (n < 1 || n > pool_.max_workers()) {
        log_line("scale: %u workers is out of range (1 to %u: the scoreboard was sized at start for twice "
                 "the larger of workers and 32; restart with a larger workers to go further); ignored",
                 n, pool_.max_workers());
        return;
    }
    config& cfg = current_.cfg;
    if (n == cfg.workers || !serving() || stop_pending("scale")) {
        return;
    }
    const bool reuseport = cfg.balance == balance_mode::reuseport;
    if (reuseport && current_.listeners.activated()) {
        log_line("scale: the %zu listening sockets came from systemd (socket activation), one per slot, and none "
                 "can be bound here: the worker count cannot change in reuseport mode; staying at %u workers",
                 current_.listeners.size(), cfg.workers);
        return;
    }
    if (auto r = reuseport ? current_.listeners.grow_to(n, cfg) : result<bool>{true}; !r) {
        log_line("scale: cannot open a socket for a new slot: %s failed: %s; staying at %u workers",
                 r.error().call, std::strerror(r.error().code), cfg.workers);
        return;
    }
    const unsigned was = cfg.workers;
    cfg.workers = n;
    current_.slots.resize(n);
    log_line("scale: %u -> %u workers", was, n);
    for (unsigned i = was; i < n; ++i) {
        spawn(i);
    }
    if (reuseport) {
        // Before the removed slots' workers are told to drain: once steered, nothing
        // new is queued on their sockets while they take what is there and close them.
        pool_.mark_removed_sockets(current_.listeners, n);
        current_.listeners.shrink_to(n);
        current_.listeners.steer(pool_.removed_socket_held());
    }
    for (auto& w : pool_.procs()) {
        if (w.slot >= n && !w.draining) {
            pool_.drain(w, cfg.supervisor.graceful_timeout, worker::restart_reason::scale);
        }
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
            quit();
            break;
        case SIGWINCH:
            drain();
            break;
        case SIGTTIN:
            scale(current_.cfg.workers + 1);
            break;
        case SIGTTOU:
            scale(current_.cfg.workers - 1);
            break;
        case SIGUSR2:
            if (serving() && !stop_pending("SIGUSR2 (binary upgrade)")) {
                if (drain_since_) {
                    // A new master would be ready at once: a drain ends only with a stop.
                    log_line("received SIGUSR2 while draining: a new master would report ready; ignored");
                    break;
                }
                upgrade_.start(files());
                if (upgrade_.running()) {
                    notifier_.status("binary upgrade: a new master is starting");
                    notifier_.set_muted(true);
                }
            }
            break;
        case SIGHUP:
            if (serving() && !stop_pending("SIGHUP (reload)")) {
                if (!reloading_told_) {
                    reloading_told_ = true;
                    notifier_.reloading();
                }
                reload_.on_hup(current_, pool_);
            }
            break;
        case SIGUSR1:
            reopen_logs(current_.cfg, pool_);
            break;
        default:
            log_line("received SIG%s: not supported yet, ignored", sigabbrev_np(static_cast<int>(signo)));
            break;
    }
}

// SIGWINCH (`preforkd -s drain`): not ready from now on, but serving as before until a
// stop (a preStop hook, or taking the host out of a balancer). Reloads, scaling and
// respawns go on; readiness stays not ready until the master exits.
void master::drain() noexcept {
    if (!serving() || stop_pending("SIGWINCH (drain)")) {
        return;
    }
    if (drain_since_) {
        log_line("received SIGWINCH: already draining");
        return;
    }
    drain_since_ = steady_clock::now();
    log_line("received SIGWINCH: draining: /readyz answers 503 and responses close their connections; still "
             "serving until QUIT (graceful stop, after what remains of shutdown_delay) or TERM");
}

// SIGQUIT: a graceful stop, after shutdown_delay counted from the start of the drain
// (this signal, or an earlier -s drain): until then nothing changes but readiness.
void master::quit() noexcept {
    if (!serving()) {
        return;
    }
    if (stop_at_) {
        log_line("received SIGQUIT: already stopping once shutdown_delay is over");
        return;
    }
    if (upgrade_.running()) {
        // The service is not going away: the new master serves and stays ready, and
        // this one's workers answering 503 meanwhile would only make probes flap.
        log_line("received SIGQUIT: the new master of the binary upgrade serves; stopping gracefully now "
                 "(no shutdown_delay)");
        begin_stop(run_state::stopping_gracefully);
        return;
    }
    const auto now = steady_clock::now();
    const auto since = drain_since_.value_or(now);
    drain_since_ = since;
    const auto at = since + current_.cfg.shutdown_delay;
    if (at <= now) {
        log_line("received SIGQUIT: stopping gracefully (in-flight requests finish)");
        begin_stop(run_state::stopping_gracefully);
        return;
    }
    stop_at_ = at;
    log_line("received SIGQUIT: not ready from now on; still serving for %.3f s (shutdown_delay), then stopping "
             "gracefully (in-flight requests finish)", to_seconds(at - now));
    notifier_.stopping(status_line());
}

// While a graceful stop waits out shutdown_delay, nothing but serving changes.
bool master::stop_pending(const char* what) const noexcept {
    if (stop_at_) {
        log_line("received %s while stopping (shutdown_delay): ignored", what);
        return true;
    }
    return false;
}

void master::begin_stop(run_state how) noexcept {
    if (state_ == how || state_ == run_state::stopping_fast) {
        return;
    }
    state_ = how;
    stop_at_.reset();
    killed_stragglers_ = false;
    const bool fast = how == run_state::stopping_fast;
    stop_deadline_ = steady_clock::now() + (fast ? fast_stop_timeout : current_.cfg.supervisor.graceful_timeout);
    for (auto& s : current_.slots) {
        s.respawn_at.reset();
    }
    reload_.cancel();
    // Close our copies of the listening sockets first: once the workers close theirs
    // too, new clients are refused at once rather than queued until we exit. (A new
    // master from a binary upgrade holds its own copies and goes on serving.)
    current_.listeners.close_all();
    for (auto& w : pool_.procs()) {
        w.draining = true;
        w.drain_deadline = stop_deadline_;
        ::kill(w.pid, fast ? SIGTERM : SIGQUIT);
    }
    notifier_.stopping(status_line());
}

// What /readyz answers: ready once every slot of the first generation has a worker
// accepting (systemd hears READY=1 then), draining from the start of a drain or stop.
// A reload does not change it: the old generation serves until the new one is ready.
void master::publish_readiness() noexcept {
    worker::server_stats& srv = pool_.server();
    srv.config_generation.store(current_.number, std::memory_order_relaxed);
    if (!up_ && serving() && all_slots_up()) {
        up_ = true;
        // A new master of a binary upgrade becomes the service's main process.
        notifier_.ready(status_line(), upgrade_.from_upgrade());
    }
    const auto readiness = !serving() || drain_since_ ? worker::server_readiness::draining
                           : up_                      ? worker::server_readiness::ready
                                                      : worker::server_readiness::starting;
    srv.readiness.store(readiness, std::memory_order_relaxed);
}

bool master::all_slots_up() const noexcept {
    const auto& procs = pool_.procs();
    for (unsigned slot = 0; slot < current_.slots.size(); ++slot) {
        const bool up = std::any_of(procs.begin(), procs.end(), [&](const worker_proc& w) {
            return w.slot == slot && w.config_gen == current_.number && !w.draining && pool_.ready(w);
        });
        if (!up) {
            return false;
        }
    }
    return true;
}

// STATUS= when it changed, and the watchdog's ping: from the loop, so a master whose
// loop no longer turns stops pinging.
void master::tell_service_manager() noexcept {
    if (!notifier_.enabled()) {
        return;
    }
    if (up_ || !serving()) {
        notifier_.status(status_line());
    }
    notifier_.tick(steady_clock::now());
}

// One line for `systemctl status`.
std::string master::status_line() const {
    const auto n = [](std::size_t v, const char* what) {
        return std::to_string(v) + " " + what + (v == 1 ? "" : "s");
    };
    if (!serving()) {
        return "stopping: " + n(pool_.procs().size(), "worker") + " finishing";
    }
    const std::string serving_what = n(current_.cfg.workers, "worker") + ", generation " + std::to_string(current_.number);
    if (stop_at_) {
        return "stopping after shutdown_delay: not ready, still serving " + serving_what;
    }
    if (drain_since_) {
        return "draining: not ready, still serving " + serving_what;
    }
    if (const generation* previous = reload_.previous()) {
        return "reloading: generation " + std::to_string(current_.number) + " starting, generation " +
               std::to_string(previous->number) + " serving";
    }
    if (!up_) {
        return "starting " + n(current_.cfg.workers, "worker");
    }
    return "serving " + serving_what;
}

int master::poll_timeout_ms() const noexcept {
    const auto now = steady_clock::now();
    auto next = std::min(now + milliseconds{1000}, next_supervise_);
    const auto sooner = [&next](std::optional<steady_clock::time_point> t) {
        if (t) {
            next = std::min(next, *t);
        }
    };
    if (serving()) {
        sooner(next_respawn(current_));
        if (const generation* previous = reload_.previous()) {
            sooner(now + reload_state::pending_every);
            sooner(next_respawn(*previous));
        }
    } else if (!killed_stragglers_) {
        sooner(stop_deadline_);
    }
    sooner(stop_at_);
    if (const auto soon = full_.next_look()) {
        sooner(now + *soon);
    }
    sooner(notifier_.next_ping());
    sooner(clients_.next_deadline());
    sooner(metrics_.next_deadline());
    const auto wait = std::chrono::ceil<milliseconds>(next - steady_clock::now());
    return static_cast<int>(std::max<long long>(0, wait.count()));
}

}  // namespace

sigset_t master_signals() noexcept {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGCHLD, SIGTERM, SIGINT, SIGQUIT, SIGHUP, SIGUSR1, SIGUSR2, SIGTTIN, SIGTTOU, SIGWINCH}) {
        sigaddset(&set, s);
    }
    return set;
}

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
    const bool from_upgrade = listener_set::handed_over();
    // First: a second master with the same configuration is told so, not 'address in use',
    // and takes over neither the pid file nor the control socket (even if the running
    // one is slow to answer on it). A binary upgrade's old master has moved its pid file.
    // (running_master trusts the file only if it names a live preforkd master of ours.)
    if (auto other = running_master(cfg.pid_file); other && *other != ::getpid()) {
        log_line("another preforkd master is running (pid %d, in %s); not starting", *other, cfg.pid_file.c_str());
        return 1;
    }
    // Titled before the pid file names this process, so a client checking the pid
    // file's process by its title never sees an untitled master.
    set_proc_title("preforkd: master process " + cmdline);
    auto control = control_socket::open(cfg.control_socket);
    if (!control) {
        log_line("cannot open the control socket: %s", control.error().c_str());
        return 1;
    }
    if (!open_logs(cfg)) {
        return 1;
    }
    auto pid = pid_file::write(cfg.pid_file);
    if (!pid) {
        log_line("cannot write the pid file: %s", pid.error().c_str());
        return 1;
    }
    auto listeners = listener_set::open(cfg);
    if (!listeners) {
        log_line("%s", listeners.error().c_str());
        return 1;
    }
    // Socket activation: what the master reports (status, metrics) and reloads compare
    // against is the address systemd's sockets have, not the file's.
    config effective = cfg;
    if (listeners->activated()) {
        if (listen_address actual = listeners->address(); !actual.text.empty()) {
            if (actual.addr_len != cfg.listen.addr_len || std::memcmp(&actual.addr, &cfg.listen.addr, actual.addr_len) != 0) {
                log_warn("listen = \"%s\" is not used: the listening socket%s came from systemd (socket activation)",
                         cfg.listen.text.c_str(), listeners->size() == 1 ? "" : "s");
            }
            effective.listen = std::move(actual);
        }
    }
    log_line("listening on %s (balance %s, %zu socket%s%s), starting %u worker%s", effective.listen.text.c_str(),
             balance_name(cfg), listeners->size(), listeners->size() == 1 ? "" : "s",
             listeners->activated() ? ", from systemd" : "", cfg.workers, cfg.workers == 1 ? "" : "s");
    auto metrics = metrics_listener::open(cfg, from_upgrade);
    if (!metrics) {
        log_line("cannot listen for metrics on %s: %s", cfg.metrics.listen.text.c_str(), metrics.error().c_str());
        return 1;
    }
    // Room for every slot twice (a recycled worker and its replacement overlap, as do
    // two generations during a reload), and for reloads that add workers.
    auto board = worker::scoreboard::create(static_cast<std::size_t>(std::max(cfg.workers, 32U)) * 2 + 2);
    if (!board) {
        log_line("cannot create the scoreboard: %s failed: %s", board.error().call, std::strerror(board.error().code));
        return 1;
    }
    board->server().start_unix_ms.store(unix_ms(), std::memory_order_relaxed);
    master m{std::move(effective),
             std::move(*listeners),
             std::move(sig),
             std::move(*board),
             std::move(*control),
             std::move(*pid),
             std::move(*metrics),
             argv,
             binary_upgrade::own_executable()};
    if (from_upgrade) {
        m.set_previous_master(::getppid());
    }
    return m.run();
}

}  // namespace pfd::server
