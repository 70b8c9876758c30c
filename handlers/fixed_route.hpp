#pragma once
// A resource whose answer the configuration fixes (`body`, `content_type`).
#include <string>
#include <string_view>

#include "handlers/error_pages.hpp"
#include "handlers/handler.hpp"

namespace pfd::handlers {

class fixed_route final : public handler {
public:
    fixed_route(std::string_view content_type, std::string body, const proto::prepared_response& options,
                const error_pages& errors);

    void on_head(exchange& ex, const proto::request_head& head) noexcept override;
    // Answered at the head: the body, if any, is discarded as it passes.

private:
    proto::prepared_response content_;
    const proto::prepared_response* options_;
    const error_pages* errors_;
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
