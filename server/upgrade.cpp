#include "server/upgrade.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <utility>

#include "base/log.hpp"
#include "server/master.hpp"
#include "server/systemd.hpp"

namespace pfd::server {

std::string binary_upgrade::own_executable() {
    char buf[4096];
    const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    return n > 0 ? std::string{buf, static_cast<std::size_t>(n)} : std::string{};
}

void binary_upgrade::start(const master_files& files) noexcept {
    if (new_master_ != 0) {
        log_line("upgrade: a new master (pid %d) is already running; ignored", static_cast<int>(new_master_));
        return;
    }
    if (previous_master_ != 0 && ::getppid() == previous_master_) {
        // Its pid file is .oldbin, which ours would have to become: one upgrade at a time.
        log_line("upgrade: the previous master (pid %d) is still running; send it QUIT first; ignored",
                 static_cast<int>(previous_master_));
        return;
    }
    const std::string fds = files.listeners.fd_list();
    const std::string old_pid_file = files.cfg.pid_file + ".oldbin";
    if (!files.pid.move_to(old_pid_file)) {
        log_line("upgrade: cannot rename %s: %s; not upgrading", files.cfg.pid_file.c_str(), std::strerror(errno));
        return;
    }
    files.control.release_path();
    const pid_t pid = ::fork();
    if (pid < 0) {
        log_line("upgrade: fork failed: %s", std::strerror(errno));
        on_exit(0, true, files);
        return;
    }
    if (pid == 0) {
        // The new master: listening sockets survive exec, nothing else of ours does.
        files.listeners.hand_over_on_exec(fds);
        // NOTIFY_SOCKET stays: the new master tells systemd MAINPID= and READY=1 once
        // its workers are ready (which takes NotifyAccess=all: it is not the main pid yet).
        hand_over_watchdog();
        const sigset_t set = master_signals();
        ::sigprocmask(SIG_UNBLOCK, &set, nullptr);   // the mask survives exec
        std::vector<char*> args;
        for (const auto& a : argv_) {
            args.push_back(const_cast<char*>(a.c_str()));
        }
        args.push_back(nullptr);
        ::execv(binary_path_.c_str(), args.data());
        std::fprintf(stderr, "preforkd: upgrade: exec %s failed: %s\n", binary_path_.c_str(), std::strerror(errno));
        ::_exit(127);
    }
    new_master_ = pid;
    log_line("upgrade: started new master pid %d from %s with the listening sockets %s; send QUIT to this "
             "master (pid %d, now in %s) once it serves",
             static_cast<int>(pid), binary_path_.c_str(), fds.c_str(), static_cast<int>(::getpid()), old_pid_file.c_str());
}

void binary_upgrade::on_exit(int status, bool serving, const master_files& files) noexcept {
    const pid_t pid = std::exchange(new_master_, 0);
    if (!serving) {
        return;
    }
    const config& cfg = files.cfg;
    log_line("upgrade: new master pid %d exited (%s %d) before this one was told to quit; this master keeps "
             "serving and takes back %s", static_cast<int>(pid), WIFSIGNALED(status) ? "signal" : "code",
             WIFSIGNALED(status) ? WTERMSIG(status) : WEXITSTATUS(status), cfg.pid_file.c_str());
    if (!files.pid.move_to(cfg.pid_file)) {
        log_line("upgrade: cannot take back %s: %s", cfg.pid_file.c_str(), std::strerror(errno));
    }
    files.listeners.steer_over_all_again();   // it steered new connections over its own number of sockets
    auto reopened = control_socket::open(cfg.control_socket);
    if (reopened) {
        files.control = std::move(*reopened);
    } else {
        log_line("upgrade: cannot reopen the control socket: %s", reopened.error().c_str());
    }
}

}  // namespace pfd::server
