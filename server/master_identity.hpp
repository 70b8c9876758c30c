#pragma once
// Which process is a preforkd master: beside the pid-file code's question "which pid is
// in the file", the answer to "is that pid still a master" (a pid file can outlive its
// master, and the pid be reused), and where our own executable is.
#include <string>

namespace pfd::server {

// A live process whose title says it is a preforkd master.
[[nodiscard]] bool is_master_process(int pid);
// The executable this process runs, from /proc/self/exe (what a binary upgrade runs
// again); empty if it cannot be read.
[[nodiscard]] std::string own_executable();

}  // namespace pfd::server
