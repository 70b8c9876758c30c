#pragma once
// Process titles shown by ps: "preforkd: master process ..." and "preforkd: worker process N".
#include <string>
#include <string_view>

namespace pfd::server {

// Call first in main(): copies argv and environ elsewhere so their memory can hold a
// title, and points argv[] at the copies. Returns the original command line.
std::string init_proc_title(int argc, char** argv);

void set_proc_title(std::string_view title) noexcept;

}  // namespace pfd::server
