/* Bus backends (DESIGN.md §5): where published events go and where routed
 * events come from. Implementations: bus_embedded.c, bus_rabbitmq.c.
 * Incoming events reach the workers through tbd_server_dispatch(). */
#ifndef TBD_BUS_H
#define TBD_BUS_H

#include <jansson.h>
#include <stdbool.h>

#include "route/msg.h"

struct tbd_server;

typedef struct tbd_bus tbd_bus;

typedef struct tbd_bus_ops {
    const char *name;
    /* Publishes one event. Called from any worker thread; must not block.
     * headers / body are borrowed. 0, or -1 if the bus is down. */
    int (*publish)(tbd_bus *b, const json_t *headers, const json_t *body, const char *routing_key);
    /* Optional, for buses that route on this node: takes ready messages
     * (the caller keeps its refs) and returns how many it took. Publishers
     * that can build messages without a DOM (api_fast.h) use it. */
    size_t (*publish_msgs)(tbd_bus *b, tbd_msg **m, size_t n);
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
