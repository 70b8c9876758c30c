#include "server/listener_set.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <string_view>

#include "base/log.hpp"
#include "server/listeners.hpp"
#include "server/systemd.hpp"

namespace pfd::server {

namespace {

constexpr const char* handover_env = "PREFORKD_LISTEN_FDS";
// With handover_env: the sockets came from systemd; the new master keeps them as they are.
constexpr const char* activated_env = "PREFORKD_LISTEN_ACTIVATED";

// shared: one socket for all; reuseport: one per worker slot.
unsigned sockets_for(const config& cfg) noexcept {
    return cfg.balance == balance_mode::reuseport ? cfg.workers : 1;
}

// The one place sockets are bound: at start, after a handover, on a reload and on a
// scale, fds is filled up to n with new sockets (those bound before a failure stay).
result<bool> bind_up_to(std::vector<unique_fd>& fds, std::size_t n, const listen_address& where, int backlog,
                        bool reuseport) noexcept {
    while (fds.size() < n) {
        auto fd = open_listener(where, backlog, reuseport);
        if (!fd) {
            return tl::unexpected(fd.error());
        }
        fds.push_back(std::move(*fd));
    }
    return true;
}

bool same_address(const listen_address& a, const listen_address& b) noexcept {
    return a.addr_len == b.addr_len && std::memcmp(&a.addr, &b.addr, a.addr_len) == 0;
}

std::string bind_failure(const listen_address& where, const error& e) {
    return "cannot listen on " + where.text + ": " + e.call + " failed: " + std::strerror(e.code);
}

// "127.0.0.1:9000", "[::1]:9000".
std::string address_text(const sockaddr_storage& addr) {
    char host[INET6_ADDRSTRLEN] = "?";
    if (addr.ss_family == AF_INET6) {
        const auto& a = reinterpret_cast<const sockaddr_in6&>(addr);
        ::inet_ntop(AF_INET6, &a.sin6_addr, host, sizeof host);
        return std::string{"["} + host + "]:" + std::to_string(ntohs(a.sin6_port));
    }
    const auto& a = reinterpret_cast<const sockaddr_in&>(addr);
    ::inet_ntop(AF_INET, &a.sin_addr, host, sizeof host);
    return std::string{host} + ":" + std::to_string(ntohs(a.sin_port));
}

listen_address address_of(int fd) {
    listen_address out;
    socklen_t len = sizeof out.addr;
    if (fd >= 0 && ::getsockname(fd, reinterpret_cast<sockaddr*>(&out.addr), &len) == 0) {
        out.addr_len = len;
        out.text = address_text(out.addr);
    }
    return out;
}

// The listening sockets named in PREFORKD_LISTEN_FDS that are bound to our address (any
// address, when `ours` is null) (now close-on-exec again); the others are closed.
std::vector<unique_fd> inherited_sockets(std::string_view list, const listen_address* ours) noexcept {
    std::vector<unique_fd> adopted;
    for (std::string_view rest = list; !rest.empty();) {
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
        const bool mine = ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0 &&
                          ::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &optlen) == 0 && listening != 0 &&
                          (ours == nullptr || (len == ours->addr_len && std::memcmp(&addr, &ours->addr, len) == 0));
        if (mine) {
            ::fcntl(fd, F_SETFD, FD_CLOEXEC);
            adopted.push_back(std::move(owned));
        }
    }
    return adopted;
}

}  // namespace

bool listener_set::handed_over() noexcept {
    return std::getenv(handover_env) != nullptr;
}

tl::expected<listener_set, std::string> listener_set::open(const config& cfg) noexcept {
    const bool reuseport = cfg.balance == balance_mode::reuseport;
    const unsigned wanted = sockets_for(cfg);
    const char* inherited = std::getenv(handover_env);
    if (inherited == nullptr) {
        auto activated = take_activated_sockets();
        if (!activated) {
            return tl::unexpected(activated.error());
        }
        if (!activated->empty()) {
            listener_set set{std::move(*activated), true};
            if (std::string why = set.activation_mismatch(cfg); !why.empty()) {
                return tl::unexpected(why);
            }
            for (const auto& fd : set.fds_) {
                log_line("listening on %s (from systemd)", address_of(fd.get()).text.c_str());
            }
            set.steer_by_cpu_from_start(cfg.steer_by_cpu);
            return set;
        }
        std::vector<unique_fd> fds;
        if (auto r = bind_up_to(fds, wanted, cfg.listen, cfg.backlog, reuseport); !r) {
            return tl::unexpected(bind_failure(cfg.listen, r.error()));
        }
        listener_set set{std::move(fds)};
        set.steer_by_cpu_from_start(cfg.steer_by_cpu);
        return set;
    }
    if (std::getenv(activated_env) != nullptr) {
        // systemd's sockets, through a binary upgrade: kept as they are, and nothing bound.
        listener_set set{inherited_sockets(inherited, nullptr), true};
        ::unsetenv(handover_env);
        ::unsetenv(activated_env);
        if (std::string why = set.activation_mismatch(cfg); !why.empty()) {
            return tl::unexpected(why);
        }
        log_line("adopted %zu listening socket(s) from the previous master (from systemd): %s", set.size(),
                 set.address().text.c_str());
        set.steer_by_cpu_from_start(cfg.steer_by_cpu);
        return set;
    }
    // A binary upgrade: nothing queued on the adopted sockets is lost.
    std::vector<unique_fd> adopted = inherited_sockets(inherited, &cfg.listen);
    ::unsetenv(handover_env);
    const bool was_group = adopted.size() > 1;
    if (reuseport && !adopted.empty()) {
        // From a shared-mode master: its socket joins the group the new ones will form.
        if (auto r = allow_reuseport(adopted[0].get()); !r) {
            return tl::unexpected(bind_failure(cfg.listen, r.error()));
        }
    }
    adopted.resize(std::min<std::size_t>(adopted.size(), wanted));
    log_line("adopted %zu listening socket(s) from the previous master", adopted.size());
    if (auto r = bind_up_to(adopted, wanted, cfg.listen, cfg.backlog, reuseport); !r) {
        return tl::unexpected(bind_failure(cfg.listen, r.error()));
    }
    listener_set set{std::move(adopted)};
    set.by_cpu_ = cfg.steer_by_cpu;
    if (was_group || set.size() > 1) {
        // The group is in slot order: the old master's sockets, then any opened here.
        // Its steering (if it had scaled) counts the old number of slots, and the old
        // master's sockets beyond ours close when its workers exit: spread new
        // connections over exactly ours, now, while the old workers still serve theirs.
        set.attach(wanted);
    }
    return set;
}

listen_address listener_set::address() const {
    return address_of(fds_.empty() ? -1 : fds_[0].get());
}

std::string listener_set::activation_mismatch(const config& cfg) const {
    const std::size_t n = fds_.size();
    if (!activated_ || n == sockets_for(cfg)) {
        return {};
    }
    const std::string passed = "socket activation passed " + std::to_string(n) + " socket" + (n == 1 ? "" : "s");
    if (cfg.balance == balance_mode::reuseport) {
        return passed + "; balance = reuseport needs one per worker (workers = " + std::to_string(cfg.workers) + ")";
    }
    return passed + "; balance = shared takes exactly one";
}

int listener_set::fd_for(unsigned slot, balance_mode balance) const noexcept {
    if (fds_.empty()) {
        return -1;
    }
    // A slot beyond the set (a generation that had more slots, serving from the
    // current sockets) takes one of the sockets that stay, where connections are steered.
    return fds_.size() == 1 || balance == balance_mode::shared ? fds_[0].get() : fds_[slot % fds_.size()].get();
}

tl::expected<carried_sockets, std::string> listener_set::carry_over(const config& base, const config& next) noexcept {
    if (std::string why = activation_mismatch(next); !why.empty()) {
        return tl::unexpected(why);   // nothing may be bound beside systemd's sockets
    }
    // systemd's sockets stay whatever the file says (reload.cpp warns about it).
    const bool same = activated_ || same_address(next.listen, base.listen);
    const bool reuseport = next.balance == balance_mode::reuseport;
    const bool to_reuseport = same && base.balance == balance_mode::shared && reuseport && !fds_.empty();
    const bool to_shared = same && base.balance == balance_mode::reuseport && !reuseport && !fds_.empty();
    if (to_reuseport) {
        // The shared socket becomes slot 0's; any steering program left from an earlier
        // switch to shared mode is replaced once the new sockets are bound.
        if (auto r = allow_reuseport(fds_[0].get()); !r) {
            return tl::unexpected(std::string{r.error().call} + " on the shared socket: " + std::strerror(r.error().code));
        }
    }
    const unsigned wanted = sockets_for(next);
    carried_sockets out;
    out.sockets.activated_ = activated_;
    std::vector<unique_fd>& fds = out.sockets.fds_;
    for (std::size_t i = 0; same && i < wanted && i < fds_.size(); ++i) {
        fds.push_back(std::move(fds_[i]));
    }
    if (auto r = bind_up_to(fds, wanted, next.listen, next.backlog, reuseport); !r) {
        // Give back what was taken so nothing changes.
        for (std::size_t k = 0; k < fds.size() && k < fds_.size(); ++k) {
            if (!fds_[k].valid()) {
                fds_[k] = std::move(fds[k]);
            }
        }
        return tl::unexpected("cannot listen on " + next.listen.text + ": " + r.error().call +
                              " failed: " + std::strerror(r.error().code));
    }
    // Sockets that go stay in the reuseport group until the old workers holding them
    // have drained, and the kernel would go on handing them new connections, to be reset
    // when they close: a set that shares the group goes on with its steering, to be
    // spread over the sockets that stay (reuseport -> shared: socket 0 alone;
    // SO_REUSEPORT is harmless on it). Any other set is a new group, or none.
    out.shares_group = same && (to_shared || reuseport);
    out.sockets.by_cpu_ = reuseport && next.steer_by_cpu;
    if (out.shares_group) {
        // steer() attaches the new kind of program when it differs from the group's.
        out.sockets.steered_over_ = steered_over_;
        out.sockets.steer_pending_ = steer_pending_;
        out.sockets.attached_by_cpu_ = attached_by_cpu_;
        out.sockets.skipped_ = skipped_;
    } else {
        out.sockets.steered_over_ = static_cast<unsigned>(fds.size());
        out.sockets.steer_by_cpu_from_start(out.sockets.by_cpu_);
    }
    return out;
}

result<bool> listener_set::grow_to(std::size_t n, const config& cfg) noexcept {
    if (activated_ && n > fds_.size()) {
        return fail(EPERM, "socket activation (systemd passed the sockets: none is bound here)");
    }
    return bind_up_to(fds_, n, cfg.listen, cfg.backlog, true);
}

void listener_set::close_all_but(int keep) noexcept {
    for (auto& fd : fds_) {
        if (fd.get() != keep) {
            fd.reset();
        }
    }
}

std::string listener_set::fd_list() const {
    std::string list;
    for (const auto& fd : fds_) {
        if (!list.empty()) {
            list += ',';
        }
        list += std::to_string(fd.get());
    }
    return list;
}

void listener_set::hand_over_on_exec(const std::string& list) const noexcept {
    for (const auto& fd : fds_) {
        ::fcntl(fd.get(), F_SETFD, 0);
    }
    ::setenv(handover_env, list.c_str(), 1);
    if (activated_) {
        ::setenv(activated_env, "1", 1);
    }
}

// The kernel keeps a reuseport group in join order and fills the hole a closed socket
// leaves with its last one; steering picks by that order. The first
// min(steered_over_, size()) sockets of the group are always ones that stay (holes are
// only ever left, and filled, above them), so that is where new connections go while a
// removed slot's socket is still in the group; once none is, all of the set (sockets
// added meanwhile have moved down into the holes).
void listener_set::steer(bool removed_socket_held) noexcept {
    const auto all = static_cast<unsigned>(fds_.size());
    const unsigned n = removed_socket_held ? std::min(steered_over_, all) : all;
    if (n < all && !steer_pending_) {
        log_line("new sockets get connections once the removed slots' workers let go of theirs");
    }
    steer_pending_ = n < all;
    if (n != steered_over_ || attached_by_cpu_ != by_cpu_) {
        attach(n);
    }
}

void listener_set::steer_over_all_again() noexcept {
    if (fds_.size() > 1) {
        attach(static_cast<unsigned>(fds_.size()));
    }
}

void listener_set::steer_by_cpu_from_start(bool by_cpu) noexcept {
    by_cpu_ = by_cpu;
    if (by_cpu_ && fds_.size() > 1) {
        attach(steered_over_);
    }
}

void listener_set::skip(std::vector<unsigned> sockets) noexcept {
    std::erase_if(sockets, [this](unsigned k) { return k >= steered_over_; });
    if (fds_.size() > 1 && sockets != skipped_) {
        skipped_ = std::move(sockets);
        attach(steered_over_);
    }
}

void listener_set::attach(unsigned n) noexcept {
    // Only the sockets new connections may go to can be skipped.
    std::erase_if(skipped_, [n](unsigned k) { return k >= n; });
    steer_new_connections(fds_[0].get(), n, by_cpu_, skipped_);
    steered_over_ = n;
    attached_by_cpu_ = by_cpu_;
}

}  // namespace pfd::server
