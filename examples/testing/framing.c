/* For the tests: a module that answers with what a careless module might send, chosen by
 * the query, and puts what the host returned in X-Results (where a head is still open)
 * or in the body:
 *   short    set_length(10), then 3 bytes, then finish
 *   long     set_length(2), then 6 bytes (one write), then finish
 *   inject   respond() with a content type that carries a CRLF
 *   nocontent respond(204) with a body
 *   reset    start(205), set_length(3), then 3 bytes: a 205 has no content (RFC 9110 15.3.6)
 *   fields   add_header() of names and values a recipient would refuse, and of fields the
 *            host keeps; the results in the body
 *   server   add_header("Server", ...)
 *   last     what the last "long" write returned */
#include <preforkd/module.h>

#include <stdio.h>
#include <string.h>

static const pfd_host* host;
static int last_long_write = 1;   /* none yet */

static int framing_init(pfd_worker* w, const pfd_host* h, void** state) {
    (void)w;
    (void)state;
    host = h;
    return 0;
}

static int is(pfd_str s, const char* word) {
    return s.size == strlen(word) && memcmp(s.data, word, s.size) == 0;
}

static void framing_handle(void* state, pfd_request* r) {
    (void)state;
    const pfd_str q = host->query(r);
    char results[64];
    if (is(q, "short")) {
        host->start(r, 200);
        const int rc = host->set_length(r, 10);
        snprintf(results, sizeof results, "%d", rc);
        host->add_header(r, "X-Results", 9, results, strlen(results));
        host->write(r, "abc", 3);
        host->finish(r);
    } else if (is(q, "long")) {
        host->start(r, 200);
        const int rc = host->set_length(r, 2);
        snprintf(results, sizeof results, "%d", rc);
        host->add_header(r, "X-Results", 9, results, strlen(results));
        last_long_write = host->write(r, "abcdef", 6);
        host->finish(r);
    } else if (is(q, "last")) {
        snprintf(results, sizeof results, "%d", last_long_write);
        host->respond(r, 200, "text/plain", results, strlen(results));
    } else if (is(q, "inject")) {
        const int rc = host->respond(r, 200, "text/plain\r\nX-Injected: 1", "ok", 2);
        if (rc != PFD_OK) {
            snprintf(results, sizeof results, "inject refused %d", rc);
            host->respond(r, 200, "text/plain", results, strlen(results));
        }
    } else if (is(q, "nocontent")) {
        host->respond(r, 204, "text/plain", "body", 4);
    } else if (is(q, "reset")) {
        host->start(r, 205);
        const int rc = host->set_length(r, 3);
        snprintf(results, sizeof results, "%d", rc);
        host->add_header(r, "X-Results", 9, results, strlen(results));
        last_long_write = host->write(r, "xyz", 3);
        host->finish(r);
    } else if (is(q, "fields")) {
        static const char* const names[] = {"X(a)", "X/a", "X a", "", "Upgrade", "keep-alive", "Trailer",
                                            "X-Ctl", "X-Del", "X-Tab"};
        static const char* const values[] = {"v", "v", "v", "v", "h2c", "timeout=5", "X", "a\001b", "a\177b",
                                             "a\tb \x80"};
        char body[128] = "";
        host->start(r, 200);
        for (size_t i = 0; i < sizeof names / sizeof names[0]; ++i) {
            const int rc = host->add_header(r, names[i], strlen(names[i]), values[i], strlen(values[i]));
            snprintf(body + strlen(body), sizeof body - strlen(body), "%s%d", i == 0 ? "" : " ", rc);
        }
        host->set_length(r, strlen(body));
        host->write(r, body, strlen(body));
        host->finish(r);
    } else if (is(q, "server")) {
        host->start(r, 200);
        const int rc = host->add_header(r, "Server", 6, "other", 5);
        snprintf(results, sizeof results, "server %d", rc);
        host->set_length(r, strlen(results));
        host->write(r, results, strlen(results));
        host->finish(r);
    } else {
        host->respond(r, 404, "text/plain", "no such mode\n", 13);
    }
}

const pfd_module preforkd_module = {
    .abi_version = PFD_MODULE_ABI_VERSION,
    .struct_size = sizeof(pfd_module),
    .name = "framing",
    .init = framing_init,
    .handle = framing_handle,
};
