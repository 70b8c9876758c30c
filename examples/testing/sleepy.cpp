// For the tests, through the C++ layer: offloaded sleeps (a full queue, clients that
// leave while their request is offloaded, work that throws) and a streamed answer.
//   .../sleep?ms=N   sleeps N ms (0..10000) on a helper thread, then answers "slept N"
//   .../throw        work throws: the layer answers 500
//   .../stream       a chunked answer in three writes, with a header of its own
//   .../stats        "works W dones D aborts A" of this worker's route
#include <preforkd/module.hpp>

#include <atomic>
#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>

namespace {

struct counters {
    std::atomic<unsigned> works{0};   // written by helper threads
    unsigned dones = 0;
    unsigned aborts = 0;
};

bool ends_with(std::string_view s, std::string_view tail) { return s.ends_with(tail); }

unsigned query_ms(std::string_view q) {
    if (!q.starts_with("ms=")) {
        return 0;
    }
    unsigned ms = 0;
    for (const char c : q.substr(3)) {
        if (c < '0' || c > '9' || ms > 10000) {
            return 0;
        }
        ms = ms * 10 + static_cast<unsigned>(c - '0');
    }
    return ms > 10000 ? 10000 : ms;
}

class sleepy {
public:
    explicit sleepy(preforkd::worker&) {}

    void handle(preforkd::request& r) {
        const std::string_view path = r.path();
        if (ends_with(path, "/stats")) {
            const std::string body = "works " + std::to_string(stats_->works.load()) + " dones " +
                                     std::to_string(stats_->dones) + " aborts " + std::to_string(stats_->aborts);
            r.respond(200, "text/plain", body);
        } else if (ends_with(path, "/stream")) {
            r.start(200);
            r.add_header("X-Module", "sleepy");
            r.write("one ");
            r.write("two ");
            r.write("three");
            r.finish();
        } else if (ends_with(path, "/throw")) {
            r.offload([] { throw std::runtime_error{"no"}; }, [](preforkd::request&) {});
        } else if (ends_with(path, "/sleep")) {
            const unsigned ms = query_ms(r.query());
            // The work holds the counters, not the module: it may outlive the route.
            r.offload(
                [ms, stats = stats_] {
                    std::this_thread::sleep_for(std::chrono::milliseconds{ms});
                    stats->works.fetch_add(1);
                    return ms;
                },
                [stats = stats_.get()](preforkd::request& req, unsigned slept) {
                    ++stats->dones;
                    req.respond(200, "text/plain", "slept " + std::to_string(slept));
                });
        } else {
            r.respond(404, "text/plain", "sleepy: no such thing\n");
        }
    }

    void on_abort(preforkd::request&) { ++stats_->aborts; }

private:
    std::shared_ptr<counters> stats_ = std::make_shared<counters>();
};

}  // namespace

PREFORKD_MODULE(sleepy, "sleepy")
