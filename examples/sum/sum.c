/* The cluster demo: GET /app/sum?n=N adds 0..N-1 on the worker's offload pool and
 * answers "Sum is S". The loop thread stays free, so every other request of the worker
 * is answered meanwhile.
 *
 * The loop really runs: compilers turn a plain summing loop into n(n-1)/2, so an empty
 * asm statement takes the accumulator as an in/out operand each iteration, and the
 * compiler can no longer know what it holds. One add per iteration (about 0.3 ns here:
 * 1e9 takes a few tenths of a second, see the README).
 *
 * n must be decimal digits, 1..6e9 (the sum then fits in 64 bits); otherwise 400. */
#include <preforkd/module.h>

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUM_MAX_N 6000000000ull

static const pfd_host* host;

/* One sum in flight. Two owners: the helper thread until the loop ends, and the loop
 * thread until done, or until the request is aborted (the client left, or
 * handler_timeout passed) while the helper may still be running: the last one frees it. */
struct job {
    atomic_int owners;
    uint64_t n;
    uint64_t sum;
    pfd_request* r;
    struct job* next; /* the loop thread's list of sums whose done may come */
};

static struct job* pending;

static void release(struct job* j) {
    if (atomic_fetch_sub_explicit(&j->owners, 1, memory_order_acq_rel) == 1) {
        free(j);
    }
}

static void unlink_job(struct job* j) {
    for (struct job** p = &pending; *p != NULL; p = &(*p)->next) {
        if (*p == j) {
            *p = j->next;
            return;
        }
    }
}

static int sum_init(pfd_worker* w, const pfd_host* h, void** state) {
    (void)w;
    (void)state;
    host = h;
    return 0;
}

/* The value of n in a query such as "n=1000&x=y"; 0 if missing or not a number in range. */
static uint64_t parse_n(pfd_str q) {
    size_t i = 0;
    while (i < q.size) {
        size_t end = i;
        while (end < q.size && q.data[end] != '&') {
            ++end;
        }
        if (end - i > 2 && q.data[i] == 'n' && q.data[i + 1] == '=') {
            uint64_t n = 0;
            size_t k;
            for (k = i + 2; k < end; ++k) {
                const char c = q.data[k];
                if (c < '0' || c > '9' || n > SUM_MAX_N) {
                    return 0;
                }
                n = n * 10 + (uint64_t)(c - '0');
            }
            return n <= SUM_MAX_N ? n : 0;
        }
        i = end + 1;
    }
    return 0;
}

static void sum_work(void* arg) {
    struct job* j = arg;
    uint64_t acc = 0;
    for (uint64_t i = 0; i < j->n; ++i) {
        acc += i;
        __asm__ volatile("" : "+r"(acc));
    }
    j->sum = acc;
    release(j);
}

static void sum_done(pfd_request* r, void* arg) {
    struct job* j = arg;
    char body[48];
    const int len = snprintf(body, sizeof body, "Sum is %llu", (unsigned long long)j->sum);
    unlink_job(j);
    release(j);
    host->respond(r, 200, "text/plain", body, (size_t)len);
}

static void bad_request(pfd_request* r) {
    static const char body[] = "sum: give n=1..6000000000, e.g. /app/sum?n=1000000000\n";
    host->respond(r, 400, "text/plain", body, sizeof body - 1);
}

static void sum_handle(void* state, pfd_request* r) {
    (void)state;
    const pfd_str m = host->method(r);
    if (!(m.size == 3 && memcmp(m.data, "GET", 3) == 0) && !(m.size == 4 && memcmp(m.data, "HEAD", 4) == 0)) {
        host->start(r, 405);
        host->add_header(r, "Allow", 5, "GET, HEAD", 9);
        host->set_length(r, 0);
        host->finish(r);
        return;
    }
    const uint64_t n = parse_n(host->query(r));
    if (n == 0) {
        bad_request(r);
        return;
    }
    struct job* j = malloc(sizeof *j);
    if (j == NULL) {
        host->respond(r, 503, "text/plain", "out of memory\n", 14);
        return;
    }
    atomic_init(&j->owners, 2);
    j->n = n;
    j->sum = 0;
    j->r = r;
    /* On PFD_EFULL the server has answered 503, and neither function runs. */
    if (host->offload(r, sum_work, sum_done, j) != PFD_OK) {
        free(j);
        return;
    }
    j->next = pending;
    pending = j;
}

/* The request is gone: its done will not come, but the helper may still be adding. */
static void sum_abort(void* state, pfd_request* r) {
    (void)state;
    for (struct job* j = pending; j != NULL; j = j->next) {
        if (j->r == r) {
            unlink_job(j);
            release(j);
            return;
        }
    }
}

const pfd_module preforkd_module = {
    .abi_version = PFD_MODULE_ABI_VERSION,
    .struct_size = sizeof(pfd_module),
    .name = "sum",
    .init = sum_init,
    .handle = sum_handle,
    .on_abort = sum_abort,
};
