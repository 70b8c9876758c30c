#include "server/status_sampler.hpp"

#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <string_view>

#include "base/proc_stats.hpp"
#include "worker/metrics_text.hpp"

namespace pfd::server {

void status_sampler::tick(worker_pool& pool) noexcept {
    const auto now = steady_clock::now();
    if (now < next_sample_) {
        return;
    }
    next_sample_ = now + std::chrono::milliseconds{1000};
    for (auto& w : pool.procs()) {
        auto& slot = w.samples[w.sample_count % w.samples.size()];
        worker::worker_stats& st = pool.stats(w);
        // Never back: a read that fails (the process is going) keeps the last value.
        const std::uint64_t cpu = std::max(cpu_time_ms(w.pid), st.cpu_ms.load(std::memory_order_relaxed));
        slot = {now, st.counters(), cpu};
        ++w.sample_count;
        st.cpu_ms.store(cpu, std::memory_order_relaxed);
        st.rss_bytes.store(rss_bytes(w.pid), std::memory_order_relaxed);
    }
}

master_status status_sampler::status(worker_pool& pool, const generation& current,
                                     const generation* previous) const {
    master_status s;
    s.board = &pool.server();
    s.pid = ::getpid();
    s.uptime_s = to_seconds(steady_clock::now() - started_);
    s.listen = current.cfg.listen.text;
    s.balance = balance_name(current.cfg);
    const auto now = steady_clock::now();
    for (const auto& w : pool.procs()) {
        const worker::worker_stats& st = pool.stats(w);
        worker_status ws;
        ws.slot = w.slot;
        ws.pid = w.pid;
        ws.generation = w.config_gen;
        ws.spawn = w.spawn;
        switch (st.state.load(std::memory_order_relaxed)) {
            case worker::worker_state::empty: ws.state = "empty"; break;
            case worker::worker_state::starting: ws.state = "starting"; break;
            case worker::worker_state::ready: ws.state = w.draining ? "draining" : "ready"; break;
            case worker::worker_state::draining: ws.state = "draining"; break;
            case worker::worker_state::exiting: ws.state = "exiting"; break;
        }
        ws.uptime_s = to_seconds(now - w.started);
        const std::vector<unsigned>& skipped = current.listeners.skipped();
        ws.full = std::string_view{ws.state} == "ready" && w.config_gen == current.number &&
                  std::binary_search(skipped.begin(), skipped.end(), w.slot);
        const std::vector<slot_state>& slots =
            previous != nullptr && w.config_gen == previous->number ? previous->slots : current.slots;
        ws.restarts = w.slot < slots.size() ? slots[w.slot].restarts : 0;
        ws.counters = st.counters();
        ws.rss_bytes = rss_bytes(w.pid);
        // Rates over the last 10 s: from the oldest sample once the window is full, else
        // from the worker's start (its counters start at zero), so a worker born under
        // load shows what it did before its first sample.
        worker_proc::sample oldest{.at = w.started, .counters = {}, .cpu_ms = 0};
        if (w.sample_count >= w.samples.size()) {
            oldest = w.samples[w.sample_count % w.samples.size()];
        }
        if (const double dt = to_seconds(now - oldest.at); dt > 0.05) {
            const auto values = ws.counters.values();
            const auto before = oldest.counters.values();
            for (std::size_t i = 0; i < worker::counter_count; ++i) {
                if (worker::counter_table[i].rate) {
                    ws.per_s[i] = static_cast<double>(values[i] - before[i]) / dt;
                }
            }
            ws.cpu_percent = static_cast<double>(cpu_time_ms(w.pid) - oldest.cpu_ms) / 10.0 / dt;
        }
        s.workers.push_back(ws);
    }
    std::sort(s.workers.begin(), s.workers.end(), [](const worker_status& a, const worker_status& b) {
        return a.slot != b.slot ? a.slot < b.slot : a.generation != b.generation ? a.generation < b.generation : a.spawn < b.spawn;
    });
    return s;
}

control_reply answer(std::string_view command, const std::function<master_status()>& status) {
    if (command.rfind("scale ", 0) == 0) {
        unsigned n = 0;
        const auto arg = command.substr(6);
        auto [end, ec] = std::from_chars(arg.data(), arg.data() + arg.size(), n);
        if (ec != std::errc{} || end != arg.data() + arg.size() || n < 1 || n > 1024) {
            return {"error: scale needs a worker count from 1 to 1024\n"};
        }
        // Applied once this round of control clients is served, outside the answer
        // (workers forked then close their copies of every client's socket).
        return {"scaling to " + std::to_string(n) + " workers\n", n};
    }
    if (command == "ping") {
        return {"pong\n"};
    }
    if (command == "status") {
        return {render_table(status())};
    }
    if (command == "status json") {
        return {render_json(status())};
    }
    if (command == "status prometheus") {
        const master_status s = status();
        if (s.board == nullptr) {
            return {"error: no scoreboard\n"};
        }
        return {worker::render_metrics(worker::scoreboard::view_of(*s.board))};
    }
    return {"error: unknown command '" + std::string{command} + "'\n"};
}

}  // namespace pfd::server
