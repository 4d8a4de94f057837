/* An event as the gateway routes it: parsed once at ingress into the few
 * fields routing needs (DESIGN.md §2), with its v1 and v2 WebSocket frames
 * built once and shared by every recipient on every worker. Immutable after
 * it is built (tbd_msg_builder); refcounted (atomic). */
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
    uint64_t seq;           /* node-wide dispatch order, set when the bus delivers it (core/server.c) */
    tbd_buf *v1;            /* text frame: the body as it came */
    tbd_buf *v2;            /* text frame: {"op":"event","code":0,"data":<body>} */
} tbd_msg;

/* ---- the one reading of a header set ----
 *
 * Every ingress builds its messages here: the codec's events
 * (tbd_msg_from_wire: POST /api/events on any bus), AMQP deliveries
 * (amqp_msg.c feeds each table entry), JSON header objects
 * (tbd_msg_new: POST /api/events/raw). The builder reads a header set as a
 * JSON object holds it: each key once, the last value given for it, at the
 * place of its first appearance. Routing reads (DESIGN.md §2): `name`,
 * `origin_uuid` and `tenant_uuid` when strings; `required_acl` when a string
 * or null (any other type: as if absent, so the event reaches nobody); each
 * `user_uuid:<u>` whose value is true (`user_uuid:*`: every user). */

/* What a header value is, as far as routing cares. */
typedef enum tbd_hv {
    TBD_HV_STRING = 1,   /* s, len: UTF-8 without NUL */
    TBD_HV_NULL,
    TBD_HV_TRUE,
    TBD_HV_OTHER,        /* false, a number, an object, an array */
} tbd_hv;

typedef struct tbd_hslot {
    tbd_hv kind;         /* 0: not given */
    size_t off, len;     /* TBD_HV_STRING: in the builder's arena */
} tbd_hslot;

typedef struct tbd_ucand {
    size_t off, len;     /* the uuid after "user_uuid:", in the arena */
    size_t idx;          /* order of appearance */
    bool is_true;
} tbd_ucand;

#define TBD_MSGB_SMALL_USERS 16
#define TBD_MSGB_SMALL_ARENA 768

/* On the caller's stack; no allocation until it outgrows its small arrays. */
typedef struct tbd_msg_builder {
    const char *stack_uuid;
    tbd_hslot name, origin, acl, tenant;
    size_t idx;
    tbd_ucand *users;
    size_t n_users, cap_users;
    char *arena;
    size_t alen, acap;
    bool oom;
    tbd_ucand small_users[TBD_MSGB_SMALL_USERS];
    char small[TBD_MSGB_SMALL_ARENA];
} tbd_msg_builder;

void tbd_msg_builder_init(tbd_msg_builder *b, const char *stack_uuid);
/* One header, in order (key and string borrowed for the call). */
void tbd_msg_builder_header(tbd_msg_builder *b, const char *key, size_t key_len, tbd_hv kind,
                            const char *s, size_t len);
/* True if the headers hold a string `name`. */
bool tbd_msg_builder_has_name(const tbd_msg_builder *b);
/* The message: its routing fields, its frames built from `body` (JSON
 * text, borrowed). `body_name` (may be NULL) is the body's own `name`,
 * used when no header gives one. A new ref, or NULL on ENOMEM. */
tbd_msg *tbd_msg_builder_finish(tbd_msg_builder *b, const char *body_name, size_t body_name_len,
                                const char *body, size_t body_len);
/* Frees what the builder allocated (always call it, after finish or not). */
void tbd_msg_builder_free(tbd_msg_builder *b);

struct tb_wire_event;
struct tb_wire_text;
/* A message from an event of the codec (tenbus/wire.h): its body written
 * into `text` (a reusable buffer), its headers read as above. A new ref, or
 * NULL with *err (the codec's refusal, or TB_ENOMEM). */
tbd_msg *tbd_msg_from_wire(const struct tb_wire_event *ev, const char *stack_uuid,
                           struct tb_wire_text *text, int *err);

/* A message from a JSON header object (borrowed) and its serialized body
 * (`body` JSON text, borrowed; `body_obj` its parsed form or NULL, used only
 * for the name fallback). A new ref, or NULL on ENOMEM / headers not an
 * object. */
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
