#pragma once
// What request_parser's two source files share about llhttp; included by them only,
// never by a public header, so that llhttp.h stays inside proto/.
#include <cstddef>
#include <new>
#include <string_view>

#include <llhttp.h>

namespace pfd::proto::detail {

// The parser's in-place storage for its llhttp_t (constructed there by its constructor).
inline llhttp_t& as_llhttp(std::byte* storage) noexcept {
    return *std::launder(static_cast<llhttp_t*>(static_cast<void*>(storage)));
}

inline const char* end_of(std::string_view v) noexcept { return v.data() + v.size(); }

}  // namespace pfd::proto::detail
