#pragma once
// The handlers' offload for unit tests: jobs wait until the test runs them (work, then
// done), as the worker's pool runs them across its threads and the loop.
#include <cstddef>
#include <utility>
#include <vector>

#include "handlers/offload.hpp"

namespace pfd::test {

struct queued_offload final : handlers::offload {
    std::vector<std::pair<work, done>> jobs;
    std::size_t limit = 16;
    bool submit(work w, done d) noexcept override {
        if (jobs.size() >= limit) {
            return false;
        }
        jobs.emplace_back(std::move(w), std::move(d));
        return true;
    }
    void run_all() {
        auto now = std::move(jobs);
        jobs.clear();
        for (auto& [w, d] : now) {
            w();
            d();
        }
    }
};

}  // namespace pfd::test
