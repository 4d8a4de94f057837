/* An event as the gateway routes it: parsed once at ingress into the few
 * fields routing needs (DESIGN.md §2), with its v1 and v2 WebSocket frames
 * built once and shared by every recipient on every worker. Immutable after
 * tbd_msg_new; refcounted (atomic). */
#ifndef TBD_MSG_H
#define TBD_MSG_H

#include <jansson.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "route/buf.h"

typedef struct tbd_msg {
    atomic_int refs;
    /* The strings below live in the same allocation as the message. */
    const char *name;       /* `name` header, else body's `name`; NULL => undeliverable */
    bool origin_ok;         /* `origin_uuid` header == this stack's uuid */
    bool has_acl;           /* a `required_acl` header exists (string or null) */
    const char *required_acl; /* NULL = JSON null (no ACL needed) */
    const char *tenant_uuid;  /* `tenant_uuid` header if a string */
    bool all_users;         /* `user_uuid:*` is true */
    size_t n_users;
    const char **user_uuids; /* each `user_uuid:<uuid>` that is true */
    uint64_t seq;           /* node-wide dispatch order, set by tbd_server_dispatch */
    tbd_buf *v1;            /* text frame: the body as it came */
    tbd_buf *v2;            /* text frame: {"op":"event","code":0,"data":<body>} */
} tbd_msg;

/* The routing fields of a message, as its builder found them (all borrowed). */
typedef struct tbd_msg_fields {
    const char *name;               /* NULL => undeliverable */
    bool origin_ok;
    bool has_acl;
    const char *required_acl;       /* NULL = JSON null */
    const char *tenant_uuid;        /* NULL = absent */
    bool all_users;
    const char *const *user_uuids;  /* n_users strings */
    size_t n_users;
} tbd_msg_fields;

/* Builds a message from its routing fields (copied) and its serialized body
 * (`body` JSON text, borrowed). The message and its strings are one
 * allocation; the two frames are two more. Returns a new ref or NULL on ENOMEM. */
tbd_msg *tbd_msg_new_fields(const tbd_msg_fields *f, const char *body, size_t body_len);

/* Builds a message from its headers (object, borrowed) and its serialized
 * body (`body` JSON text, borrowed; `body_obj` its parsed form or NULL, used
 * only for the name fallback). Returns a new ref or NULL on ENOMEM /
 * headers not an object. */
tbd_msg *tbd_msg_new(const json_t *headers, const char *body, size_t body_len,
                     const json_t *body_obj, const char *stack_uuid);

/* True if routing could deliver it at all (rules 3 and 4 of DESIGN.md §2 and a name). */
static inline bool tbd_msg_deliverable(const tbd_msg *m)
{
    return m->name && m->origin_ok && m->has_acl;
}

static inline tbd_msg *tbd_msg_ref(tbd_msg *m)
{
    atomic_fetch_add_explicit(&m->refs, 1, memory_order_relaxed);
    return m;
}

void tbd_msg_unref(tbd_msg *m);

#endif
