/* For the tests: a descriptor without its one required callback. */
#include <preforkd/module.h>

const pfd_module preforkd_module = {
    .abi_version = PFD_MODULE_ABI_VERSION,
    .struct_size = sizeof(pfd_module),
    .name = "nohandle",
};
