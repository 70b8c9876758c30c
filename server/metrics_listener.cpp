#include "server/metrics_listener.hpp"

namespace pfd::server {

// Being written (issue 15): inactive until then.
tl::expected<metrics_listener, std::string> metrics_listener::open(const config&) noexcept { return metrics_listener{}; }
void metrics_listener::add_pollfds(std::vector<pollfd>&) const {}
void metrics_listener::serve(std::span<const pollfd>, const worker_pool&, const generation&) noexcept {}
std::optional<steady_clock::time_point> metrics_listener::next_deadline() const noexcept { return std::nullopt; }
void metrics_listener::close_in_worker() noexcept {}

}  // namespace pfd::server
