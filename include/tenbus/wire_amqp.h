/* The wire codec's AMQP sink (rabbitmq-c): an event's headers as an AMQP
 * field table, typed as wazo-bus publishes them (user_uuid:<uuid> is a
 * boolean, strings are longstr), and its body, in one walk. For RabbitMQ
 * publishers: tenbusd's, and services linking libtenbus. */
#ifndef TENBUS_WIRE_AMQP_H
#define TENBUS_WIRE_AMQP_H

#include <amqp.h>

#include "tenbus/wire.h"

/* Nesting deeper than this is refused (TB_EINVAL). Event headers are flat
 * in practice. */
#define TB_AMQP_MAX_DEPTH 32

/* Encodes `ev` once: *headers gets the header table, every byte of it
 * allocated from `pool` (the table lives as long as the pool), and `body`
 * (reset first) the JSON body. Value mapping: string -> longstr ('S'),
 * bool -> boolean ('t'), int -> i64 ('l'), real -> f64 ('d'), null -> void
 * ('V'), JSON objects -> table ('F'), arrays -> array ('A'). Errors: those
 * of tb_wire_encode; TB_EINVAL also for a key over 255 bytes (AMQP keys are
 * shortstr) or nesting over TB_AMQP_MAX_DEPTH; TB_ENOMEM. */
TB_EXTERN tb_err tb_wire_amqp(const tb_wire_event *ev, amqp_pool_t *pool, amqp_table_t *headers,
                              tb_wire_text *body);

/* Builds an AMQP table from a JSON object with the mapping above, every byte
 * in `pool`. For publishing headers that were not generated (tenbusd's
 * POST /api/events/raw). Errors: TB_EINVAL (not an object, a key over 255
 * bytes, too deep), TB_ENOMEM. */
TB_EXTERN tb_err tb_amqp_table_from_json(const json_t *obj, amqp_pool_t *pool, amqp_table_t *out);

#endif
