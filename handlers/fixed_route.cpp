#include "handlers/fixed_route.hpp"

#include <cinttypes>
#include <cstdio>

#include "handlers/method_policy.hpp"

namespace pfd::handlers {

namespace {

// FNV-1a over the content type and the body: what the representation is made of.
std::string etag_line_for(std::string_view content_type, std::string_view body) {
    std::uint64_t h = 0xcbf29ce484222325ULL;
    auto mix = [&h](std::string_view bytes) {
        for (const char c : bytes) {
            h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ULL;
        }
    };
    mix(content_type);
    mix(std::string_view{"\0", 1});
    mix(body);
    char text[48];
    const int n = std::snprintf(text, sizeof text, "ETag: \"%016" PRIx64 "\"\r\n", h);
    return {text, static_cast<std::size_t>(n)};
}

}  // namespace

fixed_route::fixed_route(std::string_view content_type, std::string body, const proto::prepared_response& options,
                         const error_pages& errors)
    : etag_line_{etag_line_for(content_type, body)},
      content_{200, content_type, std::move(body), etag_line_},
      not_modified_{304, {}, {}, etag_line_},
      answers_{&errors, &options, &not_modified_, etag()} {}

std::string_view fixed_route::etag() const noexcept {
    constexpr std::string_view name = "ETag: ";
    return std::string_view{etag_line_}.substr(name.size(), etag_line_.size() - name.size() - 2);
}

void fixed_route::on_head(exchange& ex, const proto::request_head& head) noexcept {
    if (answer_for(head.method) == get_like_answer::content && !may_name_a_precondition(head)) [[likely]] {
        ex.respond(content_);
    } else {
        answer_otherwise(ex, head);
    }
    accept_body(ex, head);
}

void fixed_route::answer_otherwise(exchange& ex, const proto::request_head& head) noexcept {
    const proto::prepared_response* other = answers_.instead_of_content(head);
    ex.respond(other != nullptr ? *other : content_);
}

void not_found::on_head(exchange& ex, const proto::request_head& head) noexcept {
    // CONNECT's authority-form names no path: no resource here takes it (405, with Allow).
    ex.respond(errors_->get(head.method == proto::method::connect ? 405 : 404));
    accept_body(ex, head);
}

void server_options::on_head(exchange& ex, const proto::request_head& head) noexcept {
    ex.respond(*options_);
    accept_body(ex, head);
}

}  // namespace pfd::handlers
