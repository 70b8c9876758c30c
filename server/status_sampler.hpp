#pragma once
// What the master reports: a sample of each worker's counters and CPU time once a
// second (for rates over the last 10 s), the status the control socket's `status`
// renders, and the answers to control commands.
#include <functional>
#include <string>
#include <string_view>

#include "server/generation.hpp"
#include "server/status.hpp"
#include "server/worker_pool.hpp"

namespace pfd::server {

class status_sampler {
public:
    // Takes the once-a-second samples when they are due, and publishes each worker's
    // memory and CPU time in its scoreboard entry (what the metrics report).
    void tick(worker_pool& pool) noexcept;
    // previous: the generation serving while a reload is pending, or null.
    [[nodiscard]] master_status status(worker_pool& pool, const generation& current,
                                       const generation* previous) const;

private:
    steady_clock::time_point started_ = steady_clock::now();
    steady_clock::time_point next_sample_{};
};

// A control command's reply; scale_to: the worker count `scale N` asks for (0: none),
// applied by the master once the client is answered.
struct control_reply {
    std::string text;
    unsigned scale_to = 0;
};
[[nodiscard]] control_reply answer(std::string_view command, const std::function<master_status()>& status);

}  // namespace pfd::server
