/* The event model (DESIGN.md §1): event types declared as data, events built
 * from a type plus addressing plus content, with every header generated.
 *
 * Example (the `do_something` user event of service `confd`):
 *
 *     static const tb_event_type do_something = {
 *         .service = "confd", .name = "do_something", .level = TB_LEVEL_USER,
 *         .routing_key_fmt = "config.{user_uuid}",
 *     };
 *     tb_event *ev;
 *     tb_event_args a = { .tenant_uuid = t, .user_uuid = u, .content = data };
 *     tb_err rc = tb_event_new(&do_something, &a, origin_uuid, &ev);
 *     ... tb_event_body(ev) / tb_event_headers(ev) / tb_event_routing_key(ev)
 *     tb_event_free(ev);
 */
#ifndef TENBUS_EVENT_H
#define TENBUS_EVENT_H

#include "tenbus/tenbus.h" /* TB_EXTERN, tb_err: lets this header stand alone */

#include <jansson.h>
#include <stddef.h>

/* tb_level (the event levels) is in tenbus/tenbus.h. */

/* Static description of an event type; all strings borrowed for the type's life. */
typedef struct tb_event_type {
    const char *service;          /* publishing service, e.g. "chatd" (documentation only) */
    const char *name;             /* e.g. "chatd_user_room_created" (required) */
    tb_level level;
    const char *routing_key_fmt;  /* e.g. "chatd.users.{user_uuid}.rooms.created"; NULL => name */
    const char *acl_fmt;          /* NULL => "events.<routing key>"; formatted like the key */
    const char *const *extra_fields; /* NULL-terminated names of fields that become headers */
    const char *description;      /* what the event means (documentation only); may be NULL */
    /* The content's schema, a JSON-Schema subset (docs/catalogue.md) checked by
     * tb_event_validate(); NULL => any object. Not used by tb_event_new. */
    const json_t *content_schema;
    /* Internal: content_schema compiled by tb_catalogue_load (leave NULL;
     * tb_event_validate then checks and compiles content_schema per call). */
    const struct tb_schema_int *_schema;
} tb_event_type;

/* Per-event addressing and content; everything borrowed for the call. */
typedef struct tb_event_args {
    const char *tenant_uuid;           /* tenant, user, multi-user levels */
    const char *user_uuid;             /* user level */
    const char *const *user_uuids;     /* multi-user level */
    size_t n_user_uuids;
    const json_t *content;             /* JSON value becoming `data` (NULL => {}) */
    const json_t *fields;              /* optional object: values of extra fields / format fields */
    const char *timestamp;             /* `timestamp` header; NULL => now. Publishers
                                        * of a batch give one for all its events */
} tb_event_args;

typedef struct tb_event tb_event; /* opaque */

/* Builds an event (its wire form comes from tenbus/wire.h's codec). `origin_uuid` is the publishing stack's uuid (may be NULL
 * => header null). Format fields are looked up in: tenant_uuid, user_uuid,
 * `fields`, then `content` (if an object). String values are escaped for the
 * routing key: "." → "__DOT__", "#" → "__HASH__", "*" → "__STAR__".
 * Integers and reals are printed as numbers (reals as Python's str()), booleans
 * as "true"/"false"; null, objects, arrays and absent fields are TB_ENOFIELD.
 * `args` may be NULL (no addressing, no content). `content` and extra-field
 * values are deep-copied. An empty tenant/user uuid counts as missing; a
 * multi-user event needs a non-NULL `user_uuids` (n may be 0).
 * On success *out is a new event the caller frees with tb_event_free().
 * Errors: TB_EINVAL (NULL type/out, bad level, `fields` not an object, a
 * string that is not UTF-8, an extra field named like a generated header or
 * "data"), TB_ENONAME, TB_ENOTENANT, TB_ENOUSER, TB_ENOUSERS, TB_ENOFIELD,
 * TB_EFORMAT, TB_ENOMEM; *out is untouched on error. A timestamp of
 * TB_TIMESTAMP_SIZE bytes or more is TB_EINVAL. */
TB_EXTERN tb_err tb_event_new(const tb_event_type *type, const tb_event_args *args,
                              const char *origin_uuid, tb_event **out);
TB_EXTERN void tb_event_free(tb_event *ev);

/* Borrowed views, valid until tb_event_free(). */
/* The event as the wire codec takes it (tenbus/wire.h): encode it with any
 * sink, e.g. tb_wire_amqp() to publish it on RabbitMQ. */
TB_EXTERN const struct tb_wire_event *tb_event_wire(const tb_event *ev);
TB_EXTERN const char *tb_event_name(const tb_event *ev);
TB_EXTERN const char *tb_event_routing_key(const tb_event *ev);
TB_EXTERN const char *tb_event_required_acl(const tb_event *ev); /* NULL if none */
/* The header object: the generated headers that tenbus/wire.h lists, in its
 * order, then the extra fields. */
TB_EXTERN const json_t *tb_event_headers(const tb_event *ev);
/* The bus body: every header plus "data". */
TB_EXTERN const json_t *tb_event_body(const tb_event *ev);

/* Overrides the required ACL (NULL => header present with JSON null), in
 * both headers and body. Used by publishers that carry their own ACL.
 * Errors: TB_EINVAL (NULL ev, acl not UTF-8), TB_ENOMEM; unchanged on error. */
TB_EXTERN tb_err tb_event_set_required_acl(tb_event *ev, const char *acl);

/* Formats `fmt` with {field} values looked up in `fields` (an object, or
 * NULL) and escaped as in tb_event_new. There is no `{{` escape: a brace
 * outside a well-formed non-empty `{field}` is TB_EFORMAT.
 * On success *out is a new malloc'd string the caller frees; else *out is
 * untouched. Errors: TB_EINVAL, TB_ENOFIELD, TB_EFORMAT, TB_ENOMEM. */
TB_EXTERN tb_err tb_format_routing_key(const char *fmt, const json_t *fields, char **out);

/* The current time as the `timestamp` header writes it: ISO 8601 in UTC
 * with microseconds, "2026-11-25T20:31:26.057365+00:00" (Python's
 * datetime.now(timezone.utc).isoformat(), which wazo publishers use). */
#define TB_TIMESTAMP_SIZE 40
TB_EXTERN void tb_timestamp_now(char out[TB_TIMESTAMP_SIZE]);

/* Escapes one value for a routing key; returns a new malloc'd string or NULL. */
TB_EXTERN char *tb_escape_key_word(const char *s);

#endif
