/* The wire codec's AMQP sink (rabbitmq-c): an event's headers as an AMQP
 * field table, typed as wazo-bus publishes them (user_uuid:<uuid> is a
 * boolean, strings are longstr, integers as py-amqp sizes them), and its
 * body, in one walk. For RabbitMQ publishers: tenbusd's, and services
 * linking libtenbus (tenbus/client.h). Also libtenbus's one mapping between
 * AMQP tables and JSON, both ways (binding arguments, received headers). */
#ifndef TENBUS_WIRE_AMQP_H
#define TENBUS_WIRE_AMQP_H

#include <amqp.h>

#include "tenbus/wire.h"

/* Nesting deeper than this is refused (writing: TB_EINVAL; reading: the
 * entry is left out). Event headers are flat in practice. */
#define TB_AMQP_MAX_DEPTH 32

/* Encodes `ev` once: *headers gets the header table, every byte of it
 * allocated from `pool` (the table lives as long as the pool), and `body`
 * (reset first) the JSON body. Value mapping, py-amqp's (hence kombu's and
 * wazo-bus's) for the same Python values: string -> longstr ('S'), bool ->
 * boolean ('t'), int -> signed 32 ('I') when |i| <= 2^31 - 1, else 'L'
 * holding the signed 64-bit value (rabbitmq-c's AMQP_FIELD_KIND_U64; py-amqp
 * and tb_amqp_table_to_json read it back signed), real -> f64 ('d'), null
 * -> void ('V'), JSON objects -> table ('F'), arrays -> array ('A'). Errors: those
 * of tb_wire_encode; TB_EINVAL also for a key over 255 bytes (AMQP keys are
 * shortstr) or nesting over TB_AMQP_MAX_DEPTH; TB_ENOMEM. */
TB_EXTERN tb_err tb_wire_amqp(const tb_wire_event *ev, amqp_pool_t *pool, amqp_table_t *headers,
                              tb_wire_text *body);

/* Builds an AMQP table from a JSON object with the mapping above, every byte
 * in `pool`. For publishing headers that were not generated (tenbusd's
 * POST /api/events/raw). Errors: TB_EINVAL (not an object, a key over 255
 * bytes, too deep), TB_ENOMEM. */
TB_EXTERN tb_err tb_amqp_table_from_json(const json_t *obj, amqp_pool_t *pool, amqp_table_t *out);

/* Reads a received table into a new JSON object: longstr/bytes -> string
 * (when valid UTF-8 without NUL), booleans, every integer width -> integer
 * ('L' read as signed, as py-amqp writes and reads it), a timestamp ->
 * integer seconds (above INT64_MAX: its decimal string), f32/f64/decimal
 * -> real, void -> null, table -> object, array -> array. An entry with no
 * faithful JSON form (key or string not valid UTF-8 or holding NUL, NaN or
 * infinity, unknown kind, too deep) is left out of a table rather than
 * guessed (a `required_acl` turned into null would widen who may see the
 * event; a missing one only narrows it), and is null in an array (to keep
 * the places). Duplicate keys: the last one wins. NULL if `t` is NULL or
 * on ENOMEM. tenbusd's DOM-free decoder (daemon/route/amqp_msg.c) is held
 * to this mapping by tests/unit/test_amqp_msg.c and the amqp_msg fuzzer. */
TB_EXTERN json_t *tb_amqp_table_to_json(const amqp_table_t *t);

#endif
