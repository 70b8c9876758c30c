#pragma once
// The service manager's side of the master (libsystemd's sd-daemon, not hand-rolled
// protocol code): sd_notify messages and socket activation.
//   READY=1      the first generation is ready (with MAINPID= in a new master of a binary upgrade)
//   RELOADING=1  ... READY=1 around a reload
//   STOPPING=1   a stop has begun
//   STATUS=      one line: what the server is doing
//   WATCHDOG=1   at half of WATCHDOG_USEC, from the master loop
// Everything is a no-op when NOTIFY_SOCKET is unset (not started by systemd).
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "base/clock.hpp"
#include "base/unique_fd.hpp"

namespace pfd::server {

class service_notifier {
public:
    // Reads NOTIFY_SOCKET and the watchdog's WATCHDOG_USEC (for this pid) once.
    service_notifier() noexcept;

    [[nodiscard]] bool enabled() const noexcept { return enabled_; }

    // READY=1 with the status line; main_pid: MAINPID= this process too (a new master of
    // a binary upgrade, or an old one taking the service back).
    void ready(const std::string& status, bool main_pid) noexcept;
    void reloading() noexcept;                       // RELOADING=1 and MONOTONIC_USEC=
    void stopping(const std::string& status) noexcept;  // once
    // STATUS=, only when it changed.
    void status(const std::string& status) noexcept;

    // While another master speaks for the service (a binary upgrade's new one runs), this
    // one says nothing: its STOPPING=1 would stop the service, its pings hide a hung new master.
    void set_muted(bool muted) noexcept { muted_ = muted; }
    [[nodiscard]] bool muted() const noexcept { return muted_; }

    // The watchdog: WATCHDOG=1 when due (called from the master loop, so a loop that no
    // longer turns stops the pings); when the next is due, if the watchdog is on.
    void tick(steady_clock::time_point now) noexcept;
    [[nodiscard]] std::optional<steady_clock::time_point> next_ping() const noexcept;

private:
    void send(const std::string& message) noexcept;

    bool enabled_ = false;
    bool muted_ = false;
    bool stopping_sent_ = false;
    std::string last_status_;
    std::optional<std::chrono::microseconds> ping_every_;
    steady_clock::time_point next_ping_{};
};

// Socket activation: the sockets systemd passed (LISTEN_FDS for LISTEN_PID == us), taken
// out of the environment so no child (worker, new master) takes them for its own; each
// must be a listening TCP socket (close-on-exec, non-blocking and TCP_NODELAY from here
// on, as the sockets the master binds). Empty when none were passed.
tl::expected<std::vector<unique_fd>, std::string> take_activated_sockets() noexcept;

// In a new worker: it must not speak for the service (a module calling sd_notify).
void forget_service_manager() noexcept;
// In the child that becomes a new master (before exec): the watchdog is its own.
void hand_over_watchdog() noexcept;

}  // namespace pfd::server
