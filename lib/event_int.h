/* Internals of the event model; never installed. */
#ifndef TENBUS_EVENT_INT_H
#define TENBUS_EVENT_INT_H

#include "tenbus/event.h"

/* Invariants: `headers` and `body` are objects; body holds every header key
 * (sharing the same value references) plus "data". `required_acl` mirrors the
 * "required_acl" header: a copy of its string, or NULL when it is JSON null. */
struct tb_event {
    char *name;
    char *routing_key;
    char *required_acl;
    json_t *headers;
    json_t *body;
};

#endif
