/* The fast path of POST /api/events for buses that route locally: the body
 * is read in one streaming pass (yajl, no DOM) and each event's routing
 * fields and bus body are written straight into its message.
 *
 * It handles the common shape only — the fields name, level, tenant_uuid,
 * user_uuid, user_uuids, routing_key, required_acl and data (plus null
 * headers / routing_key_fmt, and unknown members, which both paths ignore).
 * Anything else (headers, routing_key_fmt, any invalid or refused event) is
 * declined, and the caller runs the general path (api.c, jansson +
 * tb_event_new), which is the reference and gives every error answer. What
 * the fast path accepts, the general path accepts too, with the same routing
 * fields and an equal body up to the timestamp (tests/fuzz/fuzz_api.c checks
 * both on every input). */
#ifndef TBD_API_FAST_H
#define TBD_API_FAST_H

#include <stddef.h>

#include "http/api.h"
#include "route/msg.h"

/* 0 with *out (a new array of *n new message refs, free with
 * tbd_api_fast_free), or -1: declined, nothing built. */
int tbd_api_fast_build(const tbd_api_ctx *ctx, const char *body, size_t len, tbd_msg ***out,
                       size_t *n);
void tbd_api_fast_free(tbd_msg **m, size_t n);

#endif
