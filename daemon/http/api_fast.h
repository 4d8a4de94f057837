/* The fast path of POST /api/events: the body is read in one streaming
 * pass (yajl, no DOM) into the wire codec's events (tenbus/wire.h), which
 * point into one arena per request.
 *
 * It handles the common shape only — the fields name, level, tenant_uuid,
 * user_uuid, user_uuids, routing_key, required_acl and data (plus null
 * headers / routing_key_fmt, and unknown members, which both paths ignore).
 * Anything else (headers, routing_key_fmt, any invalid or refused event) is
 * declined, and the caller runs the general path (api.c, jansson +
 * tb_event_new), which gives every error answer. Both paths end in the same
 * codec. What the fast path accepts, the general path accepts too, with the
 * same routing fields and an equal body up to the timestamp
 * (tests/fuzz/fuzz_api.c checks both on every input). */
#ifndef TBD_API_FAST_H
#define TBD_API_FAST_H

#include <stddef.h>
#include <tenbus/wire.h>

#include "http/api.h"
#include "route/msg.h"

/* A request's events, ready to publish. */
typedef struct tbd_api_batch {
    tb_wire_event *ev;        /* n events, pointing into the storage below */
    size_t n;
    /* storage */
    tb_value *data;
    const char **users;
    char *arena;
    char ts[TB_TIMESTAMP_SIZE];
} tbd_api_batch;

/* 0 with *out (free with tbd_api_batch_free), or -1: declined, nothing
 * built (*out empty). */
int tbd_api_fast_build(const tbd_api_ctx *ctx, const char *body, size_t len, tbd_api_batch *out);
void tbd_api_batch_free(tbd_api_batch *b);

#endif
