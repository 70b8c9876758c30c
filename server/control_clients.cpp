#include "server/control_clients.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace pfd::server {

namespace {
// `send SLOT TEXT` carries a whole message (worker/message_channel.hpp).
constexpr std::size_t max_command = 64 * 1024 + 32;
}  // namespace

void control_clients::add_pollfds(int listen_fd, std::vector<pollfd>& out) {
    polled_listener_ = listen_fd >= 0 && clients_.size() < max_clients;
    if (polled_listener_) {
        out.push_back({.fd = listen_fd, .events = POLLIN, .revents = 0});
    }
    for (const auto& c : clients_) {
        out.push_back({.fd = c.fd.get(), .events = static_cast<short>(c.replying ? POLLOUT : POLLIN), .revents = 0});
    }
}

std::optional<control_clients::clock::time_point> control_clients::next_deadline() const noexcept {
    std::optional<clock::time_point> next;
    for (const auto& c : clients_) {
        if (!next || c.deadline < *next) {
            next = c.deadline;
        }
    }
    return next;
}

void control_clients::serve(int listen_fd, std::span<const pollfd> polled, const answer_fn& answer) noexcept {
    const auto now = clock::now();
    std::size_t at = 0;
    const bool listener_ready = polled_listener_ && !polled.empty() && (polled[0].revents & POLLIN) != 0;
    if (polled_listener_) {
        at = 1;
    }
    // Clients accepted below were not in this poll round; they are read at once anyway.
    const std::size_t polled_clients = std::min(clients_.size(), polled.size() - std::min(polled.size(), at));
    std::vector<bool> keep(clients_.size(), true);
    for (std::size_t i = 0; i < polled_clients; ++i) {
        keep[i] = step(clients_[i], polled[at + i].revents, answer, now);
    }
    for (std::size_t i = polled_clients; i < clients_.size(); ++i) {
        keep[i] = step(clients_[i], 0, answer, now);
    }
    std::size_t w = 0;
    for (std::size_t i = 0; i < clients_.size(); ++i) {
        if (keep[i]) {
            if (w != i) {
                clients_[w] = std::move(clients_[i]);
            }
            ++w;
        }
    }
    clients_.resize(w);
    if (listener_ready) {
        const std::size_t before = clients_.size();
        accept_new(listen_fd);
        // A client that wrote its command before connect returned is answered now, not
        // after the next poll round.
        std::size_t k = before;
        for (std::size_t i = before; i < clients_.size(); ++i) {
            if (step(clients_[i], POLLIN, answer, now)) {
                if (k != i) {
                    clients_[k] = std::move(clients_[i]);
                }
                ++k;
            }
        }
        clients_.resize(k);
    }
}

// The socket file's mode (0600) already keeps other users out; this holds where the mode
// does not (a file system or a chmod that loosens it, a descriptor passed on): only the
// master's own user and root may scale, stop or read the status of this server.
bool control_clients::trusted(int fd) noexcept {
    ucred peer{};
    socklen_t len = sizeof peer;
    if (::getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &peer, &len) != 0) {
        refused_log_.log("control: cannot check a client (SO_PEERCRED: %s); closing it", std::strerror(errno));
        return false;
    }
    if (peer.uid == 0 || peer.uid == ::geteuid()) {
        return true;
    }
    char allowed[48] = "root";
    if (::geteuid() != 0) {
        std::snprintf(allowed, sizeof allowed, "uid %u and root", static_cast<unsigned>(::geteuid()));
    }
    refused_log_.log("control: refused a client of uid %u (pid %d): only %s may use the control socket",
                     static_cast<unsigned>(peer.uid), static_cast<int>(peer.pid), allowed);
    return false;
}

void control_clients::accept_new(int listen_fd) noexcept {
    while (clients_.size() < max_clients) {
        unique_fd fd{::accept4(listen_fd, nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK)};
        if (!fd.valid()) {
            return;   // EAGAIN: none left; anything else: the next poll round tries again
        }
        if (!trusted(fd.get())) {
            continue;
        }
        try {
            client& c = clients_.emplace_back();
            c.fd = std::move(fd);
            c.deadline = clock::now() + command_budget;
        } catch (...) {
            return;   // out of memory: the connection closes unanswered
        }
    }
}

bool control_clients::step(client& c, short revents, const answer_fn& answer, clock::time_point now) noexcept {
    if (c.replying) {
        if ((revents & (POLLERR | POLLHUP)) != 0) {
            return false;
        }
        return flush(c) && now < c.deadline;
    }
    bool complete = false;   // a whole line, a full buffer, or the client's end of input
    if ((revents & (POLLIN | POLLHUP | POLLERR)) != 0) {
        char buf[max_command + 1];
        for (;;) {
            const std::size_t room = max_command - c.in.size();
            const ssize_t n = ::recv(c.fd.get(), buf, room, MSG_DONTWAIT);
            if (n < 0 && errno == EINTR) {
                continue;
            }
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                break;
            }
            if (n <= 0) {
                complete = true;   // end of input or an error: answer what arrived, if anything
                if (c.in.empty()) {
                    return false;
                }
                break;
            }
            try {
                c.in.append(buf, static_cast<std::size_t>(n));
            } catch (...) {
                return false;
            }
            if (c.in.find('\n') != std::string::npos || c.in.size() >= max_command) {
                complete = true;
                break;
            }
        }
    }
    if (!complete) {
        if (now < c.deadline) {
            return true;
        }
        try {
            begin_reply(c, "error: no command within " + std::to_string(command_budget.count()) + " ms\n", now);
        } catch (...) {
            return false;
        }
        return flush(c);
    }
    std::string_view command{c.in};
    command = command.substr(0, command.find('\n'));
    std::string reply;
    try {
        // A line cut at the buffer's end is not the command that was sent.
        reply = command.size() >= max_command ? std::string{"error: command too long\n"} : answer(command);
    } catch (...) {
        reply = "error: out of memory\n";
    }
    begin_reply(c, std::move(reply), now);
    return flush(c);
}

void control_clients::begin_reply(client& c, std::string reply, clock::time_point now) noexcept {
    c.out = std::move(reply);
    c.sent = 0;
    c.replying = true;
    c.deadline = now + reply_budget;
}

// Writes what the socket takes now; true while some of the reply is left.
bool control_clients::flush(client& c) noexcept {
    while (c.sent < c.out.size()) {
        const ssize_t n = ::send(c.fd.get(), c.out.data() + c.sent, c.out.size() - c.sent, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            return true;
        }
        if (n <= 0) {
            return false;
        }
        c.sent += static_cast<std::size_t>(n);
    }
    return false;
}

}  // namespace pfd::server
