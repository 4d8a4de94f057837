/* Bus backends (DESIGN.md §5): where published events go and where routed
 * events come from. Implementations: bus_embedded.c, bus_rabbitmq.c.
 * A backend sees the node that runs it only through tbd_bus_host: it hands
 * routed events to host->deliver and reports its connection and bindings;
 * it never sees the server, its workers or its sessions. */
#ifndef TBD_BUS_H
#define TBD_BUS_H

#include <jansson.h>
#include <stdbool.h>

#include <tenbus/wire.h>

#include "conf/config.h"
#include "route/msg.h"

typedef struct tbd_bus tbd_bus;

/* One thing to publish: an event of the wire codec (tenbus/wire.h; what
 * POST /api/events builds), or, for POST /api/events/raw, a header object
 * and a body object given as they are. */
typedef struct tbd_pub {
    const tb_wire_event *ev;       /* NULL: raw */
    const json_t *raw_headers;     /* raw: object */
    const json_t *raw_body;        /* raw: object */
    const char *raw_routing_key;   /* raw: may be "" */
} tbd_pub;

/* Where a bus connection stands (tbd_bus_ops.state). */
typedef enum { TBD_BUS_DOWN = 0, TBD_BUS_CONNECTING, TBD_BUS_UP } tbd_bus_state;

/* What a backend may ask of the node (filled by core/server.c). Every
 * callback gets `ctx`; all may be called from any thread. */
typedef struct tbd_bus_host {
    void *ctx;
    const tbd_config *cfg;
    /* Routed events for the node's sessions, in order; the refs stay the
     * caller's (the host takes its own). */
    void (*deliver)(void *ctx, tbd_msg **m, size_t n);
    /* The backend's state() changed (DOWN/CONNECTING/UP): waiting sessions
     * re-check it. */
    void (*state_changed)(void *ctx);
    /* The broker confirmed the bindings of these names / every binding is
     * gone (connection lost): sessions waiting for a reply re-check. */
    void (*bound)(void *ctx, const char *const *names, size_t n);
    void (*unbound_all)(void *ctx);
    /* The connection is lost: every session ends (1011, `reason`). */
    void (*lost)(void *ctx, const char *reason);
    /* A snapshot of the names (or "*") the node's sessions subscribe to:
     * a new array of *n new strings (free each, then the array), NULL on
     * ENOMEM. Backends that filter at the broker re-bind from it. */
    char **(*sub_names)(void *ctx, size_t *n);
} tbd_bus_host;

typedef struct tbd_bus_ops {
    const char *name;
    /* Publishes p[0..n) in order: the one publish entry. Called from a worker
     * thread; must not block; everything is borrowed for the call (each
     * backend encodes what it needs: messages routed here, or AMQP tables
     * and bodies). Returns how many it took, from the first: fewer than n
     * if the bus is down or full (or an event is refused, which the API's
     * checks prevent). */
    size_t (*publish)(tbd_bus *b, const tbd_pub *p, size_t n);
    /* The node's sessions' subscriptions changed: first subscriber of `name`
     * (or "*") / last one gone. Backends that filter at the broker bind here. */
    void (*subscribe)(tbd_bus *b, const char *name);
    void (*unsubscribe)(tbd_bus *b, const char *name);
    bool (*connected)(tbd_bus *b);
    /* Optional (NULL: UP while connected(), else DOWN). CONNECTING while a
     * connection attempt is in progress: a new session waits for its
     * outcome. Every change away from CONNECTING is followed by
     * host->state_changed(). */
    tbd_bus_state (*state)(tbd_bus *b);
    void (*free)(tbd_bus *b);
    /* True if a subscription is in place only once the backend confirms
     * its binding (host->bound); false: at once. */
    bool confirms_binds;
} tbd_bus_ops;

struct tbd_bus {
    const tbd_bus_ops *ops;
};

/* `host` is copied. */
tbd_bus *tbd_bus_embedded_new(const tbd_bus_host *host);
/* Starts the AMQP thread, which connects (and keeps reconnecting) in the
 * background: a broker down at start-up is not an error. NULL on ENOMEM. */
tbd_bus *tbd_bus_rabbitmq_new(const tbd_bus_host *host);

#endif
