#pragma once
// SIGHUP: re-read the configuration and start a new generation of workers with it; the
// generation that served before goes on serving (and is kept at full strength) until
// the new one is ready in every slot, or until worker_timeout with part of it ready,
// then drains. HUPs that arrive meanwhile collapse into one reload that re-reads the
// file once the pending one is done, so the newest file wins.
#include <chrono>
#include <optional>

#include "server/generation.hpp"
#include "server/worker_pool.hpp"

namespace pfd::server {

class reload_state {
public:
    // While a reload waits for its new workers to report ready, the master looks this often.
    static constexpr std::chrono::milliseconds pending_every{50};

    void on_hup(generation& current, worker_pool& pool) noexcept;
    // Each round while serving: retires the previous generation once the new one is
    // ready, then runs a reload that HUPs asked for if it may proceed now.
    void step(generation& current, worker_pool& pool) noexcept;
    // Stopping: no reload is pending or wanted any more.
    void cancel() noexcept;

    // No reload is pending or waiting to run (systemd's READY=1 after RELOADING=1).
    [[nodiscard]] bool idle() const noexcept { return !previous_ && !requested_; }

    // The generation serving until the pending one is ready; null when none is pending.
    [[nodiscard]] generation* previous() noexcept { return previous_ ? &*previous_ : nullptr; }
    [[nodiscard]] const generation* previous() const noexcept { return previous_ ? &*previous_ : nullptr; }
    // A worker of the pending generation died before it was ready: a HUP waiting for
    // that generation need not wait any longer.
    void note_pending_failure() noexcept {
        if (previous_) {
            pending_failed_ = true;
        }
    }

private:
    void reload(generation& current, worker_pool& pool) noexcept;
    [[nodiscard]] bool may_proceed() const noexcept;
    void defer(std::size_t free, unsigned needed, const generation& current) noexcept;
    void retire_previous(const generation& current, worker_pool& pool) noexcept;

    // A reload is pending while previous_ is set: from the start of a new generation
    // until it is ready (or deadline_ passes with part of it ready).
    std::optional<generation> previous_;
    std::optional<steady_clock::time_point> deadline_;
    bool pending_failed_ = false;
    bool requested_ = false;         // HUPs collapsed into one reload, to run once it may proceed
    bool deferred_logged_ = false;
};

}  // namespace pfd::server
