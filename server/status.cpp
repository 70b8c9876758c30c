#include "server/status.hpp"

#include <algorithm>
#include <cstdarg>
#include <cstdio>

namespace pfd::server {

namespace {
[[gnu::format(printf, 2, 3)]] void appendf(std::string& out, const char* fmt, ...) {
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    const int n = std::vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    if (n > 0) {
        out.append(line, std::min(static_cast<std::size_t>(n), sizeof line - 1));
    }
}

std::string json_string(const std::string& s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') {
            out += '\\';
        }
        if (static_cast<unsigned char>(c) >= 0x20) {
            out += c;
        }
    }
    return out + "\"";
}
}  // namespace

std::string render_table(const master_status& s) {
    std::string out;
    appendf(out, "master pid %d, up %.0f s, listening on %s (balance %s), %zu workers\n", s.pid, s.uptime_s,
            s.listen.c_str(), s.balance.c_str(), s.workers.size());
    appendf(out, "%4s %8s %4s %-9s %9s %8s %12s %9s %7s %9s %6s\n", "SLOT", "PID", "GEN", "STATE", "UPTIME",
            "RESTARTS", "REQUESTS", "REQ/S", "ACTIVE", "RSS_KIB", "CPU%");
    for (const auto& w : s.workers) {
        appendf(out, "%4u %8d %4u %-9s %8.0fs %8u %12llu %9.1f %7u %9llu %6.1f\n", w.slot, w.pid, w.generation,
                w.state, w.uptime_s, w.restarts, static_cast<unsigned long long>(w.requests), w.requests_per_s,
                w.active, static_cast<unsigned long long>(w.rss_bytes / 1024), w.cpu_percent);
    }
    return out;
}

std::string render_json(const master_status& s) {
    std::string out;
    appendf(out, "{\"master\":{\"pid\":%d,\"uptime_s\":%.3f,\"listen\":%s,\"balance\":%s},\"workers\":[", s.pid,
            s.uptime_s, json_string(s.listen).c_str(), json_string(s.balance).c_str());
    bool first = true;
    for (const auto& w : s.workers) {
        appendf(out,
                "%s{\"slot\":%u,\"pid\":%d,\"generation\":%u,\"spawn\":%u,\"state\":\"%s\",\"uptime_s\":%.3f,\"restarts\":%u,"
                "\"requests\":%llu,\"requests_per_s\":%.2f,\"active_connections\":%u,\"accepted_connections\":%llu,"
                "\"bytes_in\":%llu,\"bytes_out\":%llu,\"rss_bytes\":%llu,\"cpu_percent\":%.2f}",
                first ? "" : ",", w.slot, w.pid, w.generation, w.spawn, w.state, w.uptime_s, w.restarts,
                static_cast<unsigned long long>(w.requests), w.requests_per_s, w.active,
                static_cast<unsigned long long>(w.accepted), static_cast<unsigned long long>(w.bytes_in),
                static_cast<unsigned long long>(w.bytes_out), static_cast<unsigned long long>(w.rss_bytes),
                w.cpu_percent);
        first = false;
    }
    out += "]}\n";
    return out;
}

}  // namespace pfd::server
