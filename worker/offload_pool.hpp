#pragma once
// The worker's helper threads for work a handler must not do on the loop thread. Jobs
// run in order of submission on a few threads; each job's completion is queued for the
// loop thread, which an eventfd (read through the ring) wakes to run them. The threads
// start with the first job, so a worker whose handlers never offload has none.
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "base/unique_fd.hpp"
#include "handlers/offload.hpp"

namespace pfd::worker {

class offload_pool final : public handlers::offload {
public:
    offload_pool(unsigned threads, std::size_t max_queued) noexcept;
    ~offload_pool();

    [[nodiscard]] bool submit(work w, done d) noexcept override;
    // Readable (8 bytes) when completions are waiting; -1 if it could not be made.
    [[nodiscard]] int wake_fd() const noexcept { return wake_.get(); }
    // Runs the completions of finished jobs, on the calling (loop) thread.
    void run_completions() noexcept;
    [[nodiscard]] std::size_t queued() const noexcept;

private:
    struct job {
        work w;
        done d;
    };
    void serve() noexcept;
    bool start() noexcept;

    unsigned thread_count_;
    std::size_t max_queued_;
    unique_fd wake_;
    mutable std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<job> queue_;
    std::vector<done> finished_;
    std::vector<done> running_;   // the loop thread's copy, taken under the lock
    std::vector<std::thread> threads_;
    std::size_t in_flight_ = 0;   // queued or running
    bool stopping_ = false;
};

}  // namespace pfd::worker
