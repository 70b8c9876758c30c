#pragma once
// One request's answer as its handler gives it to the worker. A handler never writes
// to a socket: it names where the bytes come from, and the worker sends them. The worker
// then adds what only it knows (the Date, whether the connection stays open).
//
// An answer is one of:
//   prepared  respond(r): bytes prepared in advance (fixed routes, error pages);
//   built     start(status), fields, then body pieces: bytes (copied) and file ranges
//             (sent from the file), then finish(). Without a Content-Length the body is
//             sent chunked (HTTP/1.1) or until the connection closes (HTTP/1.0).
// By the end of the handler's on_complete the answer is finished, or defer() was called:
// then it may come later, in pieces, from the loop thread (after offloaded work, say);
// the worker sends each piece as it comes, and parses nothing the client pipelined behind
// the request until the answer is finished, so answers stay in order.
#include <algorithm>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

#include "handlers/file_piece.hpp"
#include "proto/byte_buffer.hpp"
#include "proto/response.hpp"

namespace pfd::handlers {

// Where the bytes of an answer come from.
enum class body_source : std::uint8_t {
    none,      // not answered yet
    prepared,  // a prepared_response the handler keeps alive
    built,     // a head and body pieces the handler gave one by one
};

// The worker's side of an exchange: told when a deferred answer moves on.
class exchange_owner {
public:
    virtual void answer_moved() noexcept = 0;

protected:
    ~exchange_owner() = default;
};

class exchange {
public:
    // A file range of the body, at `at` bytes into the staged bytes.
    struct staged_file {
        std::size_t at;
        file_piece piece;
    };

    // A fresh exchange for the next request. HEAD is answered without body bytes;
    // chunked: the client can take a chunked body (HTTP/1.1).
    void begin(bool head_only, bool chunked_ok, exchange_owner* owner) noexcept {
        if (built_) {
            staged_.clear();
            files_.clear();
        }
        prepared_ = nullptr;
        handler_state = nullptr;
        owner_ = owner;
        head_only_ = head_only;
        chunked_ok_ = chunked_ok;
        continue_ = deferred_ = finished_ = built_ = head_fixed_ = cut_short_ = false;
        framing_ = framing::none;
        length_left_ = 0;
    }
    // The worker lets go of the exchange (the request was answered or aborted): whatever
    // the handler still calls is ignored.
    void end() noexcept {
        owner_ = nullptr;
        finished_ = true;
        if (built_) {   // nothing of it kept in a pooled session (file pieces hold descriptors)
            staged_.clear();
            files_.clear();
        }
    }

    // The whole answer, from bytes prepared in advance; `r` must outlive the request.
    void respond(const proto::prepared_response& r) noexcept {
        prepared_ = &r;
        finished_ = true;
        moved();
    }

    // A built answer: its head, to which the handler adds fields before the first piece.
    proto::response_head& start(int status) {
        built_ = true;
        head_.start(status);
        return head_;
    }
    // The next bytes of a built answer's body (copied). False if they go past the length
    // its head gave: only what fits is sent, so the answer stays framed as it says.
    bool write(std::string_view bytes) {
        if (!fix_head() || bytes.empty()) {
            return true;
        }
        const bool fits = within_length(bytes.size());
        bytes = bytes.substr(0, static_cast<std::size_t>(counted(bytes.size())));
        if (bytes.empty()) {
            return fits;
        }
        if (framing_ == framing::chunked) {
            write_chunk_size(bytes.size());
        }
        staged_.append(bytes);
        if (framing_ == framing::chunked) {
            staged_.append("\r\n");
        }
        moved();
        return fits;
    }
    // The next range of a built answer's body, sent from the file (cut, as write() cuts,
    // to the length its head gave).
    void write_file(file_piece piece) {
        if (!fix_head() || piece.length == 0) {
            return;
        }
        piece.length = counted(piece.length);
        if (piece.length == 0) {
            return;
        }
        if (framing_ == framing::chunked) {
            write_chunk_size(piece.length);
        }
        files_.push_back({staged_.size(), std::move(piece)});
        if (framing_ == framing::chunked) {
            staged_.append("\r\n");
        }
        moved();
    }
    // The built answer is complete.
    void finish() {
        if (!built_ || finished_) {
            return;
        }
        const bool had_body = fix_head();
        if (had_body && framing_ == framing::chunked) {
            staged_.append("0\r\n\r\n");
        }
        // Fewer bytes than its Content-Length: the client would take the next answer's
        // first bytes for the rest of this one's.
        cut_short_ = had_body && framing_ == framing::length && length_left_ != 0;
        finished_ = true;
        moved();
    }
    // The answer comes after on_complete returns (from the loop thread).
    void defer() noexcept { deferred_ = true; }
    // The client sent "Expect: 100-continue" and the handler wants its body (RFC 9110
    // 10.1.1): the worker sends the interim response before reading on.
    void send_continue() noexcept { continue_ = true; }

    [[nodiscard]] bool head_only() const noexcept { return head_only_; }
    [[nodiscard]] bool deferred() const noexcept { return deferred_; }
    [[nodiscard]] bool finished() const noexcept { return finished_; }
    [[nodiscard]] bool answered() const noexcept { return prepared_ != nullptr || built_; }

    // The worker's side.
    [[nodiscard]] body_source source() const noexcept {
        if (prepared_ != nullptr) {
            return body_source::prepared;
        }
        return built_ ? body_source::built : body_source::none;
    }
    [[nodiscard]] const proto::prepared_response* prepared() const noexcept { return prepared_; }
    // A built answer's head, once its fields are fixed (by its first piece or its end).
    [[nodiscard]] bool head_ready() const noexcept { return head_fixed_; }
    [[nodiscard]] const proto::response_head& head() const noexcept { return head_; }
    // A built answer's head while its fields may still be added (before head_ready()).
    [[nodiscard]] proto::response_head& head() noexcept { return head_; }
    // Without a length, a body that only the end of the connection delimits (HTTP/1.0).
    [[nodiscard]] bool ends_with_connection() const noexcept { return framing_ == framing::until_close; }
    // The answer finished short of the length its head gave: only closing the connection
    // after it tells the client (RFC 9112 8: an incomplete message).
    [[nodiscard]] bool cut_short() const noexcept { return cut_short_; }
    // The body pieces given since the last take: the bytes, and file ranges placed in them.
    [[nodiscard]] proto::byte_buffer& staged_bytes() noexcept { return staged_; }
    [[nodiscard]] std::vector<staged_file>& staged_files() noexcept { return files_; }
    // The handler's own per-request state (cleared by begin()).
    void* handler_state = nullptr;

    // Taken by the worker once: true if the handler asked for a 100 Continue since.
    [[nodiscard]] bool take_continue() noexcept { return std::exchange(continue_, false); }

private:
    enum class framing : std::uint8_t { none, length, chunked, until_close };

    // The head is complete once the body begins; false if no body bytes are to be sent.
    bool fix_head() {
        if (!built_ || finished_) {
            return false;
        }
        if (!head_fixed_) {
            head_fixed_ = true;
            const proto::content_rule rule = proto::content_rule_for(head_.status());
            if (rule == proto::content_rule::none) {
                framing_ = framing::none;
            } else if (rule == proto::content_rule::empty) {
                if (!head_.has_length()) {
                    head_.add_content_length(0);
                }
                framing_ = framing::length;
                length_left_ = 0;
            } else if (head_.has_length()) {
                framing_ = framing::length;
                length_left_ = head_.length();
            } else if (chunked_ok_) {
                framing_ = framing::chunked;
                head_.add("Transfer-Encoding", "chunked");
            } else {
                framing_ = framing::until_close;
            }
        }
        return !head_only_ && framing_ != framing::none;
    }
    [[nodiscard]] bool within_length(std::uint64_t n) const noexcept {
        return framing_ != framing::length || n <= length_left_;
    }
    // Of n body bytes, how many the length allows; those are counted against it.
    std::uint64_t counted(std::uint64_t n) noexcept {
        if (framing_ != framing::length) {
            return n;
        }
        n = std::min(n, length_left_);
        length_left_ -= n;
        return n;
    }
    void write_chunk_size(std::uint64_t n) {
        char hex[20];
        char* p = hex + sizeof hex;
        *--p = '\n';
        *--p = '\r';
        do {
            *--p = "0123456789abcdef"[n & 0xF];
            n >>= 4;
        } while (n != 0);
        staged_.append({p, static_cast<std::size_t>(hex + sizeof hex - p)});
    }
    void moved() noexcept {
        if (deferred_ && owner_ != nullptr) {
            owner_->answer_moved();
        }
    }

    const proto::prepared_response* prepared_ = nullptr;
    exchange_owner* owner_ = nullptr;
    proto::response_head head_;
    proto::byte_buffer staged_;
    std::vector<staged_file> files_;
    framing framing_ = framing::none;
    std::uint64_t length_left_ = 0;   // of a body framed by its Content-Length
    bool head_only_ = false;
    bool chunked_ok_ = true;
    bool continue_ = false;
    bool deferred_ = false;
    bool finished_ = false;
    bool built_ = false;
    bool head_fixed_ = false;
    bool cut_short_ = false;
};

}  // namespace pfd::handlers
