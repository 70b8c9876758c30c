#include "server/log_files.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "base/log.hpp"
#include "base/result.hpp"
#include "base/unique_fd.hpp"
#include "worker/access_log.hpp"
#include "worker/message_channel.hpp"

namespace pfd::server {

namespace {

// What the master has open now (the error log is fd 2 itself).
struct open_files {
    std::string access;   // "", "stderr" or a path: what worker::inherited_access_log is for
    std::string error;    // "": stderr
};
open_files& files() noexcept {
    static open_files f;
    return f;
}

result<unique_fd> open_log_file(const std::string& path) noexcept {
    unique_fd fd{::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NOCTTY, 0644)};
    if (!fd.valid()) {
        return fail(errno, "open");
    }
    return fd;
}

// The process's stderr as it was before an error log file replaced it: where
// access = "stderr" writes.
result<unique_fd> dup_stderr() noexcept {
    unique_fd fd{::fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3)};
    if (!fd.valid()) {
        return fail(errno, "dup");
    }
    worker::append_at_end(fd.get());
    return fd;
}

bool put_on_stderr(const unique_fd& fd) noexcept {
    if (::dup2(fd.get(), STDERR_FILENO) < 0) {
        return false;
    }
    refresh_log_target();
    return true;
}

}  // namespace

bool open_logs(const config& cfg) noexcept {
    set_log_level(cfg.log.level);
    const std::string& access = cfg.worker.access_log;
    unique_fd access_fd;
    if (!access.empty()) {
        auto fd = access == "stderr" ? dup_stderr() : open_log_file(access);
        if (!fd) {
            log_error("cannot open the access log %s: %s failed: %s", access.c_str(), fd.error().call,
                      std::strerror(fd.error().code));
            return false;
        }
        access_fd = std::move(*fd);
    }
    if (!cfg.log.error.empty()) {
        auto fd = open_log_file(cfg.log.error);
        if (!fd) {
            log_error("cannot open the error log %s: %s failed: %s", cfg.log.error.c_str(), fd.error().call,
                      std::strerror(fd.error().code));
            return false;
        }
        if (!put_on_stderr(*fd)) {
            log_error("cannot put the error log %s on stderr: dup2 failed: %s", cfg.log.error.c_str(),
                      std::strerror(errno));
            return false;
        }
    }
    try {
        files() = open_files{access, cfg.log.error};
    } catch (...) {
        return false;
    }
    worker::set_inherited_access_log(access, access_fd.release());
    return true;
}

void apply_log_config(const config& next) noexcept {
    set_log_level(next.log.level);
    open_files& f = files();
    try {
        const std::string& access = next.worker.access_log;
        if (access != f.access) {
            unique_fd fd;
            bool ok = true;
            if (!access.empty()) {
                auto opened = access == "stderr" ? dup_stderr() : open_log_file(access);
                if (opened) {
                    fd = std::move(*opened);
                } else {
                    ok = false;
                    log_error("reload: cannot open the access log %s: %s failed: %s", access.c_str(),
                              opened.error().call, std::strerror(opened.error().code));
                }
            }
            if (ok) {
                f.access = access;
                worker::set_inherited_access_log(access, fd.release());
            }
        }
        if (next.log.error != f.error && !next.log.error.empty()) {
            auto fd = open_log_file(next.log.error);
            if (fd && put_on_stderr(*fd)) {
                f.error = next.log.error;
            } else {
                log_error("reload: cannot open the error log %s: %s; logging on where it did", next.log.error.c_str(),
                          std::strerror(fd ? errno : fd.error().code));
            }
        }
    } catch (...) {
        log_error("reload: out of memory for the log files' names");
    }
}

void reopen_logs(const config& cfg, worker_pool& pool) noexcept {
    log_line("received SIGUSR1: reopening log files");
    apply_log_config(cfg);   // a reload's files, if it could not open them then
    const open_files& f = files();
    worker::control_record rec{worker::control_kind::reopen_logs, 0};
    std::vector<int> fds;
    fds.reserve(2);
    unique_fd access;
    unique_fd error;
    // A stream (stderr) has nothing to reopen.
    if (!f.access.empty() && f.access != "stderr") {
        auto fd = open_log_file(f.access);
        if (fd) {
            access = std::move(*fd);
            rec.carries |= worker::carries_access_log;
            fds.push_back(access.get());
        } else {
            log_error("reopen: cannot open the access log %s: %s; the workers go on writing where they did",
                      f.access.c_str(), std::strerror(fd.error().code));
        }
    }
    if (!f.error.empty()) {
        auto fd = open_log_file(f.error);
        if (fd && put_on_stderr(*fd)) {
            error = std::move(*fd);
            rec.carries |= worker::carries_error_log;
            fds.push_back(error.get());
        } else {
            log_error("reopen: cannot open the error log %s: %s; logging on where it did", f.error.c_str(),
                      std::strerror(fd ? errno : fd.error().code));
        }
    }
    if (rec.carries == 0) {
        return;
    }
    const unsigned missed = pool.relay().send_control(rec, fds);
    if (access.valid()) {
        // Workers forked from now on inherit the new file.
        worker::set_inherited_access_log(f.access, access.release());
    }
    const std::size_t workers = pool.procs().size();
    log_line("log files reopened; %zu worker(s) told%s", workers - std::min<std::size_t>(missed, workers),
             missed != 0 ? " (the others write on to the old files)" : "");
}

}  // namespace pfd::server
