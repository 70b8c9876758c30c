#pragma once
// How many CPUs this process may really use: for workers = "auto".
#include <optional>
#include <string_view>

namespace pfd::server {

// CPUs in the affinity mask, lowered to a cgroup v2 cpu.max quota where one is set
// on this process's cgroup or an ancestor. At least 1.
unsigned usable_cpus() noexcept;

// The CPUs a cpu.max file allows ("150000 100000" -> 2, rounded up), or none for "max".
std::optional<unsigned> cpus_from_cpu_max(std::string_view content) noexcept;

}  // namespace pfd::server
