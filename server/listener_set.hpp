#pragma once
// One generation's listening sockets: one shared socket, or with reuseport one per slot
// (slot i serves socket i). The set opens or adopts them at start, keeps or binds them
// on a reload, grows and shrinks them on a scale, and steers new connections away from
// the sockets of removed slots while their workers still hold them.
// Socket activation: the sockets systemd passed are used instead of binding, kept as
// they are across reloads and binary upgrades; nothing is ever bound beside them.
#include <cstddef>
#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "base/result.hpp"
#include "base/unique_fd.hpp"
#include "server/config.hpp"

namespace pfd::server {

class listener_set;

// What a reload keeps of a set and binds anew (listener_set::carry_over).
struct carried_sockets;

class listener_set {
public:
    listener_set() = default;

    // At start: the sockets a binary upgrade handed over (PREFORKD_LISTEN_FDS) that are
    // bound to cfg's address, the rest closed and what is missing bound; the sockets
    // systemd passed (socket activation: exactly one in shared mode, one per slot with
    // reuseport), or ones a socket-activated old master handed over, whatever cfg's
    // address; otherwise all bound here. The message says why not.
    static tl::expected<listener_set, std::string> open(const config& cfg) noexcept;
    // Whether this process was started by a binary upgrade with the old master's sockets.
    [[nodiscard]] static bool handed_over() noexcept;

    [[nodiscard]] std::size_t size() const noexcept { return fds_.size(); }
    // The sockets came from systemd (directly, or through a binary upgrade).
    [[nodiscard]] bool activated() const noexcept { return activated_; }
    // The address socket 0 is bound to ("127.0.0.1:9000", "[::1]:9000"); text empty if none.
    [[nodiscard]] listen_address address() const;
    // Why these sockets cannot serve cfg's balance and worker count (socket activation:
    // none can be bound beside them); empty if they can.
    [[nodiscard]] std::string activation_mismatch(const config& cfg) const;
    [[nodiscard]] bool empty() const noexcept { return fds_.empty(); }
    // The socket a worker of `slot` listens on under `balance`; -1 if there is none.
    [[nodiscard]] int fd_for(unsigned slot, balance_mode balance) const noexcept;
    // Which of the set's sockets is slot's (a single socket is everyone's socket 0).
    [[nodiscard]] std::size_t index_of(unsigned slot) const noexcept { return fds_.size() > 1 ? slot : 0; }

    // Reload to `next` from `base`, the configuration these sockets were bound for: the
    // sockets that still fit move to the result (no gap, nothing queued lost), the rest
    // are bound. On failure this set is as it was and the message says why.
    tl::expected<carried_sockets, std::string> carry_over(const config& base, const config& next) noexcept;
    // Scale up (reuseport): binds sockets for the slots up to n.
    result<bool> grow_to(std::size_t n, const config& cfg) noexcept;
    // Scale down: our copies of the removed slots' sockets close; their draining
    // workers keep their own until they let go.
    void shrink_to(std::size_t n) noexcept { fds_.resize(n); }
    void close_all() noexcept { fds_.clear(); }
    // In a new worker: every socket but the one it listens on.
    void close_all_but(int keep) noexcept;
    // A set no generation steers any more (kept only for a serving generation's workers).
    void park() noexcept { steer_pending_ = false; }

    // Binary upgrade: "3,4,5", and in the child about to exec, the sockets made to
    // survive exec and named in PREFORKD_LISTEN_FDS (and PREFORKD_LISTEN_ACTIVATED=1 for
    // systemd's: the new master keeps them whatever its configured address).
    [[nodiscard]] std::string fd_list() const;
    void hand_over_on_exec(const std::string& list) const noexcept;

    // Reuseport steering. New connections go to the first steered_over() sockets of the
    // group, which are always ones that stay: to all of them once no removed slot's
    // worker holds its socket any more (removed_socket_held false).
    void steer(bool removed_socket_held) noexcept;
    [[nodiscard]] bool steer_pending() const noexcept { return steer_pending_; }
    // The new master of an upgrade steered the group over its own number of sockets.
    void steer_over_all_again() noexcept;
    // Reuseport: new connections skip these sockets (sorted; their workers take no more)
    // while any other is open. Re-attaches the program only when the set changes.
    void skip(std::vector<unsigned> sockets) noexcept;
    [[nodiscard]] const std::vector<unsigned>& skipped() const noexcept { return skipped_; }

private:
    explicit listener_set(std::vector<unique_fd> fds, bool activated = false) noexcept
        : fds_{std::move(fds)}, steered_over_{static_cast<unsigned>(fds_.size())}, activated_{activated} {}
    // A set that starts a group (or is the first to steer it): with by_cpu, its program
    // chooses by CPU from now on.
    void steer_by_cpu_from_start(bool by_cpu) noexcept;
    // Attaches the program that sends new connections to the first n sockets.
    void attach(unsigned n) noexcept;

    std::vector<unique_fd> fds_;
    // Reuseport: new connections go to the first steered_over_ sockets of the group (at
    // first, with no program attached, to all of them).
    unsigned steered_over_ = 0;
    bool steer_pending_ = false;   // steered_over_ < size() until removed sockets close
    bool by_cpu_ = false;          // balance = "cpu": every program the set attaches chooses by CPU
    bool attached_by_cpu_ = false;   // the group's program does (a set sharing the group inherits it)
    std::vector<unsigned> skipped_;  // the sockets the group's program skips
    bool activated_ = false;
};

struct carried_sockets {
    listener_set sockets;
    // The new set shares a reuseport group with sockets that go: steer it (after the
    // workers on removed sockets are marked).
    bool shares_group = false;
};

}  // namespace pfd::server
