/* For the tests: a descriptor that claims fewer bytes than ABI version 1 has. */
#include <preforkd/module.h>

static void tiny_handle(void* state, pfd_request* r) {
    (void)state;
    (void)r;
}

const pfd_module preforkd_module = {
    .abi_version = PFD_MODULE_ABI_VERSION,
    .struct_size = 8,
    .name = "tiny",
    .handle = tiny_handle,
};
