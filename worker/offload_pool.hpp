#pragma once
// The worker's helper threads for work a handler must not do on the loop thread. Jobs
// run in order of submission on a few threads; each job's completion is queued for the
// loop thread, which an eventfd (read through the ring) wakes to run them. The threads
// start with the first job, so a worker whose handlers never offload has none.
//
// The helpers run at idle priority, below the loop thread. Even so a loop thread can be
// switched out while still runnable and have to wait for the kernel's next look at that
// CPU, the scheduler tick (every 4 ms at HZ=250), which the p99 of every other request
// pays (bench/README.md, "Modules"). So while a job runs, one more thread, at normal
// priority and touching nothing the loop uses, wakes every `nudge` period: each wake-up
// is such a look, on the CPU it wakes on. It sleeps while no job runs. Worker slot i's
// nudge stays on the (i mod n)-th of the n CPUs the worker may use, so that with a
// worker per CPU every CPU is nudged (left free, the nudges can gather on one CPU).
#include <atomic>
#include <chrono>
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
    // nudge: 0 for no nudging thread. slot: the worker's, for the nudge's CPU.
    offload_pool(unsigned threads, std::size_t max_queued, std::chrono::milliseconds nudge,
                 std::uint32_t slot) noexcept;
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
    void nudge_scheduler() noexcept;
    void job_starts() noexcept;
    bool start() noexcept;

    unsigned thread_count_;
    std::size_t max_queued_;
    std::chrono::milliseconds nudge_;
    std::uint32_t slot_;
    unique_fd wake_;
    mutable std::mutex mutex_;
    std::condition_variable ready_;
    std::deque<job> queue_;
    std::vector<done> finished_;
    std::vector<done> running_;   // the loop thread's copy, taken under the lock
    std::vector<std::thread> threads_;
    std::size_t in_flight_ = 0;   // queued or running
    bool stopping_ = false;

    // The nudge's own lock, so that its wake-ups never contend for mutex_ with the loop
    // thread or an idle-priority helper.
    std::atomic<std::size_t> jobs_running_{0};   // on a helper thread now
    std::mutex nudge_mutex_;
    std::condition_variable job_started_;    // while none ran: the nudge starts
    std::condition_variable nudge_stop_;     // only when the pool stops: ends the nudge's sleep
    bool nudge_stopping_ = false;            // under nudge_mutex_
};

}  // namespace pfd::worker
