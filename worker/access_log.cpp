#include "worker/access_log.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>

namespace pfd::worker {

namespace {

constexpr char hex_digits[] = "0123456789ABCDEF";
constexpr const char* months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                  "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

void append_number(std::string& out, std::uint64_t v) {
    char buf[24];
    const auto r = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, r.ptr);
}

// nginx's access-log escaping: the quoted field stays one field on one line.
void append_quoted_combined(std::string& out, std::string_view s) {
    out.push_back('"');
    if (s.empty()) {
        out.push_back('-');
    }
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') {
            const char esc[4] = {'\\', 'x', hex_digits[c >> 4], hex_digits[c & 0xF]};
            out.append(esc, sizeof esc);
        } else {
            out.push_back(ch);
        }
    }
    out.push_back('"');
}

// RFC 8259; a byte >= 0x80 is written as the code point of the same value (Latin-1), so
// the line is valid JSON (UTF-8) whatever bytes the client sent.
void append_json_string(std::string& out, std::string_view s) {
    out.push_back('"');
    for (const char ch : s) {
        const auto c = static_cast<unsigned char>(ch);
        switch (c) {
            case '"': out.append("\\\""); break;
            case '\\': out.append("\\\\"); break;
            case '\n': out.append("\\n"); break;
            case '\r': out.append("\\r"); break;
            case '\t': out.append("\\t"); break;
            default:
                if (c < 0x20 || c >= 0x7f) {
                    const char esc[6] = {'\\', 'u', '0', '0', hex_digits[c >> 4], hex_digits[c & 0xF]};
                    out.append(esc, sizeof esc);
                } else {
                    out.push_back(ch);
                }
        }
    }
    out.push_back('"');
}

// "+0000" (combined) or "+00:00" (ISO 8601).
void append_offset(char* buf, std::size_t size, long gmtoff, bool colon) {
    const char sign = gmtoff < 0 ? '-' : '+';
    const long off = ((gmtoff < 0 ? -gmtoff : gmtoff) / 60) % (100 * 60);   // minutes; hours < 100
    std::snprintf(buf, size, colon ? "%c%02d:%02d" : "%c%02d%02d", sign, static_cast<int>(off / 60),
                  static_cast<int>(off % 60));
}

struct inherited {
    std::string path;
    int fd = -1;
};
inherited& inherited_log() noexcept {
    static inherited i;
    return i;
}

}  // namespace

std::string format_time_local(std::time_t when) {
    std::tm tm{};
    localtime_r(&when, &tm);
    char off[8];
    append_offset(off, sizeof off, tm.tm_gmtoff, false);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%02d/%s/%04d:%02d:%02d:%02d %s", tm.tm_mday, months[tm.tm_mon % 12],
                  tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec, off);
    return buf;
}

std::string format_time_iso8601(std::time_t when) {
    std::tm tm{};
    localtime_r(&when, &tm);
    char off[8];
    append_offset(off, sizeof off, tm.tm_gmtoff, true);
    char buf[64];
    std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d%s", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                  tm.tm_hour, tm.tm_min, tm.tm_sec, off);
    return buf;
}

void append_combined(std::string& out, const access_entry& e, std::string_view time_local) {
    out.append(e.remote_addr.empty() ? std::string_view{"-"} : e.remote_addr);
    out.append(" - - [");
    out.append(time_local);
    out.append("] ");
    append_quoted_combined(out, e.request);
    out.push_back(' ');
    append_number(out, static_cast<std::uint64_t>(e.status));
    out.push_back(' ');
    append_number(out, e.bytes_sent);
    out.push_back(' ');
    append_quoted_combined(out, e.referer);
    out.push_back(' ');
    append_quoted_combined(out, e.user_agent);
    out.append(" rt=");
    append_number(out, e.duration_us);
    out.append(" slot=");
    append_number(out, e.slot);
    out.push_back('\n');
}

void append_json(std::string& out, const access_entry& e, std::string_view time_iso8601) {
    out.append("{\"time\":\"");
    out.append(time_iso8601);
    out.append("\",\"remote_addr\":");
    append_json_string(out, e.remote_addr);
    out.append(",\"request\":");
    append_json_string(out, e.request);
    out.append(",\"status\":");
    append_number(out, static_cast<std::uint64_t>(e.status));
    out.append(",\"bytes_sent\":");
    append_number(out, e.bytes_sent);
    out.append(",\"referer\":");
    append_json_string(out, e.referer);
    out.append(",\"user_agent\":");
    append_json_string(out, e.user_agent);
    out.append(",\"request_time_us\":");
    append_number(out, e.duration_us);
    out.append(",\"slot\":");
    append_number(out, e.slot);
    out.append("}\n");
}

void set_inherited_access_log(std::string_view path, int fd) noexcept {
    inherited& i = inherited_log();
    if (i.fd >= 0 && i.fd != fd) {
        ::close(i.fd);
    }
    try {
        i.path.assign(path);
        i.fd = fd;
    } catch (...) {
        i.path.clear();
        i.fd = -1;
        if (fd >= 0) {
            ::close(fd);
        }
    }
}

int inherited_access_log_fd() noexcept { return inherited_log().fd; }

void append_at_end(int fd) noexcept {
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        return;   // a pipe, a tty, a socket: writes go in order anyway
    }
    if (const int flags = ::fcntl(fd, F_GETFL); flags >= 0 && (flags & O_APPEND) == 0) {
        ::fcntl(fd, F_SETFL, flags | O_APPEND);
    }
}

unique_fd take_access_log(std::string_view path) noexcept {
    inherited& i = inherited_log();
    unique_fd fd{std::exchange(i.fd, -1)};
    if (path.empty()) {
        return unique_fd{};
    }
    if (fd.valid() && i.path == path) {
        return fd;
    }
    if (path == "stderr") {
        unique_fd err{::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3)};
        if (err.valid()) {
            append_at_end(err.get());
        }
        return err;
    }
    // A reload named another file than the master opened: this worker opens it (if it
    // may; else it says so and logs nothing).
    try {
        const std::string p{path};
        unique_fd own{::open(p.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)};
        if (!own.valid()) {
            log_error("cannot open the access log %s: %s; this worker logs no requests", p.c_str(),
                      std::strerror(errno));
        }
        return own;
    } catch (...) {
        return unique_fd{};
    }
}

access_log::access_log(unique_fd fd, bool json, std::uint32_t slot, std::size_t max_connections)
    : fd_{std::move(fd)}, json_{json}, slot_{slot}, chunk_limit_{max_buffer} {
    struct stat st{};
    if (::fstat(fd_.get(), &st) == 0 && !S_ISREG(st.st_mode)) {
        chunk_limit_ = PIPE_BUF;   // another worker's lines (and the error log's) interleave whole
    }
    active_.reserve(flush_bytes * 2);
    writing_.reserve(flush_bytes * 2);
    peers_.resize(max_connections, peer_text{{}, 0});
}

void access_log::set_peer(std::uint32_t conn_slot, int fd) noexcept {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    char text[sizeof(peer_text::text)] = "-";
    if (::getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) {
        if (ss.ss_family == AF_INET) {
            ::inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in*>(&ss)->sin_addr, text, sizeof text);
        } else if (ss.ss_family == AF_INET6) {
            const auto& a6 = reinterpret_cast<const sockaddr_in6*>(&ss)->sin6_addr;
            if (IN6_IS_ADDR_V4MAPPED(&a6)) {
                ::inet_ntop(AF_INET, &a6.s6_addr[12], text, sizeof text);   // as an IPv4 client
            } else {
                ::inet_ntop(AF_INET6, &a6, text, sizeof text);
            }
        } else if (ss.ss_family == AF_UNIX) {
            std::strcpy(text, "unix:");
        }
    }
    set_peer(conn_slot, text);
}

void access_log::set_peer(std::uint32_t conn_slot, std::string_view text) noexcept {
    if (conn_slot >= peers_.size()) {
        return;
    }
    peer_text& p = peers_[conn_slot];
    const std::size_t n = std::min(text.size(), sizeof p.text);
    std::memcpy(p.text, text.data(), n);
    p.len = static_cast<std::uint8_t>(n);
}

std::string_view access_log::peer(std::uint32_t conn_slot) const noexcept {
    if (conn_slot >= peers_.size()) {
        return {};
    }
    const peer_text& p = peers_[conn_slot];
    return {p.text, p.len};
}

void access_log::refresh_time(std::time_t when) {
    time_sec_ = when;
    time_text_ = json_ ? format_time_iso8601(when) : format_time_local(when);
}

void access_log::record(access_entry e, std::time_t when) noexcept {
    if (active_.size() >= max_buffer) {
        ++dropped_;   // the writes do not keep up: drop, never wait or grow
        return;
    }
    e.slot = slot_;
    try {
        if (when != time_sec_) {
            refresh_time(when);
        }
        if (json_) {
            append_json(active_, e, time_text_);
        } else {
            append_combined(active_, e, time_text_);
        }
    } catch (...) {
        ++dropped_;   // out of memory
    }
}

std::span<const char> access_log::chunk() const noexcept {
    std::span<const char> rest{writing_.data() + write_off_, writing_.size() - write_off_};
    if (rest.size() <= chunk_limit_) {
        return rest;
    }
    // Up to the last whole line that fits (a longer line goes alone).
    const std::string_view head{rest.data(), chunk_limit_};
    const std::size_t nl = head.rfind('\n');
    if (nl != std::string_view::npos) {
        return rest.first(nl + 1);
    }
    const std::string_view all{rest.data(), rest.size()};
    const std::size_t end = all.find('\n');
    return rest.first(end == std::string_view::npos ? rest.size() : end + 1);
}

std::span<const char> access_log::start_write(std::uint64_t now_ms) noexcept {
    if (inflight_) {
        return {};
    }
    last_write_ms_ = now_ms;
    if (active_.empty()) {
        if (next_fd_.valid()) {
            use_next_fd();   // nothing buffered for the old file
        }
        return {};
    }
    swap_after_write_ = next_fd_.valid();
    std::swap(active_, writing_);
    active_.clear();
    write_off_ = 0;
    inflight_ = true;
    return chunk();
}

std::span<const char> access_log::written(int res) noexcept {
    if (res == -EINTR || res == -EAGAIN) {
        return chunk();   // again, the same bytes
    }
    if (res <= 0) {
        // The lines are lost: count them, say so, go on (the next write may work, e.g.
        // once a full disk has room again).
        const std::string_view rest{writing_.data() + write_off_, writing_.size() - write_off_};
        const auto lines = static_cast<std::uint64_t>(std::count(rest.begin(), rest.end(), '\n'));
        dropped_ += lines;
        dropped_reported_ += lines;
        write_log_.log("access log: write failed: %s; %llu lines lost", res == 0 ? "wrote nothing" : std::strerror(-res),
                       static_cast<unsigned long long>(lines));
        write_off_ = writing_.size();
    } else {
        write_off_ += static_cast<std::size_t>(res);
    }
    if (write_off_ < writing_.size()) {
        return chunk();
    }
    writing_.clear();
    write_off_ = 0;
    inflight_ = false;
    if (next_fd_.valid() && swap_after_write_) {
        use_next_fd();
    }
    return {};
}

void access_log::reopen(unique_fd fd) noexcept {
    next_fd_ = std::move(fd);   // a second reopen before the first took effect: the newer file
    swap_after_write_ = false;   // what a write in flight carries is older still
}

void access_log::use_next_fd() noexcept {
    fd_ = std::move(next_fd_);
    swap_after_write_ = false;
    struct stat st{};
    chunk_limit_ = (::fstat(fd_.get(), &st) == 0 && !S_ISREG(st.st_mode)) ? PIPE_BUF : max_buffer;
}

void access_log::flush_sync() noexcept {
    if (inflight_) {
        return;   // the kernel still has the buffer: the caller gave up waiting for it
    }
    std::swap(active_, writing_);
    active_.clear();
    write_off_ = 0;
    while (write_off_ < writing_.size()) {
        const std::span<const char> c = chunk();
        const ssize_t n = ::write(fd_.get(), c.data(), c.size());
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            const std::string_view rest{writing_.data() + write_off_, writing_.size() - write_off_};
            log_error("access log: write failed at exit: %s; %zu lines lost", std::strerror(errno),
                      static_cast<std::size_t>(std::count(rest.begin(), rest.end(), '\n')));
            break;
        }
        write_off_ += static_cast<std::size_t>(n);
    }
    writing_.clear();
    write_off_ = 0;
    if (next_fd_.valid()) {
        use_next_fd();
    }
}

void access_log::report_drops() noexcept {
    if (dropped_ > dropped_reported_) {
        drop_log_.log("access log: %llu lines dropped: its writes do not keep up (%llu dropped in all)",
                      static_cast<unsigned long long>(dropped_ - dropped_reported_),
                      static_cast<unsigned long long>(dropped_));
        dropped_reported_ = dropped_;
    } else {
        drop_log_.flush();
    }
}

}  // namespace pfd::worker
