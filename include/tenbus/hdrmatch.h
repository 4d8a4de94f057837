/* AMQP headers-exchange matching, for service consumers (RabbitMQ semantics).
 *
 * `binding` is a JSON object of header → value, optionally with "x-match":
 * "all" (default) or "any" ("all-with-x"/"any-with-x" also accepted: they also
 * compare x- keys). Keys starting with "x-" are otherwise ignored. A binding
 * value of JSON null matches on the header's presence alone; any other value
 * must be equal to the header's value (same JSON type and value).
 * With "any", a binding with no comparable key matches nothing. */
#ifndef TENBUS_HDRMATCH_H
#define TENBUS_HDRMATCH_H

#include "tenbus/tenbus.h" /* TB_EXTERN, tb_err: lets this header stand alone */

#include <jansson.h>
#include <stdbool.h>

/* Both arguments are borrowed. Returns false if either is not an object. */
TB_EXTERN bool tb_hdr_match(const json_t *binding, const json_t *headers);

#endif
