/* An AMQP delivery (headers table + body) into a message for routing,
 * without jansson: the routing fields are read straight from the table and
 * the body is checked by one streaming pass (json_scan.h), then passed
 * through byte for byte. Pure (no I/O, no globals) so it can be unit-tested
 * and fuzzed against the jansson path it replaces:
 *     tb_amqp_table_to_json(headers), json_loadb(body, JSON_DECODE_ANY),
 *     tbd_msg_new(headers_obj, body, body_obj, stack_uuid)
 * which it must match field for field and verdict for verdict. */
#ifndef TBD_AMQP_MSG_H
#define TBD_AMQP_MSG_H

#include <amqp.h>

#include "route/json_scan.h"
#include "route/msg.h"

/* Why a delivery was not made into a message (DESIGN.md §8). */
typedef enum tbd_amqp_verdict {
    TBD_AMQP_OK = 0,
    TBD_AMQP_BODY_NOT_JSON,    /* json_loadb would fail (empty body too) */
    TBD_AMQP_BODY_NOT_OBJECT,
    TBD_AMQP_NO_NAME,          /* neither the header nor the body has a string name */
    TBD_AMQP_ENOMEM,
} tbd_amqp_verdict;

/* "body_not_json", "body_not_object", "no_name", "enomem", "ok". */
const char *tbd_amqp_verdict_reason(tbd_amqp_verdict v);

/* Decodes one delivery. `headers` NULL means none (the properties lacked
 * the headers flag). `body` is borrowed (the message copies it into its
 * frames). On TBD_AMQP_OK, *out is a new message; otherwise NULL.
 * `scan` is the calling thread's scanner. */
tbd_amqp_verdict tbd_amqp_msg_decode(tbd_json_scanner *scan, const amqp_table_t *headers,
                                     const char *body, size_t body_len,
                                     const char *stack_uuid, tbd_msg **out);

#endif
