#include "worker/offload_pool.hpp"

#include <sys/eventfd.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

#include "base/log.hpp"

namespace pfd::worker {


offload_pool::offload_pool(unsigned threads, std::size_t max_queued, std::chrono::milliseconds nudge) noexcept
    : thread_count_{threads == 0 ? 1 : threads},
      max_queued_{max_queued},
      nudge_{nudge},
      wake_{::eventfd(0, EFD_CLOEXEC)} {}

offload_pool::~offload_pool() {
    {
        const std::lock_guard lock{mutex_};
        stopping_ = true;
    }
    ready_.notify_all();
    busy_.notify_all();
    for (std::thread& t : threads_) {
        t.join();
    }
}

bool offload_pool::start() noexcept {
    try {
        while (threads_.size() < thread_count_) {
            threads_.emplace_back([this] { serve(); });
        }
    } catch (...) {
        log_line("worker: cannot start offload threads (%zu of %u started)", threads_.size(), thread_count_);
        return !threads_.empty();
    }
    if (nudge_.count() > 0) {
        try {
            threads_.emplace_back([this] { nudge_scheduler(); });
        } catch (...) {
            log_line("worker: cannot start the offload nudge thread; offloaded jobs run without it");
        }
    }
    return !threads_.empty();
}

bool offload_pool::submit(work w, done d) noexcept {
    if (!wake_.valid() || (threads_.empty() && !start())) {
        return false;
    }
    try {
        const std::lock_guard lock{mutex_};
        if (in_flight_ >= max_queued_) {
            return false;
        }
        queue_.push_back({std::move(w), std::move(d)});
        ++in_flight_;
    } catch (...) {
        return false;
    }
    ready_.notify_one();
    return true;
}

std::size_t offload_pool::queued() const noexcept {
    const std::lock_guard lock{mutex_};
    return in_flight_;
}

void offload_pool::serve() noexcept {
    // Below the loop threads: CPU-heavy work must not take the CPU from the connections
    // the loops serve when the machine is busy. SCHED_IDLE weighs 3 against a normal
    // thread's 1024: offloaded work runs on what the loops leave, and still runs.
    const sched_param idle{};
    static_cast<void>(::sched_setscheduler(0, SCHED_IDLE, &idle));
    static_cast<void>(::pthread_setname_np(::pthread_self(), "pfd-offload"));   // for top -H, ps -L
    std::unique_lock lock{mutex_};
    for (;;) {
        ready_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
        if (stopping_) {
            return;   // what is left is dropped with the pool: the worker is exiting
        }
        job j = std::move(queue_.front());
        queue_.pop_front();
        if (jobs_running_++ == 0) {
            busy_.notify_one();
        }
        lock.unlock();
        if (j.w) {
            j.w();
        }
        lock.lock();
        --jobs_running_;
        const bool first = finished_.empty();
        try {
            finished_.push_back(std::move(j.d));
        } catch (...) {
            --in_flight_;   // out of memory: this completion is lost, not the worker
            continue;
        }
        if (first) {
            const std::uint64_t one = 1;
            // Only the first completion of a batch needs to wake the loop.
            static_cast<void>(::write(wake_.get(), &one, sizeof one));
        }
    }
}

void offload_pool::nudge_scheduler() noexcept {
    static_cast<void>(::pthread_setname_np(::pthread_self(), "pfd-nudge"));
    std::unique_lock lock{mutex_};
    while (!stopping_) {
        busy_.wait(lock, [this] { return stopping_ || jobs_running_ > 0; });
        // The wake-up at the end of this wait is the nudge.
        busy_.wait_for(lock, nudge_, [this] { return stopping_; });
    }
}

void offload_pool::run_completions() noexcept {
    {
        const std::lock_guard lock{mutex_};
        running_.swap(finished_);
        in_flight_ -= running_.size();
    }
    for (done& d : running_) {
        if (d) {
            d();
        }
    }
    running_.clear();
}

}  // namespace pfd::worker
