#include "worker/connection.hpp"

namespace pfd::worker {

proto::parse_status session::feed(std::span<const char> bytes) noexcept {
    const proto::parse_status st = parser_.feed(bytes);
    switch (st) {
        case proto::parse_status::need_more:
        case proto::parse_status::closed:
            break;
        case proto::parse_status::error:
            write(ctx_->router->error(parser_.error_status()), proto::connection_header::close, true);
            close_after_ = true;
            break;
    }
    return st;
}

void session::reset() noexcept {
    parser_.reset();
    out_.clear();
    sending_.clear();
    answer_ = nullptr;
    close_after_ = false;
}

void session::on_request_head(const proto::request_head& head) noexcept {
    using proto::connection_header;
    using proto::method;
    const auto& router = *ctx_->router;
    answer_body_ = head.method != method::head;
    if (head.method == method::get || head.method == method::head) {
        answer_ = &router.find(head.path());
    } else {
        answer_ = &router.error(405);
    }
    if (!head.keep_alive || ctx_->draining) {
        answer_conn_ = connection_header::close;
    } else if (head.version_minor == 0) {
        answer_conn_ = connection_header::keep_alive;
    } else {
        answer_conn_ = connection_header::none;
    }
}

void session::on_request_complete() noexcept {
    write(*answer_, answer_conn_, answer_body_);
    if (answer_conn_ == proto::connection_header::close) {
        close_after_ = true;
    }
}

void session::write(const proto::prepared_response& r, proto::connection_header conn, bool with_body) noexcept {
    r.write(out_, ctx_->date->view(), conn, with_body);
}

}  // namespace pfd::worker
