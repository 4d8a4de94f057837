/* AMQP 0-9-1 field tables <-> jansson for the client (never installed).
 * Pure: no I/O, no globals. */
#ifndef TENBUS_AMQP_TABLE_H
#define TENBUS_AMQP_TABLE_H

#include <amqp.h>
#include <jansson.h>

#include "tenbus/tenbus.h"

/* Deeper nesting is refused (encoding fails; decoding leaves the entry out). */
#define TB_AMQP_MAX_DEPTH 32

/* Encodes a JSON object as py-amqp (hence kombu, hence wazo-bus) encodes a
 * Python dict: string -> long string 'S', true/false -> boolean 't',
 * integer -> signed 32-bit 'I' when in [-(2^31 - 1), 2^31 - 1], else 'L'
 * holding the signed 64-bit value (py-amqp's tag; rabbitmq-c calls it U64),
 * real -> double 'd', null -> void 'V', object -> table 'F', array ->
 * array 'A'. Every byte is copied into `pool`. Errors: TB_EINVAL (not an
 * object, a key over 255 bytes, too deep), TB_ENOMEM. */
tb_err tb__amqp_from_json(const json_t *obj, amqp_pool_t *pool, amqp_table_t *out);

/* Decodes a received table into a new JSON object: longstr/bytes -> string
 * (when valid UTF-8 without NUL), booleans, every integer width -> integer
 * ('L' read as signed, as py-amqp writes and reads it), f32/f64/decimal -> real,
 * timestamp -> integer seconds, void -> null, table -> object, array ->
 * array. An entry with no faithful JSON form (invalid UTF-8 key or string,
 * NaN/inf, unknown kind, too deep) is left out of a table, and is null in
 * an array (to keep the places). NULL only on ENOMEM. */
json_t *tb__amqp_to_json(const amqp_table_t *t);

#endif
