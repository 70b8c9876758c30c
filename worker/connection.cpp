#include "worker/connection.hpp"

namespace pfd::worker {

namespace {
constexpr std::string_view continue_100 = "HTTP/1.1 100 Continue\r\n\r\n";
}

proto::parse_status session::feed(std::span<const char> bytes) noexcept {
    if (failed_) {
        return proto::parse_status::error;   // answered with an error already (a timeout)
    }
    const proto::parse_status st = parser_.feed(bytes);
    switch (st) {
        case proto::parse_status::need_more:
        case proto::parse_status::closed:
            break;
        case proto::parse_status::error:
            if (!failed_) {
                fail(parser_.error_status());
            }
            break;
    }
    return st;
}

void session::fail(int status) noexcept {
    ctx_->router->error(status).write(out_, ctx_->date->view(), proto::connection_header::close, true);
    close_after_ = true;
    failed_ = true;
}

void session::reset() noexcept {
    parser_.reset();
    out_.clear();
    sending_.clear();
    requests_ = nullptr;
    answer_ = nullptr;
    close_after_ = false;
    failed_ = false;
}

void session::on_request_head(const proto::request_head& head) noexcept {
    using proto::connection_header;
    using proto::method;
    const auto& router = *ctx_->router;
    answer_body_ = head.method != method::head;
    switch (head.method) {
        case method::get:
        case method::head:
            answer_ = &router.find(head.path);
            break;
        case method::options:
            answer_ = head.form == proto::target_form::asterisk ? &router.options() : &router.options_for(head.path);
            break;
        case method::post:
        case method::put:
        case method::del:
        case method::connect:
        case method::other:
            answer_ = &router.error(405);
            break;
    }
    if (head.expect_continue) {
        // RFC 9110 10.1.1: the client waits for this before sending the body.
        out_.append(continue_100);
    }
    const std::uint32_t served = requests_ != nullptr ? *requests_ + 1 : 1;
    const std::uint32_t limit = ctx_->max_requests_per_connection;
    if (!head.keep_alive || ctx_->draining || (limit != 0 && served >= limit)) {
        answer_conn_ = connection_header::close;
        // Nothing the client pipelined after this request is read as a request: the
        // unread input makes the close a lingering one, so this answer is not lost to
        // a reset.
        parser_.finish_after_this_request();
    } else if (head.version_minor == 0) {
        answer_conn_ = connection_header::keep_alive;
    } else {
        answer_conn_ = connection_header::none;
    }
}

void session::on_request_complete() noexcept {
    answer_->write(out_, ctx_->date->view(), answer_conn_, answer_body_);
    if (requests_ != nullptr) {
        ++*requests_;
    }
    worker_stats::add(ctx_->stats->requests, std::uint64_t{1});
    if (answer_conn_ == proto::connection_header::close) {
        close_after_ = true;
    }
}

}  // namespace pfd::worker
