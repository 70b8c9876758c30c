#pragma once
// The access log ([log] access, access_format): one line per request, buffered per
// worker and written through the worker's ring, never by a blocking write on the way of
// a request.
//
// Combined (the default): the Combined Log Format, then the request time and the slot:
//   127.0.0.1 - - [01/Dec/2026:12:53:17 +0000] "GET / HTTP/1.1" 200 151 "-" "curl/7.88.1" rt=123 slot=0
// remote address, [local time the answer was complete], "request line", status, bytes
// sent (head + body, file ranges at their length), "Referer", "User-Agent", the time
// from the request head to its whole answer queued, in µs, and the worker slot. A
// missing field is "-"; in the quoted ones '"', '\' and bytes outside 0x20-0x7e are
// written \xHH (nginx's escaping), so a line is always one line and its quotes balance.
// A request that failed before its line was read (400, 408, 431...) logs "-" for it.
// JSON (access_format = "json"): one object per line with the same fields,
//   {"time":"2026-12-01T12:53:17+00:00","remote_addr":"127.0.0.1","request":"GET / HTTP/1.1",
//    "status":200,"bytes_sent":151,"referer":"","user_agent":"curl/7.88.1","request_time_us":123,"slot":0}
// strings escaped per RFC 8259 (bytes >= 0x80 as \u00XX: the line is valid JSON whatever
// the client sent); a missing string is "".
//
// The buffer: lines are appended to one buffer while the previous one is being written
// (one IORING_OP_WRITE at a time, to an O_APPEND file). It is written once it holds
// flush_bytes, or at least once a second, and synchronously on the worker's exit (after
// any write in flight is back), so a graceful stop, a reload or a recycle loses nothing.
// If the writes cannot keep up (one in flight and max_buffer waiting), lines are
// dropped and counted (a rate-limited error line says how many), never waited for.
//
// Reopen (USR1): the master opens the new file and hands the worker its descriptor
// (server/log_files.cpp says why); what is buffered is written to the old file first,
// then the worker writes to the new one.
#include <sys/types.h>

#include <cstdint>
#include <ctime>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "base/log.hpp"
#include "base/unique_fd.hpp"

namespace pfd::worker {

// What one line says.
struct access_entry {
    std::string_view remote_addr;   // "": unknown
    std::string_view request;       // the request line; "": none was read
    std::string_view referer;
    std::string_view user_agent;
    int status = 0;
    std::uint64_t bytes_sent = 0;
    std::uint64_t duration_us = 0;
    std::uint32_t slot = 0;
};

// The time fields, from Unix seconds: "01/Dec/2026:12:53:17 +0000" and
// "2026-12-01T12:53:17+00:00", in local time (TZ).
std::string format_time_local(std::time_t when);
std::string format_time_iso8601(std::time_t when);
// Appends one line (with its '\n') to out.
void append_combined(std::string& out, const access_entry& e, std::string_view time_local);
void append_json(std::string& out, const access_entry& e, std::string_view time_iso8601);

// The log file the master opened for the workers before it forked them (and, after a
// reopen, for those it forks later): the path it is for, and its descriptor, which a
// worker owns once forked. Set in the master (server/log_files.cpp); -1: none.
void set_inherited_access_log(std::string_view path, int fd) noexcept;
[[nodiscard]] int inherited_access_log_fd() noexcept;
// In a worker: the inherited descriptor if it is for `path`, else `path` opened here
// (a reload changed it), else -1 with a line saying why.
[[nodiscard]] unique_fd take_access_log(std::string_view path) noexcept;
// Lines are written through io_uring at the file's own position, which io_uring does not
// lock as write(2) does: two workers sharing a regular file opened without O_APPEND (a
// redirected stderr) could write at the same offset, one line over another. This sets
// O_APPEND on such a file, so that every write lands at its end.
void append_at_end(int fd) noexcept;

class access_log {
public:
    static constexpr std::size_t flush_bytes = 64 * 1024;
    static constexpr std::size_t max_buffer = 1024 * 1024;
    static constexpr std::uint64_t flush_interval_ms = 1000;

    // fd: an O_APPEND file or a stream (stderr); slot: this worker's.
    access_log(unique_fd fd, bool json, std::uint32_t slot, std::size_t max_connections);
    access_log(const access_log&) = delete;
    access_log& operator=(const access_log&) = delete;

    // The peer of the connection in `conn_slot` (its socket `fd`), looked up once.
    void set_peer(std::uint32_t conn_slot, int fd) noexcept;
    void set_peer(std::uint32_t conn_slot, std::string_view text) noexcept;
    [[nodiscard]] std::string_view peer(std::uint32_t conn_slot) const noexcept;

    // One request's line; `when`: wall-clock seconds.
    void record(access_entry e, std::time_t when) noexcept;

    // The loop's part: whether to start a write now; the bytes to write to fd() (empty:
    // nothing, e.g. a reopen needed no write); what a write's completion means (the
    // next bytes to write at once: the rest of a short write).
    [[nodiscard]] bool write_due(std::uint64_t now_ms) const noexcept {
        return !inflight_ && (next_fd_.valid() || active_.size() >= flush_bytes ||
                              (!active_.empty() && now_ms - last_write_ms_ >= flush_interval_ms));
    }
    [[nodiscard]] std::span<const char> start_write(std::uint64_t now_ms) noexcept;
    [[nodiscard]] std::span<const char> written(int res) noexcept;
    [[nodiscard]] bool write_in_flight() const noexcept { return inflight_; }
    [[nodiscard]] int fd() const noexcept { return fd_.get(); }

    // The master's new file: used once what is buffered is in the old one.
    void reopen(unique_fd fd) noexcept;
    // Exit path (no write in flight): everything left, by blocking writes.
    void flush_sync() noexcept;
    // Says (rate-limited) how many lines were dropped since it last did.
    void report_drops() noexcept;

    [[nodiscard]] std::uint64_t dropped() const noexcept { return dropped_; }
    [[nodiscard]] std::size_t buffered() const noexcept { return active_.size(); }

private:
    struct peer_text {
        char text[47];   // INET6_ADDRSTRLEN + 1
        std::uint8_t len;
    };
    [[nodiscard]] std::span<const char> chunk() const noexcept;
    void use_next_fd() noexcept;
    void refresh_time(std::time_t when);

    unique_fd fd_;
    unique_fd next_fd_;          // from a reopen, once the buffer is in the old file
    bool swap_after_write_ = false;   // the write in flight carries the lines before the reopen
    bool json_;
    std::uint32_t slot_;
    std::size_t chunk_limit_;    // a stream takes a line-aligned PIPE_BUF at a time: atomic
    std::string active_;         // lines being collected
    std::string writing_;        // lines being written (the kernel's until the write is back)
    std::size_t write_off_ = 0;
    bool inflight_ = false;
    std::uint64_t last_write_ms_ = 0;
    std::time_t time_sec_ = -1;
    std::string time_text_;
    std::vector<peer_text> peers_;
    std::uint64_t dropped_ = 0;
    std::uint64_t dropped_reported_ = 0;
    log_limiter drop_log_{std::chrono::seconds{10}, nullptr, log_level::error};
    log_limiter write_log_{std::chrono::seconds{10}, nullptr, log_level::error};
};

}  // namespace pfd::worker
