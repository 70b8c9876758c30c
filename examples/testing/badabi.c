/* For the tests: a descriptor from a future (or past) ABI. */
#include <preforkd/module.h>

static void badabi_handle(void* state, pfd_request* r) {
    (void)state;
    (void)r;
}

const pfd_module preforkd_module = {
    .abi_version = PFD_MODULE_ABI_VERSION + 98,
    .struct_size = sizeof(pfd_module),
    .name = "badabi",
    .handle = badabi_handle,
};
