#include "server/metrics_listener.hpp"

#include <fcntl.h>
#include <strings.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

#include "base/log.hpp"
#include "proto/http_date.hpp"
#include "server/listeners.hpp"
#include "worker/metrics_text.hpp"

namespace pfd::server {

namespace {

constexpr int listen_backlog = 64;

struct reply {
    std::string bytes;
    bool keep_alive = false;
};

bool equals_ci(std::string_view a, std::string_view b) noexcept {
    return a.size() == b.size() && ::strncasecmp(a.data(), b.data(), a.size()) == 0;
}

std::string_view trim(std::string_view v) noexcept {
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) {
        v.remove_prefix(1);
    }
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\r')) {
        v.remove_suffix(1);
    }
    return v;
}

// Whether a comma-separated field value lists `token`.
bool lists(std::string_view value, std::string_view token) noexcept {
    while (!value.empty()) {
        const auto comma = value.find(',');
        if (equals_ci(trim(value.substr(0, comma)), token)) {
            return true;
        }
        value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
    }
    return false;
}

std::string head_text(int status, std::string_view reason, std::string_view date, bool keep_alive,
                      std::string_view content_type, std::size_t length, std::string_view extra = {}) {
    std::string h = "HTTP/1.1 " + std::to_string(status) + " ";
    h.append(reason).append("\r\nServer: preforkd\r\nDate: ").append(date).append("\r\n");
    h.append("Content-Type: ").append(content_type).append("\r\n");
    h.append("Content-Length: ").append(std::to_string(length)).append("\r\n");
    h.append("Cache-Control: no-store\r\n").append(extra);
    h.append(keep_alive ? "" : "Connection: close\r\n").append("\r\n");
    return h;
}

reply plain(int status, std::string_view reason, std::string_view date, bool keep_alive, bool with_body,
            std::string_view extra = {}) {
    std::string body{reason};
    body += '\n';
    reply r{head_text(status, reason, date, keep_alive, "text/plain", body.size(), extra), keep_alive};
    if (with_body) {
        r.bytes += body;
    }
    return r;
}

// The answer to one request head (up to its empty line): GET or HEAD of /metrics.
reply answer(std::string_view head, std::string_view date, const worker::scoreboard& board) {
    const auto eol = head.find('\n');
    const std::string_view line = trim(head.substr(0, eol));
    const auto sp1 = line.find(' ');
    const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
        return plain(400, "Bad Request", date, false, true);
    }
    const std::string_view method = line.substr(0, sp1);
    const std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    const std::string_view version = line.substr(sp2 + 1);
    if (version != "HTTP/1.1" && version != "HTTP/1.0") {
        return plain(version.starts_with("HTTP/") ? 505 : 400,
                     version.starts_with("HTTP/") ? "HTTP Version Not Supported" : "Bad Request", date, false, true);
    }
    bool keep_alive = version == "HTTP/1.1";
    bool has_body = false;
    std::string_view rest = eol == std::string_view::npos ? std::string_view{} : head.substr(eol + 1);
    while (!rest.empty()) {
        const auto end = rest.find('\n');
        const std::string_view field = trim(rest.substr(0, end));
        rest = end == std::string_view::npos ? std::string_view{} : rest.substr(end + 1);
        if (field.empty()) {
            break;
        }
        const auto colon = field.find(':');
        if (colon == std::string_view::npos || colon == 0) {
            return plain(400, "Bad Request", date, false, true);
        }
        const std::string_view name = field.substr(0, colon);
        const std::string_view value = trim(field.substr(colon + 1));
        if (equals_ci(name, "Connection")) {
            keep_alive = lists(value, "close") ? false : lists(value, "keep-alive") ? true : keep_alive;
        } else if (equals_ci(name, "Transfer-Encoding") || (equals_ci(name, "Content-Length") && value != "0")) {
            has_body = true;
        }
    }
    // A body is not read here: the connection ends after the answer, not in its middle.
    keep_alive = keep_alive && !has_body;
    const bool get = method == "GET";
    const bool head_only = method == "HEAD";
    const std::string_view path = target.substr(0, target.find('?'));
    if (path != "/metrics") {
        return plain(404, "Not Found", date, keep_alive, !head_only);
    }
    if (!get && !head_only) {
        return plain(405, "Method Not Allowed", date, keep_alive, true, "Allow: GET, HEAD\r\n");
    }
    const std::string body = worker::render_metrics(board);
    reply r{head_text(200, "OK", date, keep_alive, worker::metrics_content_type, body.size()), keep_alive};
    if (get) {
        r.bytes += body;
    }
    return r;
}

// The end of the first request head in `in` (past its empty line), or npos.
std::size_t head_end(std::string_view in) noexcept {
    for (std::size_t at = in.find('\n'); at != std::string_view::npos; at = in.find('\n', at + 1)) {
        if (at + 1 < in.size() && in[at + 1] == '\n') {
            return at + 2;
        }
        if (at + 2 < in.size() && in[at + 1] == '\r' && in[at + 2] == '\n') {
            return at + 3;
        }
    }
    return std::string_view::npos;
}

}  // namespace

tl::expected<metrics_listener, std::string> metrics_listener::open(const config& cfg, bool after_upgrade) noexcept {
    metrics_listener m;
    if (!cfg.metrics.enabled) {
        return m;
    }
    auto fd = open_listener(cfg.metrics.listen, listen_backlog, false);
    if (!fd && after_upgrade && fd.error().code == EADDRINUSE) {
        log_line("metrics: %s is still the old master's; listening there once it has let go",
                 cfg.metrics.listen.text.c_str());
        m.waiting_for_ = cfg.metrics.listen;
        m.retry_at_ = clock::now() + std::chrono::seconds{1};
        return m;
    }
    if (!fd) {
        return tl::unexpected(std::string{fd.error().call} + " failed: " + std::strerror(fd.error().code));
    }
    m.listen_ = std::move(*fd);
    return m;
}

void metrics_listener::retry_listen() noexcept {
    if (!waiting_for_ || clock::now() < retry_at_) {
        return;
    }
    auto fd = open_listener(*waiting_for_, listen_backlog, false);
    if (fd) {
        log_line("metrics: listening on %s", waiting_for_->text.c_str());
        listen_ = std::move(*fd);
        waiting_for_.reset();
    } else if (fd.error().code == EADDRINUSE) {
        retry_at_ = clock::now() + std::chrono::seconds{1};
    } else {
        log_error("metrics: cannot listen on %s: %s failed: %s; no metrics listener", waiting_for_->text.c_str(),
                  fd.error().call, std::strerror(fd.error().code));
        waiting_for_.reset();
    }
}

void metrics_listener::add_pollfds(std::vector<pollfd>& out) {
    retry_listen();
    polled_listener_ = listen_.valid() && clients_.size() < max_clients;
    if (polled_listener_) {
        out.push_back({.fd = listen_.get(), .events = POLLIN, .revents = 0});
    }
    for (const auto& c : clients_) {
        out.push_back({.fd = c.fd.get(), .events = static_cast<short>(c.replying ? POLLOUT : POLLIN), .revents = 0});
    }
}

std::optional<steady_clock::time_point> metrics_listener::next_deadline() const noexcept {
    std::optional<clock::time_point> next;
    if (waiting_for_) {
        next = retry_at_;
    }
    for (const auto& c : clients_) {
        if (!next || c.deadline < *next) {
            next = c.deadline;
        }
    }
    return next;
}

void metrics_listener::close_in_worker() noexcept {
    clients_.clear();
    listen_.reset();
}

void metrics_listener::serve(std::span<const pollfd> polled, worker_pool& pool, const generation&) noexcept {
    if (!listen_.valid()) {
        return;
    }
    const auto now = clock::now();
    const std::size_t at = polled_listener_ ? 1 : 0;
    const bool listener_ready = polled_listener_ && !polled.empty() && (polled[0].revents & POLLIN) != 0;
    // Clients accepted after add_pollfds were not polled; those beyond are stepped with no event.
    const std::size_t polled_clients = std::min(clients_.size(), polled.size() - std::min(polled.size(), at));
    std::size_t w = 0;
    for (std::size_t i = 0; i < clients_.size(); ++i) {
        const short revents = i < polled_clients ? polled[at + i].revents : short{0};
        if (step(clients_[i], revents, pool, now)) {
            if (w != i) {
                clients_[w] = std::move(clients_[i]);
            }
            ++w;
        }
    }
    clients_.resize(w);
    if (listener_ready) {
        const std::size_t before = clients_.size();
        accept_new();
        // A client that sent its request with its connect is answered now, not a round later.
        std::size_t k = before;
        for (std::size_t i = before; i < clients_.size(); ++i) {
            if (step(clients_[i], POLLIN, pool, now)) {
                if (k != i) {
                    clients_[k] = std::move(clients_[i]);
                }
                ++k;
            }
        }
        clients_.resize(k);
    }
}

void metrics_listener::accept_new() noexcept {
    while (clients_.size() < max_clients) {
        unique_fd fd{::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC | SOCK_NONBLOCK)};
        if (!fd.valid()) {
            return;   // EAGAIN: none left; anything else: the next round tries again
        }
        try {
            client& c = clients_.emplace_back();
            c.fd = std::move(fd);
            c.deadline = clock::now() + request_budget;
        } catch (...) {
            return;   // out of memory: the connection closes unanswered
        }
    }
}

bool metrics_listener::step(client& c, short revents, worker_pool& pool, clock::time_point now) noexcept {
    if ((revents & POLLERR) != 0) {
        return false;
    }
    try {
        for (;;) {
            if (c.replying) {
                while (c.sent < c.out.size()) {
                    const ssize_t n = ::send(c.fd.get(), c.out.data() + c.sent, c.out.size() - c.sent,
                                             MSG_DONTWAIT | MSG_NOSIGNAL);
                    if (n < 0 && errno == EINTR) {
                        continue;
                    }
                    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                        return now < c.deadline;
                    }
                    if (n <= 0) {
                        return false;
                    }
                    c.sent += static_cast<std::size_t>(n);
                }
                if (!c.keep_alive) {
                    return false;
                }
                c.replying = false;
                c.out.clear();
                c.sent = 0;
                // Idle until more of a request arrives, then request_budget for the rest of it.
                c.deadline = now + (c.in.empty() ? idle_budget : request_budget);
            }
            // Read what there is (a pipelined request may be here already).
            bool peer_done = false;
            if ((revents & (POLLIN | POLLHUP)) != 0) {
                char buf[4096];
                for (;;) {
                    const ssize_t n = ::recv(c.fd.get(), buf, sizeof buf, MSG_DONTWAIT);
                    if (n < 0 && errno == EINTR) {
                        continue;
                    }
                    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
                        break;
                    }
                    if (n <= 0) {
                        peer_done = true;
                        break;
                    }
                    if (c.in.empty()) {
                        c.deadline = now + request_budget;   // a new request begins
                    }
                    c.in.append(buf, static_cast<std::size_t>(n));
                    if (c.in.size() > max_head) {
                        break;
                    }
                }
                revents = 0;   // read once per round; a pipelined request is in c.in
            }
            const std::size_t end = head_end(c.in);
            if (end == std::string::npos) {
                if (c.in.size() > max_head) {
                    const auto date = proto::format_http_date(std::time(nullptr));
                    c.out = plain(431, "Request Header Fields Too Large", {date.data(), date.size()}, false, true).bytes;
                    c.keep_alive = false;
                } else if (peer_done || now >= c.deadline) {
                    return false;   // gone, or no whole request in time: nothing to answer
                } else {
                    return true;
                }
            } else {
                const auto date = proto::format_http_date(std::time(nullptr));
                const worker::scoreboard board = worker::scoreboard::view_of(pool.server());
                reply r = answer(std::string_view{c.in}.substr(0, end), {date.data(), date.size()}, board);
                c.in.erase(0, end);
                c.out = std::move(r.bytes);
                c.keep_alive = r.keep_alive && !peer_done;
            }
            c.sent = 0;
            c.replying = true;
            c.deadline = now + reply_budget;
        }
    } catch (...) {
        return false;   // out of memory: this client only
    }
}

}  // namespace pfd::server
