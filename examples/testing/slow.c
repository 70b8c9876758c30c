/* For the tests: a module that keeps every request and never answers it (so
 * handler_timeout answers 504 and calls on_abort), except GET .../aborts, which answers
 * how many requests this worker's module saw aborted. */
#include <preforkd/module.h>

#include <stdio.h>
#include <string.h>

static const pfd_host* host;
static unsigned long aborts;

static int slow_init(pfd_worker* w, const pfd_host* h, void** state) {
    (void)w;
    (void)state;
    host = h;
    return 0;
}

static void slow_handle(void* state, pfd_request* r) {
    (void)state;
    const pfd_str path = host->path(r);
    if (path.size >= 7 && memcmp(path.data + path.size - 7, "/aborts", 7) == 0) {
        char body[32];
        const int n = snprintf(body, sizeof body, "%lu", aborts);
        host->respond(r, 200, "text/plain", body, (size_t)n);
        return;
    }
    host->keep(r);
}

static void slow_abort(void* state, pfd_request* r) {
    (void)state;
    (void)r;
    ++aborts;
}

const pfd_module preforkd_module = {
    .abi_version = PFD_MODULE_ABI_VERSION,
    .struct_size = sizeof(pfd_module),
    .name = "slow",
    .init = slow_init,
    .handle = slow_handle,
    .on_abort = slow_abort,
};
