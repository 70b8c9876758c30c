/* For the tests of reloading rebuilt code: built twice, as libversion1.so and
 * libversion2.so, answering "version N" (N from VERSION at build time, so only new code
 * can change the answer). The setting init = "fail" makes init fail (the route then
 * answers 500); the setting greeting is answered on .../greeting. */
#include <preforkd/module.h>

#include <stdio.h>
#include <string.h>

static const pfd_host* host;
static pfd_worker* self;

static int version_init(pfd_worker* w, const pfd_host* h, void** state) {
    (void)state;
    host = h;
    self = w;
    const pfd_str init = h->setting(w, "init", 4);
    return init.size == 4 && memcmp(init.data, "fail", 4) == 0 ? 7 : 0;
}

static void version_handle(void* state, pfd_request* r) {
    (void)state;
    const pfd_str path = host->path(r);
    if (path.size >= 9 && memcmp(path.data + path.size - 9, "/greeting", 9) == 0) {
        const pfd_str g = host->setting(self, "greeting", 8);
        host->respond(r, 200, "text/plain", g.data, g.size);
        return;
    }
    char body[32];
    const int n = snprintf(body, sizeof body, "version %d", VERSION);
    host->respond(r, 200, "text/plain", body, (size_t)n);
}

const pfd_module preforkd_module = {
    .abi_version = PFD_MODULE_ABI_VERSION,
    .struct_size = sizeof(pfd_module),
    .name = "version",
    .init = version_init,
    .handle = version_handle,
};
