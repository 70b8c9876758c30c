#pragma once
// The answers of a resource with a single 200 and no Last-Modified (a fixed route, livez,
// readyz, metrics) other than that 200: OPTIONS's, the 405, and its preconditions' 304
// and 412.
#include <string_view>

#include "handlers/error_pages.hpp"
#include "handlers/method_policy.hpp"
#include "proto/request.hpp"

namespace pfd::handlers {

// Whether a field may be If-Match or If-None-Match, by length and first letter only: a
// fixed route runs this for every request, and the common one has neither.
[[nodiscard]] bool may_name_a_precondition(const proto::request_head& head) noexcept;

struct fixed_answers {
    const error_pages* errors;
    const proto::prepared_response* options;        // 200 with Allow
    const proto::prepared_response* not_modified;   // 304 with the 200's ETag and Cache-Control
    std::string_view etag;                          // the 200's strong ETag; "" for none

    // What answers this request instead of the 200; null: the 200. OPTIONS gets Allow,
    // other methods than GET and HEAD 405, neither evaluating preconditions (RFC 9110
    // 13.2.1: OPTIONS selects no representation, a 405 is not 2xx). For GET and HEAD,
    // If-Match and If-None-Match are evaluated against `etag` (13.1.1, 13.1.2: without
    // one, only "*" matches): 412 or 304; the dates are ignored (13.1.3, 13.1.4).
    [[nodiscard]] const proto::prepared_response* instead_of_content(const proto::request_head& head) const noexcept;
};

}  // namespace pfd::handlers
