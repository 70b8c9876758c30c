/* The smallest module: every request gets "hello word". */
#include <preforkd/module.h>

static const pfd_host* host;

static int hello_init(pfd_worker* w, const pfd_host* h, void** state) {
    (void)w;
    (void)state;
    host = h;
    return 0;
}

static void hello_handle(void* state, pfd_request* r) {
    (void)state;
    static const char body[] = "hello word";
    host->respond(r, 200, "text/plain", body, sizeof body - 1);
}

const pfd_module preforkd_module = {
    .abi_version = PFD_MODULE_ABI_VERSION,
    .struct_size = sizeof(pfd_module),
    .name = "hello",
    .init = hello_init,
    .handle = hello_handle,
};
