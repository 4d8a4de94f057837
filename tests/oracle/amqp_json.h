/* Test oracle: an AMQP 0-9-1 field table as a jansson object, the mapping
 * tenbusd's AMQP decoder (daemon/amqp_msg.c) must read headers with. Not
 * production code: the decoder reads the table directly; this reference
 * lets tests and fuzzers check it (tests/fuzz/amqp_oracle.h). The other
 * direction is libtenbus's tb_amqp_table_from_json (tenbus/wire_amqp.h). */
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
 * tests/fuzz/fuzz_amqp_msg.c and tests/unit/test_amqp_msg.c compare the
 * decoder with it. */
json_t *tbd_amqp_table_to_json(const amqp_table_t *t);

#endif
