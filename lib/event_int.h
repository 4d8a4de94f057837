/* Internals of the event model; never installed. */
#ifndef TENBUS_EVENT_INT_H
#define TENBUS_EVENT_INT_H

#include "tenbus/event.h"
#include "tenbus/wire.h"

/* The event is its wire description (`wire`, pointing into the copies
 * below) plus the jansson view built from it once by the codec. Invariants:
 * `headers` and `body` are objects; body holds every header key (sharing the
 * same value references) plus "data". `required_acl` mirrors the
 * "required_acl" header: a copy of its string, or NULL when it is JSON null. */
struct tb_event {
    tb_wire_event wire;
    char *name;
    char *routing_key;        /* NULL: the name */
    char *required_acl;
    char *origin_uuid;
    char *tenant_uuid;
    char *user_uuid;
    char **user_uuids;
    size_t n_user_uuids;
    tb_wire_field *extra;     /* keys and JSON values owned */
    size_t n_extra;
    json_t *content;
    tb_value data;
    char timestamp[TB_TIMESTAMP_SIZE];
    json_t *headers;
    json_t *body;
};

#endif
