/* Messages between workers, as Node's process.send / on('message'):
 *   POST /app/broadcast/ with a body sends the body to every worker (?slot=N: to the
 *   worker of slot N only) through send_message; each one stores it in on_message.
 *   The POST answers 202 once the message is on its way (it reaches the sender too),
 *   503 if the channel to the master is full, 413 above the message limit (64 KiB).
 *   GET /app/broadcast/ answers the value this worker holds, with its slot in
 *   X-Worker-Slot and the number of messages it has received in X-Messages.
 * `preforkd ctl send TEXT` stores TEXT the same way. */
#include <preforkd/module.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One more byte than a message may have: a body beyond it is refused by the host. */
#define BODY_MAX (64 * 1024 + 1)

static const pfd_host* host;

struct post {
    pfd_request* r;
    int slot; /* < 0: every worker */
    char* body;
    size_t len;
    struct post* next;
};

struct state {
    pfd_worker* w;
    char* value;
    size_t len;
    unsigned long messages;
    struct post* posts; /* POSTs whose body is still coming */
};

static int bc_init(pfd_worker* w, const pfd_host* h, void** out) {
    struct state* s = calloc(1, sizeof *s);
    if (s == NULL) {
        return 1;
    }
    host = h;
    s->w = w;
    *out = s;
    return 0;
}

static int str_is(pfd_str s, const char* lit) {
    return s.size == strlen(lit) && memcmp(s.data, lit, s.size) == 0;
}

/* slot=N in the query; -1 if absent or not a number. */
static int query_slot(pfd_str q) {
    size_t i = 0;
    while (i < q.size) {
        size_t end = i;
        while (end < q.size && q.data[end] != '&') {
            ++end;
        }
        if (end - i > 5 && memcmp(q.data + i, "slot=", 5) == 0) {
            int n = 0;
            for (size_t k = i + 5; k < end; ++k) {
                if (q.data[k] < '0' || q.data[k] > '9' || n > 100000) {
                    return -1;
                }
                n = n * 10 + (q.data[k] - '0');
            }
            return n;
        }
        i = end + 1;
    }
    return -1;
}

static void answer_text(pfd_request* r, int status, const char* text) {
    host->respond(r, status, "text/plain", text, strlen(text));
}

static void send_and_answer(struct state* s, pfd_request* r, int slot, const char* body, size_t len) {
    const int rc = host->send_message(s->w, slot, body, len);
    switch (rc) {
        case PFD_OK: answer_text(r, 202, "sent\n"); break;
        case PFD_EFULL: answer_text(r, 503, "message channel full\n"); break;
        case PFD_E2BIG: answer_text(r, 413, "message too large\n"); break;
        default: answer_text(r, 500, "send_message failed\n"); break;
    }
}

static void bc_handle(void* state, pfd_request* r) {
    struct state* s = state;
    const pfd_str method = host->method(r);
    if (str_is(method, "GET") || str_is(method, "HEAD")) {
        char slot[16];
        char count[24];
        const int slot_len = snprintf(slot, sizeof slot, "%u", host->worker_slot(s->w));
        const int count_len = snprintf(count, sizeof count, "%lu", s->messages);
        host->start(r, 200);
        host->add_header(r, "Content-Type", 12, "text/plain", 10);
        host->add_header(r, "X-Worker-Slot", 13, slot, (size_t)slot_len);
        host->add_header(r, "X-Messages", 10, count, (size_t)count_len);
        host->set_length(r, s->len);
        host->write(r, s->value, s->len);
        host->finish(r);
        return;
    }
    if (!str_is(method, "POST")) {
        /* RFC 9110 15.5.6: a 405 says which methods the resource takes. */
        static const char text[] = "GET or POST\n";
        host->start(r, 405);
        host->add_header(r, "Content-Type", 12, "text/plain", 10);
        host->add_header(r, "Allow", 5, "GET, POST", 9);
        host->set_length(r, sizeof text - 1);
        host->write(r, text, sizeof text - 1);
        host->finish(r);
        return;
    }
    const int slot = query_slot(host->query(r));
    if (!host->has_body(r)) {
        send_and_answer(s, r, slot, NULL, 0);
        return;
    }
    struct post* p = calloc(1, sizeof *p);
    if (p == NULL) {
        answer_text(r, 500, "out of memory\n");
        return;
    }
    p->r = r;
    p->slot = slot;
    p->next = s->posts;
    s->posts = p;
}

static struct post* take_post(struct state* s, pfd_request* r, int unlink) {
    for (struct post** at = &s->posts; *at != NULL; at = &(*at)->next) {
        if ((*at)->r == r) {
            struct post* p = *at;
            if (unlink) {
                *at = p->next;
            }
            return p;
        }
    }
    return NULL;
}

static void bc_on_body(void* state, pfd_request* r, const char* data, size_t len) {
    struct post* p = take_post(state, r, 0);
    if (p == NULL || p->len >= BODY_MAX) {
        return;
    }
    if (len > BODY_MAX - p->len) {
        len = BODY_MAX - p->len; /* enough to be refused as too large */
    }
    char* grown = realloc(p->body, p->len + len);
    if (grown == NULL) {
        return;
    }
    memcpy(grown + p->len, data, len);
    p->body = grown;
    p->len += len;
}

static void free_post(struct post* p) {
    if (p != NULL) {
        free(p->body);
        free(p);
    }
}

static void bc_on_complete(void* state, pfd_request* r) {
    struct post* p = take_post(state, r, 1);
    if (p != NULL) {
        send_and_answer(state, r, p->slot, p->body, p->len);
        free_post(p);
    }
}

static void bc_on_abort(void* state, pfd_request* r) {
    free_post(take_post(state, r, 1));
}

static void bc_on_message(void* state, const char* data, size_t len) {
    struct state* s = state;
    char* copy = malloc(len > 0 ? len : 1);
    if (copy == NULL) {
        return;
    }
    if (len > 0) {
        memcpy(copy, data, len);
    }
    free(s->value);
    s->value = copy;
    s->len = len;
    ++s->messages;
}

static void bc_shutdown(void* state) {
    struct state* s = state;
    while (s->posts != NULL) {
        struct post* p = s->posts;
        s->posts = p->next;
        free_post(p);
    }
    free(s->value);
    free(s);
}

const pfd_module preforkd_module = {
    .abi_version = PFD_MODULE_ABI_VERSION,
    .struct_size = sizeof(pfd_module),
    .name = "broadcast",
    .init = bc_init,
    .handle = bc_handle,
    .on_body = bc_on_body,
    .on_complete = bc_on_complete,
    .on_abort = bc_on_abort,
    .on_message = bc_on_message,
    .shutdown = bc_shutdown,
};
