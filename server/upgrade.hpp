#pragma once
// USR2: a binary upgrade, as nginx does it. The (possibly replaced) executable is
// started as a second master that inherits the listening sockets, so no connection is
// refused at any point; both serve until the operator sends QUIT to the old one. The
// old master steps aside from the pid file (renamed to .oldbin) and from the control
// socket's path; if the new master dies first, it takes both back and goes on alone.
#include <sys/types.h>

#include <string>
#include <vector>

#include "server/config.hpp"
#include "server/control.hpp"
#include "server/listener_set.hpp"
#include "server/pid_file.hpp"

namespace pfd::server {

class binary_upgrade {
public:
    // argv: the command line to start the new master with; binary_path: the executable
    // at start (USR2 runs what is there now).
    binary_upgrade(std::vector<std::string> argv, std::string binary_path) noexcept
        : argv_{std::move(argv)}, binary_path_{std::move(binary_path)} {}
    // The executable this process runs, from /proc/self/exe (what USR2 starts again);
    // empty if it cannot be read.
    [[nodiscard]] static std::string own_executable();

    // Started by a binary upgrade: the master that started us, while it runs.
    void set_previous_master(pid_t pid) noexcept { previous_master_ = pid; }

    // The runtime files and sockets an upgrade hands over, and takes back.
    struct master_files {
        listener_set& listeners;
        pid_file& pid;
        control_socket& control;
        const config& cfg;
    };
    void start(const master_files& files) noexcept;
    [[nodiscard]] bool is_new_master(pid_t pid) const noexcept { return pid == new_master_; }
    // A new master started by USR2 runs (and speaks to systemd for the service).
    [[nodiscard]] bool running() const noexcept { return new_master_ != 0; }
    // This master was started by a binary upgrade (it tells systemd it is the main pid).
    [[nodiscard]] bool from_upgrade() const noexcept { return previous_master_ != 0; }
    // The new master exited; a master that still serves takes its files back.
    void on_exit(int status, bool serving, const master_files& files) noexcept;

private:
    std::vector<std::string> argv_;
    std::string binary_path_;
    pid_t previous_master_ = 0;   // the old master, our parent until it exits
    pid_t new_master_ = 0;        // the new master started by USR2, while it runs
};

}  // namespace pfd::server
