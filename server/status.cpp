#include "server/status.hpp"

#include <algorithm>
#include <array>
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

// The counters the table shows, in its column order (the JSON has them all).
struct counter_column {
    worker::counter id;
    const char* header;
    int width;
    const char* rate_header;  // a REQ/S-style column after it; nullptr: none
};
constexpr std::array table_counters{
    counter_column{worker::counter::requests, "REQUESTS", 12, "REQ/S"},
    counter_column{worker::counter::active, "ACTIVE", 7, nullptr},
};
constexpr int rate_width = 9;
}  // namespace

std::string render_table(const master_status& s) {
    std::string out;
    appendf(out, "master pid %d, up %.0f s, listening on %s (balance %s), %zu workers\n", s.pid, s.uptime_s,
            s.listen.c_str(), s.balance.c_str(), s.workers.size());
    appendf(out, "%4s %8s %4s %-9s %9s %8s", "SLOT", "PID", "GEN", "STATE", "UPTIME", "RESTARTS");
    for (const auto& col : table_counters) {
        appendf(out, " %*s", col.width, col.header);
        if (col.rate_header != nullptr) {
            appendf(out, " %*s", rate_width, col.rate_header);
        }
    }
    appendf(out, " %9s %6s\n", "RSS_KIB", "CPU%");
    for (const auto& w : s.workers) {
        appendf(out, "%4u %8d %4u %-9s %8.0fs %8u", w.slot, w.pid, w.generation, w.full ? "full" : w.state,
                w.uptime_s, w.restarts);
        const auto values = w.counters.values();
        for (const auto& col : table_counters) {
            appendf(out, " %*llu", col.width, static_cast<unsigned long long>(values[worker::index(col.id)]));
            if (col.rate_header != nullptr) {
                appendf(out, " %*.1f", rate_width, w.per_s[worker::index(col.id)]);
            }
        }
        appendf(out, " %9llu %6.1f\n", static_cast<unsigned long long>(w.rss_bytes / 1024), w.cpu_percent);
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
                "%s{\"slot\":%u,\"pid\":%d,\"generation\":%u,\"spawn\":%u,\"state\":\"%s\",\"uptime_s\":%.3f,"
                "\"restarts\":%u",
                first ? "" : ",", w.slot, w.pid, w.generation, w.spawn, w.state, w.uptime_s, w.restarts);
        const auto values = w.counters.values();
        for (std::size_t i = 0; i < worker::counter_count; ++i) {
            const worker::counter_info& c = worker::counter_table[i];
            appendf(out, ",\"%s\":%llu", c.json, static_cast<unsigned long long>(values[i]));
            if (c.rate) {
                appendf(out, ",\"%s_per_s\":%.2f", c.json, w.per_s[i]);
            }
        }
        appendf(out, ",\"rss_bytes\":%llu,\"cpu_percent\":%.2f,\"full\":%s}",
                static_cast<unsigned long long>(w.rss_bytes), w.cpu_percent, w.full ? "true" : "false");
        first = false;
    }
    out += "]}\n";
    return out;
}

}  // namespace pfd::server
