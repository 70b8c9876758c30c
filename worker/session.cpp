#include "worker/session.hpp"

#include "base/clock.hpp"
#include "proto/persistence.hpp"

namespace pfd::worker {

namespace {
constexpr std::string_view continue_100 = "HTTP/1.1 100 Continue\r\n\r\n";
}

void session::feed(std::span<const char> bytes) noexcept {
    if (failed_) {
        return;   // answered with an error already (a timeout)
    }
    start_turn();
    if (!backlog_.empty()) {
        backlog_.append({bytes.data(), bytes.size()});   // parsed after what came before it
        backlog_.consume(parse_some(backlog_.readable()));
    } else if (const std::size_t used = parse_some(bytes); used < bytes.size()) {
        backlog_.append({bytes.data() + used, bytes.size() - used});
    }
    time_unfinished_request();
}

void session::resume() noexcept {
    if (failed_) {
        backlog_.clear();
        return;
    }
    start_turn();
    if (!backlog_.empty()) {
        backlog_.consume(parse_some(backlog_.readable()));
    }
    time_unfinished_request();
}

void session::start_turn() noexcept {
    turn_answers_ = 0;
    if (turn_held_ && !output_full()) {
        turn_held_ = false;
        parser_.release_hold();
    }
}

// A read of 8 KiB of tiny pipelined GETs completes some 300 requests; with a large route
// body, one read could queue hundreds of megabytes. So once a request's answer takes the
// output to the limit, or ends the turn's answers, the parser holds after it
// (on_request_complete) and gives back the rest, kept unparsed: the limit is passed by
// one answer at most.
std::size_t session::parse_some(std::span<const char> bytes) noexcept {
    if (parser_.holding() || output_full()) {
        return 0;
    }
    const proto::parse_status st = parser_.feed(bytes);
    switch (st) {
        case proto::parse_status::need_more:
            break;
        case proto::parse_status::held:
            return bytes.size() - parser_.held_back();
        case proto::parse_status::error:
            if (!failed_) {
                fail(parser_.error_status());
            }
            break;
        case proto::parse_status::closed:
            break;   // the rest is no request of ours; the parser noted it (the close lingers)
    }
    return bytes.size();
}

void session::record_answer(int status) noexcept {
    const std::uint64_t duration = request_duration_us();
    ctx_->stats->record_answer(status, duration);
    if (ctx_->access != nullptr) [[unlikely]] {
        log_access(status, duration);
    }
}

void session::note_head_for_log(const proto::request_head& head) noexcept {
    answer_bytes_ = 0;
    try {
        log_request_.assign(head.method_name);
        log_request_.push_back(' ');
        log_request_.append(head.target);
        log_request_.append(" HTTP/");
        log_request_.push_back(static_cast<char>('0' + head.version_major % 10));
        log_request_.push_back('.');
        log_request_.push_back(static_cast<char>('0' + head.version_minor % 10));
        log_referer_.assign(head.find_header("referer"));
        log_agent_.assign(head.find_header("user-agent"));
    } catch (...) {
        log_request_.clear();
        log_referer_.clear();
        log_agent_.clear();
    }
}

void session::log_access(int status, std::uint64_t duration_us) noexcept {
    access_log& log = *ctx_->access;
    log.record(access_entry{.remote_addr = log.peer(slot_),
                            .request = log_request_,
                            .referer = log_referer_,
                            .user_agent = log_agent_,
                            .status = status,
                            .bytes_sent = answer_bytes_,
                            .duration_us = duration_us,
                            .slot = 0},
               unix_seconds_coarse());
    answer_bytes_ = 0;
    // A request that fails before its head (a 400 in the request line) logs none of these.
    log_request_.clear();
    log_referer_.clear();
    log_agent_.clear();
}

void session::fail(int status) noexcept {
    // RFC 9110 9.3.2: no content in an answer to HEAD, an error's included.
    const bool head_only = handler_ != nullptr ? exchange_.head_only() : parser_.request_is_head();
    abort_request();
    phase_ = phase::reading;
    write_counted([&] {
        ctx_->routes->errors().get(status).write(out_, ctx_->date->view(), proto::connection_header::close,
                                                 !head_only);
    });
    record_answer(status);
    close_after_ = true;
    failed_ = true;
}

bool session::answer_timed_out() noexcept {
    if (phase_ != phase::awaiting) {
        return true;
    }
    if (head_written_) {
        abort_request();   // part of the answer is out: only closing tells the client
        record_answer(answer_status_);
        phase_ = phase::reading;
        close_after_ = failed_ = true;
        return false;
    }
    fail(504);
    return true;
}

void session::abort_request() noexcept {
    if (handlers::handler* h = std::exchange(handler_, nullptr)) {
        h->on_abort(exchange_);
    }
    exchange_.end();
}

void session::reset(std::size_t keep_capacity) noexcept {
    if (handler_ != nullptr) {
        // Its head arrived, its answer never finished: the client went away (or the
        // worker stops). Counted and logged once, as nginx does, with 499 unless part
        // of the answer had gone out under its own status.
        record_answer(head_written_ ? answer_status_ : 499);
    }
    abort_request();
    parser_.reset();
    for (proto::byte_buffer* b : {&out_, &sending_, &backlog_}) {
        b->clear();
        if (b->capacity() > keep_capacity) {
            b->release();
        }
    }
    out_files_.clear();
    sending_files_.clear();
    file_bytes_ = 0;
    transfer_.reset();
    requests_ = nullptr;
    phase_ = phase::reading;
    close_after_ = failed_ = head_written_ = dropped_input_ = turn_held_ = false;
    turn_answers_ = 0;
    if (ctx_->access != nullptr) [[unlikely]] {
        answer_bytes_ = 0;
        log_request_.clear();   // a request cut short by a close: not the next one's
        log_referer_.clear();
        log_agent_.clear();
    }
}

void session::on_request_head(const proto::request_head& head) noexcept {
    start_request_clock();
    answer_status_ = 0;
    if (ctx_->access != nullptr) [[unlikely]] {
        note_head_for_log(head);
    }
    handler_ = &ctx_->routes->find(head);
    head_written_ = false;
    exchange_.begin(head.method == proto::method::head, head.version_minor >= 1 || head.version_major > 1, this);
    handler_->on_head(exchange_, head);
    if (exchange_.take_continue() && !parser_.content_came_with_head()) {
        // RFC 9110 10.1.1: the client waits for this before sending the body (unless it
        // has sent it already).
        out_.append(continue_100);
    }
    const std::uint32_t served = requests_ != nullptr ? *requests_ + 1 : 1;
    const std::uint32_t limit = ctx_->max_requests_per_connection;
    const bool server_draining = ctx_->server != nullptr &&
                                 ctx_->server->readiness.load(std::memory_order_relaxed) == server_readiness::draining;
    answer_conn_ =
        proto::answer_connection(head, ctx_->draining || server_draining || (limit != 0 && served >= limit));
    if (answer_conn_ == proto::connection_header::close) {
        // Nothing the client pipelined after this request is read as a request: the
        // unread input makes the close a lingering one, so this answer is not lost to
        // a reset.
        parser_.finish_after_this_request();
    }
}

void session::on_request_body(std::span<const char> bytes) noexcept {
    if (handler_ != nullptr) {
        handler_->on_body(exchange_, bytes);
    }
}

void session::on_request_complete() noexcept {
    if (handler_ != nullptr) {
        handler_->on_complete(exchange_);
    }
    if (!exchange_.finished() && exchange_.deferred() && handler_ != nullptr) {
        // The answer comes later: send what there is of it, and parse nothing behind it.
        phase_ = phase::awaiting;
        parser_.hold_after_this_request();
        take_built();
        return;
    }
    write_answer();
    finish_request();
    ++turn_answers_;
    if (!close_after_ && (output_full() || turn_answers_ >= ctx_->answers_per_turn)) {
        // Enough for this turn, or enough is owed: what follows waits, unparsed, for the
        // connection's next turn (once these answers are sent, or the client reads).
        turn_held_ = true;
        parser_.hold_after_this_request();
    }
}

void session::finish_request() noexcept {
    handler_ = nullptr;
    exchange_.end();
    if (requests_ != nullptr) {
        ++*requests_;
    }
    record_answer(answer_status_);
    start_request_clock();   // where a request that fails before its head starts
    if (answer_conn_ == proto::connection_header::close) {
        close_after_ = true;
    }
    if (phase_ == phase::awaiting) {
        phase_ = phase::reading;
        if (close_after_) {
            // The parser held what came after this request: none of it is a request of ours.
            dropped_input_ = !backlog_.empty() || parser_.held_back() != 0;
            backlog_.clear();
        } else {
            parser_.release_hold();
            resume();
        }
    }
}

// Called from the handler (on the loop thread) as a deferred answer moves on.
void session::answer_moved() noexcept {
    if (phase_ != phase::awaiting) {
        return;   // still inside the handler's own callbacks: taken at the request's end
    }
    take_built();
    if (exchange_.finished()) {
        finish_request();
    }
    if (ctx_->waker != nullptr) {
        ctx_->waker->output_ready(slot_);
    }
}

void session::write_answer() noexcept {
    switch (exchange_.source()) {
        case handlers::body_source::prepared:
            answer_status_ = exchange_.prepared()->status();
            write_counted([&] {
                exchange_.prepared()->write(out_, ctx_->date->view(), answer_conn_, !exchange_.head_only());
            });
            return;
        case handlers::body_source::built:
            if (exchange_.finished()) {
                take_built();
                return;
            }
            break;
        case handlers::body_source::none:
            break;
    }
    unanswered();
}

// A handler that did not answer by the end of the request is a bug; the client still
// gets a complete answer, and the connection closes after it.
void session::unanswered() noexcept {
    answer_conn_ = proto::connection_header::close;
    parser_.finish_after_this_request();
    answer_status_ = 500;
    write_counted([&] {
        ctx_->routes->errors().get(500).write(out_, ctx_->date->view(), answer_conn_, !exchange_.head_only());
    });
}

void session::take_built() noexcept {
    if (exchange_.source() == handlers::body_source::prepared) {
        if (!head_written_) {
            head_written_ = true;
            answer_status_ = exchange_.prepared()->status();
            write_counted([&] {
                exchange_.prepared()->write(out_, ctx_->date->view(), answer_conn_, !exchange_.head_only());
            });
        }
        return;
    }
    if (!exchange_.head_ready()) {
        return;
    }
    if (!head_written_) {
        head_written_ = true;
        answer_status_ = exchange_.head().status();
        if (exchange_.ends_with_connection()) {
            answer_conn_ = proto::connection_header::close;   // the close ends the body
            parser_.finish_after_this_request();               // nothing may follow it
        }
        write_counted([&] { exchange_.head().write(out_, ctx_->date->view(), answer_conn_); });
    }
    proto::byte_buffer& staged = exchange_.staged_bytes();
    for (file_mark& f : exchange_.staged_files()) {
        file_bytes_ += static_cast<std::size_t>(f.piece.length);
        answer_bytes_ += static_cast<std::uint64_t>(f.piece.length);   // cheaper than a branch
        out_files_.push_back({out_.size() + f.at, std::move(f.piece)});
    }
    exchange_.staged_files().clear();
    answer_bytes_ += staged.size();
    out_.append(staged.view());
    staged.clear();
    if (exchange_.cut_short()) {
        // Its head is out, saying nothing of a close: the close itself ends the answer,
        // and nothing the client pipelined after it is read as a request.
        answer_conn_ = proto::connection_header::close;
        parser_.finish_after_this_request();
    }
}

void session::start_sending() noexcept {
    std::swap(out_, sending_);
    if (!out_files_.empty() || !sending_files_.empty()) {   // most answers have no file range
        std::swap(out_files_, sending_files_);
    }
}

void session::file_sent() noexcept {
    file_bytes_ -= static_cast<std::size_t>(sending_files_.front().piece.length);
    sending_files_.erase(sending_files_.begin());
    transfer_.begin();
}

void session::sent(std::size_t n) noexcept {
    sending_.consume(n);
    for (file_mark& f : sending_files_) {
        f.at -= n;
    }
}

}  // namespace pfd::worker
