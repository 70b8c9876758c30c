/* preforkd modules: request handlers in a shared object, run in every worker.
 *
 * A module exports one symbol, `preforkd_module`, a `pfd_module` descriptor. preforkd
 * loads the module at configuration time (`-t`, start, reload) and refuses it, with the
 * reason, if the symbol is missing, its abi_version differs from PFD_MODULE_ABI_VERSION,
 * or its struct_size is smaller than the version's descriptor. Everything the module
 * reads or writes goes through the functions of `pfd_host` (given to init), on opaque
 * handles: no struct layout of the server is part of the ABI, and a module built against
 * an older header (a smaller pfd_host) keeps working.
 *
 * Threads: every callback runs on the worker's loop thread, and every pfd_host function
 * must be called from it, except inside an offloaded `work` function, which runs on one
 * of the worker's helper threads and must call none of them. Work that blocks or takes
 * more than a few microseconds belongs in `offload`.
 *
 * Lifetimes:
 *  - Strings the host returns (pfd_str) are valid until the callback that obtained them
 *    returns. Request data (method, target, headers) can be read only during `handle`:
 *    copy what is needed later (the body comes to `on_body`).
 *  - A request handle is valid from `handle` until the answer is finished (`finish` or
 *    `respond`), or until `on_abort` (the client went away, or handler_timeout passed:
 *    the server has answered 504 if it could); after that, the module must not use it.
 *    Offloaded work of an aborted request still runs, but its `done` is not called.
 *  - `handle` may answer at once, or keep the request (`keep`) and answer later from the
 *    loop thread (typically from an offload's `done`).
 */
#ifndef PREFORKD_MODULE_H
#define PREFORKD_MODULE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define PFD_MODULE_ABI_VERSION 1u

typedef struct pfd_request pfd_request; /* one request and its answer */
typedef struct pfd_worker pfd_worker;   /* the route in this worker: settings, messages */

typedef struct pfd_str {
    const char* data; /* not NUL-terminated; NULL when size is 0 */
    size_t size;
} pfd_str;

/* Results of pfd_host functions. */
enum {
    PFD_OK = 0,
    PFD_EINVAL = -1, /* bad argument, or not allowed now (e.g. a header after the body began) */
    PFD_EGONE = -2,  /* the request is finished or aborted */
    PFD_EFULL = -3,  /* offload queue full / message queue full: try later, or answer 503 */
    PFD_E2BIG = -4,  /* message too large */
};

typedef struct pfd_host {
    uint32_t struct_size; /* sizeof(pfd_host) of the server; functions past it do not exist */

    /* The request (during handle only; empty strings otherwise). */
    pfd_str (*method)(const pfd_request* r);
    pfd_str (*target)(const pfd_request* r); /* as sent: path and query, or for an absolute-form target the whole URI */
    pfd_str (*path)(const pfd_request* r);   /* without the query, still percent-encoded */
    pfd_str (*query)(const pfd_request* r);  /* after '?', without it; empty if none */
    size_t (*header_count)(const pfd_request* r);
    int (*header_at)(const pfd_request* r, size_t i, pfd_str* name, pfd_str* value);
    pfd_str (*header)(const pfd_request* r, const char* name, size_t name_len); /* first, case-insensitive */
    int (*has_body)(const pfd_request* r);

    /* The answer. respond() is a whole answer at once. Otherwise: start(), headers,
     * optionally set_length(), then write() any number of times, then finish(); without a
     * length the body is sent chunked (or, to an HTTP/1.0 client, ended by closing).
     * The host keeps the framing whole whatever a module does: a write past set_length()
     * sends what fits and returns PFD_EINVAL; a finish() short of it closes the connection
     * after the bytes written (the client sees an incomplete answer, never the next one's
     * bytes as this one's); a 204 or 304 gets no Content-Length (set_length: PFD_EINVAL)
     * and no body, a 205 Content-Length: 0 and no body. add_header() refuses a name that
     * is not a token, a value with a control byte other than HTAB (RFC 9110 5.1, 5.5), and
     * the fields the server writes or rules out itself (Content-Length, Transfer-Encoding,
     * Connection, Keep-Alive, Proxy-Connection, Upgrade, Trailer, Date, Server); respond()
     * refuses such a content type. */
    int (*respond)(pfd_request* r, int status, const char* content_type, const char* body, size_t len);
    int (*start)(pfd_request* r, int status);
    int (*add_header)(pfd_request* r, const char* name, size_t name_len, const char* value, size_t value_len);
    int (*set_length)(pfd_request* r, uint64_t length);
    int (*write)(pfd_request* r, const char* data, size_t len);
    int (*finish)(pfd_request* r);
    /* The answer comes after handle (and on_complete) return. */
    int (*keep)(pfd_request* r);
    /* Runs work(arg) on a helper thread, then done(r, arg) on the loop thread. The request
     * is kept (its answer comes later). If the request is aborted meanwhile, done is not
     * called, and work may still be running when on_abort is: give arg two owners (work's
     * end and the loop: the last to let go frees it, as examples/sum does). PFD_EFULL if
     * the worker's queue is full: the server has then answered 503 with Retry-After, and
     * neither work nor done will run. */
    int (*offload)(pfd_request* r, void (*work)(void* arg), void (*done)(pfd_request* r, void* arg), void* arg);

    /* The route in this worker. */
    pfd_str (*setting)(const pfd_worker* w, const char* key, size_t key_len); /* [route.settings] value as text */
    unsigned (*worker_slot)(const pfd_worker* w);
    /* To every worker of the current generation (slot < 0) or one slot, through the
     * master; the sender receives it too. Never blocks: PFD_EFULL when the channel is
     * full, PFD_E2BIG above 64 KiB, PFD_EINVAL without a channel. Delivered to on_message
     * of every module route of every receiving worker, on its loop thread. */
    int (*send_message)(pfd_worker* w, int slot, const char* data, size_t len);

    /* Added after the first release: call only when struct_size is past it
     * (offsetof(pfd_host, authority) < struct_size). The request's authority (during
     * handle only): an absolute-form target's ("GET http://a.example:8080/x"), else the
     * Host field's; empty if neither. RFC 9112 3.2.2: the target's wins over Host. */
    pfd_str (*authority)(const pfd_request* r);
} pfd_host;

typedef struct pfd_module {
    uint32_t abi_version; /* PFD_MODULE_ABI_VERSION */
    uint32_t struct_size; /* sizeof(pfd_module) */
    const char* name;

    /* Once per worker and route. *state is handed to every other callback. Non-zero:
     * the worker logs it and the route answers 500. */
    int (*init)(pfd_worker* w, const pfd_host* host, void** state);
    /* Each request, once its head has arrived. */
    void (*handle)(void* state, pfd_request* r);
    /* Body bytes, de-chunked, as they arrive (optional). */
    void (*on_body)(void* state, pfd_request* r, const char* data, size_t len);
    /* The whole request has arrived (optional). By its end the request is answered or kept. */
    void (*on_complete)(void* state, pfd_request* r);
    /* The request ended before its answer (optional); r is not to be used after this. */
    void (*on_abort)(void* state, pfd_request* r);
    /* A message sent by send_message in any worker, or by `preforkd ctl send` (optional);
     * data is valid during the call. */
    void (*on_message)(void* state, const char* data, size_t len);
    /* The worker is stopping (optional). */
    void (*shutdown)(void* state);
} pfd_module;

/* The descriptor's name, as preforkd looks it up. */
#define PFD_MODULE_SYMBOL "preforkd_module"

#ifdef __cplusplus
}
#endif

#endif /* PREFORKD_MODULE_H */
