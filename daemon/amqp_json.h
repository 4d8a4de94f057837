/* AMQP 0-9-1 field tables <-> jansson, for the RabbitMQ bus backend.
 * Pure (no I/O, no globals) so it can be unit-tested and fuzzed. */
#ifndef TBD_AMQP_JSON_H
#define TBD_AMQP_JSON_H

#include <amqp.h>
#include <jansson.h>

/* Nesting deeper than this is refused (to JSON: the entry is left out;
 * from JSON: the call fails). Event headers are flat in practice. */
#define TBD_AMQP_MAX_DEPTH 32

/* Converts a received headers table into a new JSON object. Mapping:
 * longstr/bytes -> string if valid UTF-8; booleans; every integer width ->
 * integer (a u64 above INT64_MAX -> its decimal string); f32/f64 -> real
 * (NaN/inf: left out; inside an array: null, to keep the places); decimal -> real; timestamp -> integer (seconds since
 * the epoch); void -> null; table -> object; array -> array.
 *
 * An entry that cannot be represented faithfully (key or string not valid
 * UTF-8 or holding NUL, a non-finite number, unknown kind, too deep) is left out rather than
 * replaced: a header like `required_acl` turned into null would widen who
 * may see the event, a missing one only narrows it. Duplicate keys: the
 * last one wins. Returns NULL only on ENOMEM.
 *
 * The consumer no longer calls this per delivery: amqp_msg.c reads the
 * routing headers straight from the table with this mapping's semantics.
 * A change here must be made there too; tests/fuzz/fuzz_amqp_msg.c and
 * tests/unit/test_amqp_msg.c compare the two. */
json_t *tbd_amqp_table_to_json(const amqp_table_t *t);

/* Builds an AMQP table from a JSON object, every byte copied into `pool`
 * (the table lives as long as the pool). Mapping: string -> longstr ('S'),
 * true/false -> boolean, integer -> i64 ('l'), real -> f64 ('d'), null ->
 * void ('V'), object -> table ('F'), array -> array ('A').
 * Returns 0, or -1 (obj not an object, nesting over TBD_AMQP_MAX_DEPTH,
 * ENOMEM). */
int tbd_amqp_table_from_json(const json_t *obj, amqp_pool_t *pool, amqp_table_t *out);

#endif
