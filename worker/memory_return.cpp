#include "worker/memory_return.hpp"

// mimalloc is linked into the executable, not into this library (the unit tests link the
// worker without it): its functions are weak references, null where it is absent.
#include <mimalloc.h>
#pragma weak mi_collect
#pragma weak mi_option_get
#pragma weak mi_option_set

namespace pfd::worker {

decommit_scope::decommit_scope(bool active, bool collect) noexcept : collect_{collect} {
    if (active && mi_option_get != nullptr && mi_option_set != nullptr) {
        delay_ = mi_option_get(mi_option_decommit_delay);
        mi_option_set(mi_option_decommit_delay, 0);
    }
}

decommit_scope::~decommit_scope() {
    if (delay_ < 0) {
        return;
    }
    if (collect_ && mi_collect != nullptr) {
        mi_collect(false);
    }
    mi_option_set(mi_option_decommit_delay, delay_);
}

}  // namespace pfd::worker
