#pragma once
// Errors as values: the errno of the failed call and the call's name.
#include <tl/expected.hpp>

namespace pfd {

struct error {
    int code = 0;              // errno value (positive)
    const char* call = "";     // the call that failed, e.g. "bind"
};

template <class T>
using result = tl::expected<T, error>;

inline tl::unexpected<error> fail(int code, const char* call) noexcept {
    return tl::unexpected(error{code, call});
}

}  // namespace pfd
