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

std::string_view request_head::combined_field(std::string_view name, std::string& joined) const {
    std::string_view first;
    bool found = false;
    bool several = false;
    for (std::size_t i = 0; i < header_count; ++i) {
        if (!iequals(headers[i].name, name)) {
            continue;
        }
        if (!found) {
            first = headers[i].value;
            found = true;
            continue;
        }
        if (!several) {
            joined.assign(first);
            several = true;
        }
        joined.append(", ").append(headers[i].value);
    }
    return several ? std::string_view{joined} : first;
}

}  // namespace pfd::proto
