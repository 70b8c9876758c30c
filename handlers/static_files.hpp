#pragma once
// A file route: the files below a root directory, as nginx's `root` + `try_files $uri
// $uri/index.html` serves them, with conditional requests, ranges and precompressed
// siblings. Nothing here blocks the loop thread: a file not in the cache (or due for a
// recheck) is looked up on a helper thread, and the answer comes when it is back.
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>

#include "base/log.hpp"
#include "base/unique_fd.hpp"
#include "handlers/error_pages.hpp"
#include "handlers/file_cache.hpp"
#include "handlers/handler.hpp"
#include "handlers/mime_types.hpp"
#include "handlers/offload.hpp"
#include "handlers/route_spec.hpp"
#include "proto/byte_buffer.hpp"
#include "proto/http_date.hpp"

namespace pfd::handlers {

class static_files final : public handler {
public:
    // `date`: the Date answers carry (null: the clock's second, in tests).
    static_files(const route_spec& spec, const mime_types& mime, offload* helpers, const error_pages& errors,
                 const proto::prepared_response& options, const proto::date_cache* date);

    void on_head(exchange& ex, const proto::request_head& head) noexcept override;
    void on_abort(exchange& ex) noexcept override;

    [[nodiscard]] const std::string& prefix() const noexcept { return prefix_; }

private:
    // What the answer depends on, as the request gave it (views: valid while answering).
    struct request_view {
        bool head_only = false;
        proto::method method = proto::method::get;
        std::string_view path;    // raw, for a redirect
        std::string_view query;   // with its '?', or ""
        std::string_view if_match, if_none_match, if_modified_since, if_unmodified_since;
        std::string_view if_range, range, accept_encoding;
    };
    struct pending;   // a lookup on a helper thread

    void answer(exchange& ex, const request_view& req, const file_entry& e);
    void answer_status(exchange& ex, const request_view& req, int status);
    void write_body(exchange& ex, const file_variant& v, std::uint64_t offset, std::uint64_t length);
    void look_up_later(exchange& ex, const request_view& req, std::string key, std::string relative, bool slash);
    void on_looked_up(const std::shared_ptr<pending>& p);

    std::string prefix_;
    file_route_settings settings_;
    const mime_types* mime_;
    offload* helpers_;
    const error_pages* errors_;
    const proto::prepared_response* options_;
    const proto::date_cache* date_;
    // The 412 of a file with precompressed siblings: it depends on Accept-Encoding too.
    proto::prepared_response precondition_failed_vary_{error_pages::with_fields(412, "Vary: Accept-Encoding\r\n")};
    unique_fd root_;
    file_cache cache_;
    std::unordered_map<const exchange*, std::shared_ptr<pending>> pending_;
    proto::byte_buffer scratch_;   // multipart part heads
    log_limiter io_errors_;   // one line per I/O error, not one per request for a broken disk
    std::uint64_t boundary_seed_ = 0;
    std::uint64_t boundaries_ = 0;
};

}  // namespace pfd::handlers
