#include "worker/worker.hpp"

#include <sys/signalfd.h>

#include <cerrno>
#include <csignal>
#include <cstring>
#include <memory>

#include "base/log.hpp"
#include "worker/event_loop.hpp"

namespace pfd::worker {

namespace {

constexpr unsigned sq_entries = 1024;
constexpr unsigned cq_entries = 8192;

result<unique_fd> make_signal_fd() noexcept {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGTERM, SIGINT, SIGQUIT}) {
        sigaddset(&set, s);
    }
    unique_fd fd{::signalfd(-1, &set, SFD_CLOEXEC)};
    if (!fd.valid()) {
        return fail(errno, "signalfd");
    }
    return fd;
}

}  // namespace

int run(const settings& cfg, int listen_fd, worker_stats& stats, const scoreboard& board, bool shared_listener) noexcept {
    std::signal(SIGPIPE, SIG_IGN);
    stats.in_module.store(0, std::memory_order_relaxed);   // not the previous occupant's
    auto sig = make_signal_fd();
    if (!sig) {
        log_line("%s failed: %s", sig.error().call, std::strerror(sig.error().code));
        return 1;
    }
    auto r = ring::create(sq_entries, cq_entries);
    if (!r) {
        log_line("cannot create an io_uring (%s: %s); io_uring may be disabled "
                 "(sysctl kernel.io_uring_disabled) or unsupported by this kernel",
                 r.error().call, std::strerror(r.error().code));
        return 1;
    }
    auto loop = std::make_unique<event_loop>(cfg, listen_fd, std::move(*r), std::move(*sig), stats, board,
                                             shared_listener);
    if (auto b = loop->set_up_buffers(); !b) {
        log_line("cannot set up receive buffers (%s: %s); needs Linux 5.19 or later",
                 b.error().call, std::strerror(b.error().code));
        return 1;
    }
    return loop->run();
}

}  // namespace pfd::worker
