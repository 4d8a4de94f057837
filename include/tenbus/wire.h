/* An event's wire form (DESIGN.md §1), produced in one place.
 *
 * A tb_wire_event describes an event by its addressing (borrowed strings, no
 * JSON tree). tb_wire_encode() applies §1's rules to it — which headers, in
 * which order, `required_access` = "event.<name>", the default
 * `required_acl` = "events.<routing key>", one `user_uuid:<uuid>` = true per
 * distinct user, the addressing checks — and walks the result once through a
 * sink: header(key, typed value) for each header, in order, then data(value).
 * Sinks turn that walk into what a transport needs:
 *   - tb_wire_text: the bus body, one JSON object (every header, then
 *     "data"), written as jansson's json_dumps(JSON_COMPACT) would;
 *   - tenbus/wire_amqp.h: an AMQP headers table (typed: booleans stay
 *     booleans) plus the body, for RabbitMQ publishers;
 *   - tb_event_headers()/tb_event_body(): jansson objects (event.h);
 *   - tenbusd's message builder (routing fields and frames).
 *
 * Header order: name, origin_uuid, timestamp, required_access, required_acl,
 * then by level tenant_uuid and user_uuid:* (tenant) / user_uuid:<uuid>
 * (user, multi-user: first appearance order, repeats dropped), then the
 * extra headers in the order given. A user named "*" is the header
 * user_uuid:*, every user of the tenant, as in wazo.
 *
 * Bodies are passed on as their producer wrote them: a `data` given as JSON
 * text (TB_VALUE_RAW) is copied byte for byte, duplicate object keys
 * included, as an AMQP body is by consumers. Readers that take the last of
 * duplicate keys (JSON.parse, Python, jansson) read it as the DOM path would
 * have written it. */
#ifndef TENBUS_WIRE_H
#define TENBUS_WIRE_H

#include "tenbus/tenbus.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum tb_value_kind {
    TB_VALUE_NULL = 0,
    TB_VALUE_BOOL,
    TB_VALUE_INT,
    TB_VALUE_REAL,        /* finite */
    TB_VALUE_STRING,      /* UTF-8 without NUL, `len` bytes (not NUL-terminated) */
    TB_VALUE_JSON,        /* a jansson value of any type; objects and arrays nest */
    TB_VALUE_RAW,         /* JSON text, valid, `len` bytes: written as is (data only) */
} tb_value_kind;

/* A typed value (borrowed). */
typedef struct tb_value {
    tb_value_kind kind;
    union {
        bool b;
        int64_t i;
        double r;
        struct {
            const char *s;
            size_t len;
        } str;                /* STRING, RAW */
        const json_t *json;
    } u;
} tb_value;

static inline tb_value tb_value_string(const char *s, size_t len)
{
    tb_value v = {.kind = TB_VALUE_STRING};
    v.u.str.s = s;
    v.u.str.len = len;
    return v;
}

/* One extra header (an event type's extra field). */
typedef struct tb_wire_field {
    const char *key;          /* not a generated header's name, nor "data" */
    tb_value value;           /* not TB_VALUE_RAW */
} tb_wire_field;

/* An event before encoding; everything borrowed. */
typedef struct tb_wire_event {
    const char *name;                 /* required, non-empty */
    tb_level level;
    const char *tenant_uuid;          /* tenant, user, multi-user levels (non-empty) */
    const char *user_uuid;            /* user level (non-empty) */
    const char *const *user_uuids;    /* multi-user level: non-NULL, each non-empty */
    size_t n_user_uuids;
    const char *routing_key;          /* already formatted; NULL => name */
    bool acl_set;                     /* false => "events.<routing key>" */
    const char *required_acl;         /* if acl_set: the ACL, NULL => header null */
    const char *origin_uuid;          /* NULL => header null */
    const char *timestamp;            /* NULL => now (tb_timestamp_now) */
    const tb_wire_field *extra;       /* n_extra extra headers */
    size_t n_extra;
    const tb_value *data;             /* NULL => {} */
} tb_wire_event;

/* What the walk calls. A callback returns TB_OK or an error that stops the
 * walk (tb_wire_encode returns it). Keys are valid UTF-8 without NUL, not
 * NUL-terminated. */
typedef struct tb_wire_sink {
    tb_err (*header)(void *ctx, const char *key, size_t key_len, const tb_value *v);
    tb_err (*data)(void *ctx, const tb_value *v);   /* once, after the headers */
} tb_wire_sink;

/* The checks of DESIGN.md §1, without encoding: TB_OK, or TB_ENONAME,
 * TB_EINVAL (bad level, a string that is not UTF-8, a reserved, repeated or
 * malformed extra key, a RAW extra value, data of another kind than JSON or
 * RAW), TB_ENOTENANT, TB_ENOUSER, TB_ENOUSERS. */
TB_EXTERN tb_err tb_wire_check(const tb_wire_event *ev);

/* Checks `ev` (as tb_wire_check), then walks its headers and data through
 * `sink` with `ctx`. Errors: those of tb_wire_check, TB_ENOMEM, or what a
 * callback returned (the walk stops there). */
TB_EXTERN tb_err tb_wire_encode(const tb_wire_event *ev, const tb_wire_sink *sink, void *ctx);

/* What a header of an encoded event is, by its key (for tools that describe
 * events: documentation, consoles). Generated headers have their kind;
 * "user_uuid:<uuid>" and "user_uuid:*" are TB_HDR_USER; anything else is
 * TB_HDR_EXTRA. */
typedef enum tb_wire_hdr {
    TB_HDR_EXTRA = 0,
    TB_HDR_NAME,
    TB_HDR_ORIGIN_UUID,
    TB_HDR_TIMESTAMP,
    TB_HDR_REQUIRED_ACCESS,
    TB_HDR_REQUIRED_ACL,
    TB_HDR_TENANT_UUID,
    TB_HDR_USER,
} tb_wire_hdr;
TB_EXTERN tb_wire_hdr tb_wire_header_kind(const char *key);

/* True if an extra header may not take `key`: a generated header's name, a
 * user flag ("user_uuid:..."), or "data". */
TB_EXTERN bool tb_wire_reserved_key(const char *key);

/* The routing key to publish with: ev->routing_key, else the name. */
TB_EXTERN const char *tb_wire_routing_key(const tb_wire_event *ev);

/* ---- the JSON text sink ---- */

/* A growing text buffer, reusable from one event to the next. */
typedef struct tb_wire_text {
    char *p;                  /* NUL-terminated after tb_wire_body_text */
    size_t len, cap;
    bool oom;
    size_t members;           /* members written into the current object */
} tb_wire_text;

/* The sink writing the body object; ctx is a tb_wire_text, emptied before
 * the walk (tb_wire_text_reset). */
TB_EXTERN extern const tb_wire_sink tb_wire_text_sink;

TB_EXTERN void tb_wire_text_reset(tb_wire_text *t);
TB_EXTERN void tb_wire_text_free(tb_wire_text *t);

/* Encodes `ev`'s body into `out` (reset first): out->p, out->len. Errors:
 * as tb_wire_encode. */
TB_EXTERN tb_err tb_wire_body_text(const tb_wire_event *ev, tb_wire_text *out);

/* Appends n bytes as they are (keeps the text NUL-terminated). */
TB_EXTERN void tb_wire_text_put(tb_wire_text *t, const void *s, size_t n);
/* Appends `s` (n bytes, UTF-8 without NUL) as a JSON string, quoted and
 * escaped as jansson writes it: UTF-8 kept, '/' not escaped, control
 * characters as \b \f \n \r \t or \u00XX. */
TB_EXTERN void tb_wire_text_put_string(tb_wire_text *t, const char *s, size_t n);
/* Appends a value as JSON text (RAW as is, JSON through jansson). */
TB_EXTERN void tb_wire_text_put_value(tb_wire_text *t, const tb_value *v);

#endif
