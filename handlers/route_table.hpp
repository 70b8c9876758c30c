#pragma once
// The routes of a worker, built from the configuration: which handler answers a
// request. Routes are matched on the path part of the target (the query is ignored).
#include <memory>
#include <string>
#include <vector>

#include "handlers/error_pages.hpp"
#include "handlers/fixed_route.hpp"
#include "handlers/handler.hpp"
#include "handlers/route_spec.hpp"

namespace pfd::handlers {

class route_table {
public:
    explicit route_table(const std::vector<route_spec>& routes);
    route_table(const route_table&) = delete;
    route_table& operator=(const route_table&) = delete;

    // A route answered by `h` (exact path); routes added later do not shadow earlier ones.
    void add(std::string path, std::unique_ptr<handler> h);

    [[nodiscard]] handler& find(const proto::request_head& head) noexcept;
    [[nodiscard]] const error_pages& errors() const noexcept { return errors_; }

private:
    struct entry {
        std::string path;
        std::unique_ptr<handler> answer;
    };
    error_pages errors_;
    proto::prepared_response options_;
    std::vector<entry> routes_;
    not_found not_found_;
    server_options server_options_;
};

}  // namespace pfd::handlers
