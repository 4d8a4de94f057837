/* The jansson path that daemon/amqp_msg.c replaced, kept as the oracle the
 * new decoder is checked against (tests/unit/test_amqp_msg.c,
 * tests/fuzz/fuzz_amqp_msg.c): headers through libtenbus's tb_amqp_table_to_json, the
 * body through json_loadb, the message through tbd_msg_new, with the drop
 * reasons handle_delivery (daemon/bus/bus_rabbitmq.c) gave. Header-only, static:
 * each test includes it once. */
#ifndef TB_AMQP_ORACLE_H
#define TB_AMQP_ORACLE_H

#include <stdio.h>
#include <string.h>

#include "tenbus/wire_amqp.h"
#include "route/amqp_msg.h"
#include "route/msg.h"

/* handle_delivery before amqp_msg.c, verdict for verdict. */
static tbd_amqp_verdict oracle_decode(const amqp_table_t *t, const char *body, size_t body_len,
                                      const char *stack_uuid, tbd_msg **out)
{
    *out = NULL;
    json_t *headers = t ? tb_amqp_table_to_json(t) : json_object();
    if (!headers)
        return TBD_AMQP_ENOMEM;
    tbd_amqp_verdict v = TBD_AMQP_OK;
    json_error_t jerr;
    json_t *obj = body_len ? json_loadb(body, body_len, JSON_DECODE_ANY, &jerr) : NULL;
    if (!json_is_object(obj)) {
        v = obj ? TBD_AMQP_BODY_NOT_OBJECT : TBD_AMQP_BODY_NOT_JSON;
    } else if (!json_is_string(json_object_get(headers, "name")) &&
               !json_is_string(json_object_get(obj, "name"))) {
        v = TBD_AMQP_NO_NAME;
    } else {
        *out = tbd_msg_new(headers, body, body_len, obj, stack_uuid);
        if (!*out)
            v = TBD_AMQP_ENOMEM;
    }
    json_decref(obj);
    json_decref(headers);
    return v;
}

static bool oracle_str_eq(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static bool oracle_buf_eq(const tbd_buf *a, const tbd_buf *b)
{
    return a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

/* NULL if the two messages route and read alike (every routing field, the
 * user list in order, both frames byte for byte), else what differs. */
static const char *oracle_msg_diff(const tbd_msg *a, const tbd_msg *b)
{
    if (!oracle_str_eq(a->name, b->name))
        return "name";
    if (a->origin_ok != b->origin_ok)
        return "origin_ok";
    if (a->has_acl != b->has_acl)
        return "has_acl";
    if (!oracle_str_eq(a->required_acl, b->required_acl))
        return "required_acl";
    if (!oracle_str_eq(a->tenant_uuid, b->tenant_uuid))
        return "tenant_uuid";
    if (a->all_users != b->all_users)
        return "all_users";
    if (a->n_users != b->n_users)
        return "n_users";
    for (size_t i = 0; i < a->n_users; i++)
        if (strcmp(a->user_uuids[i], b->user_uuids[i]) != 0)
            return "user_uuids";
    if (!oracle_buf_eq(a->v1, b->v1))
        return "v1 frame";
    if (!oracle_buf_eq(a->v2, b->v2))
        return "v2 frame";
    return NULL;
}

/* Runs both decoders; NULL if they agree (same verdict, and alike messages
 * on OK), else what differs. ENOMEM is not expected in tests. */
static const char *oracle_compare(tbd_json_scanner *scan, const amqp_table_t *t, const char *body,
                                  size_t body_len, const char *stack_uuid,
                                  tbd_amqp_verdict *verdict)
{
    tbd_msg *want, *got;
    tbd_amqp_verdict vw = oracle_decode(t, body, body_len, stack_uuid, &want);
    /* The one deliberate difference (json_scan.c): jansson skips a NUL byte
     * after a number or literal; the new path refuses any NUL in the body. */
    if (body_len && memchr(body, 0, body_len) && vw != TBD_AMQP_BODY_NOT_JSON) {
        tbd_msg_unref(want);
        want = NULL;
        vw = TBD_AMQP_BODY_NOT_JSON;
    }
    tbd_amqp_verdict vg = tbd_amqp_msg_decode(scan, t, body, body_len, stack_uuid, &got);
    const char *diff = NULL;
    if (vw != vg)
        diff = "verdict";
    else if (vw == TBD_AMQP_OK)
        diff = oracle_msg_diff(want, got);
    if (verdict)
        *verdict = vg;
    tbd_msg_unref(want);
    tbd_msg_unref(got);
    return diff;
}

#endif
