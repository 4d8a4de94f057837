/* The embedded bus: publishing is routing. Each event is encoded once, into
 * its message (routing fields and frames), and the batch is handed to every
 * worker in one go. */
#include <stdlib.h>
#include <string.h>

#include "bus/bus.h"
#include "core/log.h"

typedef struct bus_embedded {
    tbd_bus base;
    tbd_bus_host host;
} bus_embedded;

#define SMALL_BATCH 64    /* messages of one publish held on the stack */

/* The message of one publication; NULL if it cannot be built. */
static tbd_msg *to_msg(const bus_embedded *e, const tbd_pub *p, tb_wire_text *text)
{
    const char *stack = e->host.cfg->uuid;
    if (p->ev) {
        int err;
        tbd_msg *m = tbd_msg_from_wire(p->ev, stack, text, &err);
        if (!m)
            tbd_log_error("embedded bus: event not built: %s", tb_strerror(err));
        return m;
    }
    char *s = json_dumps(p->raw_body, JSON_COMPACT);
    if (!s)
        return NULL;
    tbd_msg *m = tbd_msg_new(p->raw_headers, s, strlen(s), p->raw_body, stack);
    free(s);
    return m;
}

static size_t publish(tbd_bus *b, const tbd_pub *p, size_t n)
{
    bus_embedded *e = (bus_embedded *)b;
    tbd_msg *small[SMALL_BATCH];
    tbd_msg **m = n <= SMALL_BATCH ? small : malloc(n * sizeof(*m));
    if (!m)
        return 0;
    tb_wire_text text = {0};
    size_t built = 0;
    while (built < n && (m[built] = to_msg(e, &p[built], &text)))
        built++;
    /* One hand-off for the request: each wakes every worker. What was built
     * before a failure still goes out, in order. */
    e->host.deliver(e->host.ctx, m, built);
    for (size_t i = 0; i < built; i++)
        tbd_msg_unref(m[i]);
    tb_wire_text_free(&text);
    if (m != small)
        free(m);
    return built;
}

static void no_binding(tbd_bus *b, const char *name) { (void)b; (void)name; }
static bool connected(tbd_bus *b) { (void)b; return true; }
static void destroy(tbd_bus *b) { free(b); }

static const tbd_bus_ops embedded_ops = {
    .name = "embedded", .publish = publish, .subscribe = no_binding,
    .unsubscribe = no_binding, .connected = connected, .free = destroy,
};

tbd_bus *tbd_bus_embedded_new(const tbd_bus_host *host)
{
    bus_embedded *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->base.ops = &embedded_ops;
    e->host = *host;
    return &e->base;
}
