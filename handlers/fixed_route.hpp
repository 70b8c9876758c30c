#pragma once
// A resource whose answer the configuration fixes (`body`, `content_type`). Its strong
// ETag is a hash of the two, the same in every worker and across reloads that keep them;
// it has no Last-Modified. So of the preconditions (RFC 9110 13.2.2) only If-Match and
// If-None-Match apply: a matching If-None-Match (or "*") gets 304, an If-Match that does
// not match 412, and the date fields are ignored (13.1.3).
#include <string>
#include <string_view>

#include "handlers/error_pages.hpp"
#include "handlers/handler.hpp"
#include "handlers/fixed_answers.hpp"

namespace pfd::handlers {

class fixed_route final : public handler {
public:
    fixed_route(std::string_view content_type, std::string body, const proto::prepared_response& options,
                const error_pages& errors);

    void on_head(exchange& ex, const proto::request_head& head) noexcept override;
    // Answered at the head: the body, if any, is discarded as it passes.

private:
    [[nodiscard]] std::string_view etag() const noexcept;   // "\"...\"", within etag_line_
    // OPTIONS, 405, and requests with preconditions. Out of line, and out of the common
    // request's way (its registers and stack too).
    [[gnu::cold, gnu::noinline]] void answer_otherwise(exchange& ex, const proto::request_head& head) noexcept;

    std::string etag_line_;   // "ETag: \"...\"\r\n"
    proto::prepared_response content_;
    proto::prepared_response not_modified_;
    fixed_answers answers_;
};

// The answer to a path no route has: 404, whatever the method (RFC 9110 15.5.6: a 405
// is for a resource that exists, and module routes take methods besides GET); CONNECT,
// whose target is no path, gets 405.
class not_found final : public handler {
public:
    explicit not_found(const error_pages& errors) noexcept : errors_{&errors} {}
    void on_head(exchange& ex, const proto::request_head& head) noexcept override;

private:
    const error_pages* errors_;
};

// "OPTIONS *": what the server as a whole allows.
class server_options final : public handler {
public:
    explicit server_options(const proto::prepared_response& options) noexcept : options_{&options} {}
    void on_head(exchange& ex, const proto::request_head& head) noexcept override;

private:
    const proto::prepared_response* options_;
};

}  // namespace pfd::handlers
