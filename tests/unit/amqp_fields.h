/* AMQP field values for table tests (test_amqp_json.c, test_amqp_msg.c). */
#ifndef TB_TEST_AMQP_FIELDS_H
#define TB_TEST_AMQP_FIELDS_H

#include <amqp.h>
#include <string.h>

static inline amqp_field_value_t fv(char kind)
{
    amqp_field_value_t v;
    memset(&v, 0, sizeof(v));
    v.kind = (uint8_t)kind;
    return v;
}

/* A longstr/bytes value over `s` (borrowed). */
static inline amqp_field_value_t fbytes(char kind, const char *s, size_t len)
{
    amqp_field_value_t v = fv(kind);
    v.value.bytes.bytes = (void *)s;
    v.value.bytes.len = len;
    return v;
}

#endif
