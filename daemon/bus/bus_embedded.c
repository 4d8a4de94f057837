/* The embedded bus: publishing is routing. An event published on this node
 * is serialized once and handed to every worker. */
#include <stdlib.h>
#include <string.h>

#include "bus/bus.h"
#include "core/server.h"

typedef struct bus_embedded {
    tbd_bus base;
    tbd_server *srv;
} bus_embedded;

static int publish(tbd_bus *b, const json_t *headers, const json_t *body, const char *routing_key)
{
    bus_embedded *e = (bus_embedded *)b;
    char *s = json_dumps(body, JSON_COMPACT);
    if (!s)
        return -1;
    tbd_msg *m = tbd_msg_new(headers, s, strlen(s), body, e->srv->cfg->uuid);
    free(s);
    if (!m)
        return -1;
    tbd_server_dispatch(e->srv, m);
    tbd_msg_unref(m);
    return 0;
}

static size_t publish_msgs(tbd_bus *b, tbd_msg **m, size_t n)
{
    tbd_server_dispatch_batch(((bus_embedded *)b)->srv, m, n);
    return n;
}

static void no_binding(tbd_bus *b, const char *name) { (void)b; (void)name; }
static bool connected(tbd_bus *b) { (void)b; return true; }
static void destroy(tbd_bus *b) { free(b); }

static const tbd_bus_ops embedded_ops = {
    .name = "embedded", .publish = publish, .publish_msgs = publish_msgs, .subscribe = no_binding,
    .unsubscribe = no_binding, .connected = connected, .free = destroy,
};

tbd_bus *tbd_bus_embedded_new(tbd_server *srv)
{
    bus_embedded *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    e->base.ops = &embedded_ops;
    e->srv = srv;
    return &e->base;
}
