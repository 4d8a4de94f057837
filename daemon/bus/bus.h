/* Bus backends (DESIGN.md §5): where published events go and where routed
 * events come from. Implementations: bus_embedded.c, bus_rabbitmq.c.
 * Incoming events reach the workers through tbd_server_dispatch(). */
#ifndef TBD_BUS_H
#define TBD_BUS_H

#include <jansson.h>
#include <stdbool.h>

#include <tenbus/wire.h>

#include "route/msg.h"

struct tbd_server;

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
    void (*free)(tbd_bus *b);
} tbd_bus_ops;

struct tbd_bus {
    const tbd_bus_ops *ops;
};

tbd_bus *tbd_bus_embedded_new(struct tbd_server *srv);
/* Starts the AMQP thread, which connects (and keeps reconnecting) in the
 * background: a broker down at start-up is not an error. NULL on ENOMEM. */
tbd_bus *tbd_bus_rabbitmq_new(struct tbd_server *srv);

#endif
