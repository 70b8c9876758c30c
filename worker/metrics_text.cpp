#include "worker/metrics_text.hpp"

#include <charconv>
#include <cstring>

namespace pfd::worker {

namespace {

// The counters of the list that are `requests` by status class: status_<class>.
constexpr std::string_view class_prefix = "status_";

bool is_code_class(const counter_info& c) noexcept { return std::string_view{c.member}.starts_with(class_prefix); }
// `requests` is the sum of the class counters: it is rendered as them, with a label.
bool is_by_class(const counter_info& c) noexcept { return std::string_view{c.member} == "requests"; }

class text {
public:
    explicit text(std::string& out) noexcept : out_{out} {}

    void family(std::string_view name, std::string_view type, std::string_view help) {
        out_.append("# HELP ").append(name).append(" ").append(help).append("\n");
        out_.append("# TYPE ").append(name).append(" ").append(type).append("\n");
    }
    text& name(std::string_view n) {
        out_.append(n);
        labels_ = 0;
        return *this;
    }
    text& label(std::string_view key, std::string_view value) {
        out_.append(labels_++ == 0 ? "{" : ",").append(key).append("=\"").append(value).append("\"");
        return *this;
    }
    text& label(std::string_view key, std::uint64_t value) {
        char buf[24];
        const auto r = std::to_chars(buf, buf + sizeof buf, value);
        return label(key, std::string_view{buf, static_cast<std::size_t>(r.ptr - buf)});
    }
    void value(std::uint64_t v) {
        close_labels();
        char buf[24];
        const auto r = std::to_chars(buf, buf + sizeof buf, v);
        out_.append(buf, r.ptr).append("\n");
    }
    void value(std::string_view v) {
        close_labels();
        out_.append(v).append("\n");
    }

private:
    void close_labels() { out_.append(labels_ > 0 ? "} " : " "); }
    std::string& out_;
    unsigned labels_ = 0;
};

std::string metric_name(const counter_info& c) {
    std::string n = "preforkd_";
    n += c.json;
    if (c.kind == counter_kind::counter) {
        n += "_total";
    }
    return n;
}

}  // namespace

std::string seconds_text(std::uint64_t us) {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, us / 1'000'000);
    std::string s{buf, r.ptr};
    std::uint64_t frac = us % 1'000'000;
    s += '.';
    if (frac == 0) {
        s += '0';
        return s;
    }
    char digits[7] = {'0', '0', '0', '0', '0', '0', '\0'};
    for (int i = 5; i >= 0; --i) {
        digits[i] = static_cast<char>('0' + frac % 10);
        frac /= 10;
    }
    std::size_t len = 6;
    while (digits[len - 1] == '0') {
        --len;
    }
    s.append(digits, len);
    return s;
}

std::string render_metrics(const scoreboard& board) {
    const board_snapshot snap = board.snapshot();
    const server_stats& server = board.server();
    std::vector<std::uint32_t> slots;   // every slot that has had a worker: its series never vanish
    slots.reserve(snap.slots.size());
    for (std::size_t i = 0; i < snap.slots.size(); ++i) {
        if (snap.slots[i].known()) {
            slots.push_back(static_cast<std::uint32_t>(i));
        }
    }

    std::string out;
    out.reserve(1024 + slots.size() * 2048);
    text t{out};

    for (std::size_t i = 0; i < counter_count; ++i) {
        const counter_info& c = counter_table[i];
        if (is_code_class(c)) {
            continue;
        }
        const std::string name = metric_name(c);
        t.family(name, c.kind == counter_kind::counter ? "counter" : "gauge", c.help);
        for (const std::uint32_t s : slots) {
            if (!is_by_class(c)) {
                t.name(name).label("worker", s).value(snap.slots[s].counters[i]);
                continue;
            }
            for (std::size_t k = 0; k < counter_count; ++k) {
                if (is_code_class(counter_table[k])) {
                    t.name(name).label("worker", s).label("code_class", counter_table[k].member + class_prefix.size())
                        .value(snap.slots[s].counters[k]);
                }
            }
        }
    }

    // Bucket bounds once, as text.
    std::array<std::string, duration_bounds_us.size()> le;
    for (std::size_t b = 0; b < duration_bounds_us.size(); ++b) {
        le[b] = seconds_text(duration_bounds_us[b]);
    }
    constexpr std::string_view hist = "preforkd_request_duration_seconds";
    t.family(hist, "histogram", "How long requests took, from their head to their answer complete in the output.");
    for (const std::uint32_t s : slots) {
        const duration_histogram& h = snap.slots[s].durations;
        std::uint64_t cumulative = 0;
        for (std::size_t b = 0; b < duration_buckets; ++b) {
            cumulative += h.count[b];
            t.name("preforkd_request_duration_seconds_bucket")
                .label("worker", s)
                .label("le", b < le.size() ? std::string_view{le[b]} : std::string_view{"+Inf"})
                .value(cumulative);
        }
        t.name("preforkd_request_duration_seconds_sum").label("worker", s).value(seconds_text(h.sum_us));
        t.name("preforkd_request_duration_seconds_count").label("worker", s).value(cumulative);
    }

    t.family("preforkd_worker_resident_memory_bytes", "gauge",
             "Resident memory of the slot's live workers, sampled by the master once a second.");
    for (const std::uint32_t s : slots) {
        t.name("preforkd_worker_resident_memory_bytes").label("worker", s).value(snap.slots[s].rss_bytes);
    }
    t.family("preforkd_worker_cpu_seconds_total", "counter",
             "CPU time (user and system) of the slot's workers, live and exited, sampled by the master once a second.");
    for (const std::uint32_t s : slots) {
        t.name("preforkd_worker_cpu_seconds_total").label("worker", s).value(seconds_text(snap.slots[s].cpu_ms * 1000));
    }

    t.family("preforkd_worker_restarts_total", "counter", "Workers replaced, by why.");
    for (std::size_t r = 0; r < restart_reason_names.size(); ++r) {
        t.name("preforkd_worker_restarts_total").label("reason", restart_reason_names[r])
            .value(server.restarts[r].load(std::memory_order_relaxed));
    }

    std::uint64_t up = 0;
    for (const live_worker& w : snap.workers) {
        up += w.state == worker_state::ready ? 1 : 0;
    }
    t.family("preforkd_workers_up", "gauge", "Workers accepting connections.");
    t.name("preforkd_workers_up").value(up);

    const auto readiness = static_cast<std::size_t>(server.readiness.load(std::memory_order_relaxed));
    t.family("preforkd_readiness", "gauge", "1 for the server's state (what /readyz answers), 0 for the others.");
    for (std::size_t r = 0; r < readiness_names.size(); ++r) {
        t.name("preforkd_readiness").label("state", readiness_names[r]).value(std::uint64_t{r == readiness ? 1U : 0U});
    }

    t.family("preforkd_config_generation", "gauge", "The configuration serving: 1 at start, +1 per reload.");
    t.name("preforkd_config_generation").value(std::uint64_t{server.config_generation.load(std::memory_order_relaxed)});

    t.family("preforkd_master_start_time_seconds", "gauge", "When the master started, in seconds since the Unix epoch.");
    t.name("preforkd_master_start_time_seconds").value(seconds_text(server.start_unix_ms.load(std::memory_order_relaxed) * 1000));
    return out;
}

}  // namespace pfd::worker
