#include "proto/request.hpp"

namespace pfd::proto {

std::string_view request_head::find_header(std::string_view name) const noexcept {
    for (std::size_t i = 0; i < header_count; ++i) {
        if (iequals(headers[i].name, name)) {
            return headers[i].value;
        }
    }
    return {};
}

}  // namespace pfd::proto
