/* For the tests: a module that brings its worker down. GET .../segv writes through a null
 * pointer, .../abort calls abort(), .../spin never returns (hang detection's case);
 * anything else answers "alive". */
#include <preforkd/module.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>

static const pfd_host* host;

static int crash_init(pfd_worker* w, const pfd_host* h, void** state) {
    (void)w;
    (void)state;
    host = h;
    return 0;
}

static int ends_with(pfd_str s, const char* tail) {
    const size_t n = strlen(tail);
    return s.size >= n && memcmp(s.data + s.size - n, tail, n) == 0;
}

static void crash_handle(void* state, pfd_request* r) {
    (void)state;
    const pfd_str path = host->path(r);
    if (ends_with(path, "/segv")) {
        /* A real fault, not raise(): what a module's bug does. */
        volatile int* volatile nowhere = NULL;
        *nowhere = 1;
    }
    if (ends_with(path, "/abort")) {
        abort();
    }
    if (ends_with(path, "/spin")) {
        for (volatile unsigned long i = 0;; i = i + 1) {
        }
    }
    host->respond(r, 200, "text/plain", "alive", 5);
}

const pfd_module preforkd_module = {
    .abi_version = PFD_MODULE_ABI_VERSION,
    .struct_size = sizeof(pfd_module),
    .name = "crash",
    .init = crash_init,
    .handle = crash_handle,
};
