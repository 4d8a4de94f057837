/* Test oracle: DESIGN.md §1's header set and body built with jansson, the
 * way lib/event.c built them before the wire codec (lib/wire.c) existed.
 * Independent of the codec on purpose: jansson's object keeps each key
 * once at its first place (repeated users), and json_dumps does the
 * escaping, so a codec that writes the same text byte for byte follows the
 * same rules. Used by tests/unit/test_wire.c and tests/fuzz/fuzz_api.c. */
#ifndef TB_EVENT_ORACLE_H
#define TB_EVENT_ORACLE_H

#include <jansson.h>
#include <tenbus/wire.h>

/* The body object of `ev` (headers in order, then "data"), or NULL if the
 * oracle cannot build it (a RAW data that is not JSON). `ev` must pass
 * tb_wire_check; its timestamp must be set. A new reference. */
json_t *oracle_event_body(const tb_wire_event *ev);

#endif
