#pragma once
// The whole scoreboard in Prometheus' text exposition format (version 0.0.4): one
// renderer for the metrics route, the master's [metrics] listener and
// `preforkd status --prometheus`.
#include <cstdint>
#include <string>
#include <string_view>

#include "worker/scoreboard.hpp"

namespace pfd::worker {

inline constexpr std::string_view metrics_content_type = "text/plain; version=0.0.4; charset=utf-8";

// The metrics of `board`: a snapshot consistent with the folds of exited workers into
// their slots' totals. Memory and CPU are the master's once-a-second samples in the
// board: rendering reads no file.
std::string render_metrics(const scoreboard& board);

// µs as a decimal number of seconds, exact: 250 -> "0.00025", 1'000'000 -> "1.0".
std::string seconds_text(std::uint64_t us);

}  // namespace pfd::worker
