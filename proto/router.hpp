#pragma once
// Maps a request path to its prepared response; also owns the error responses.
#include <string>
#include <string_view>
#include <vector>

#include "proto/response.hpp"

namespace pfd::proto {

struct route_spec {
    std::string path;          // exact match on the path part of the target
    std::string body;
    std::string content_type = "text/plain";
};

class router {
public:
    explicit router(const std::vector<route_spec>& routes);

    // The route's response, or 404.
    [[nodiscard]] const prepared_response& find(std::string_view path) const noexcept;
    // A short text/plain response for an error status (400, 404, 413, 414, 431, 505...).
    [[nodiscard]] const prepared_response& error(int status) const noexcept;
    // OPTIONS: the methods every route allows ("OPTIONS *" and any existing path), else 404.
    [[nodiscard]] const prepared_response& options() const noexcept { return options_; }
    [[nodiscard]] const prepared_response& options_for(std::string_view path) const noexcept;

private:
    struct entry {
        std::string path;
        prepared_response response;
    };
    std::vector<entry> routes_;
    std::vector<prepared_response> errors_;
    prepared_response options_;
};

}  // namespace pfd::proto
