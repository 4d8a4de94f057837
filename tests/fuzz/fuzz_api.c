/* The HTTP API's body validation (daemon/http/api.c via api.h): POST /api/events
 * and /api/events/raw. Byte 0 picks the caller (token) and whether the
 * master tenant is known, bit 7 the raw endpoint; the rest is the body.
 * Whatever is accepted must be something that caller may publish.
 *
 * Codec against oracle: every event the general path builds is encoded by
 * the wire codec (lib/wire.c) and compared byte for byte with the jansson
 * oracle of DESIGN.md §1 (tests/oracle/event_oracle.c). Decoder against
 * decoder: whatever the streaming path (api_fast.c) accepts, the general
 * path accepts too, with messages that route and read alike. */
#include <stdbool.h>

#include <tenbus/event.h>

#include "http/api.h"
#include "http/api_fast.h"
#include "fuzz.h"
#include "event_oracle.h"
#include "route/msg.h"

#define STACK "51ac0000-0000-4000-8000-000000000001"
#define MASTER "a0000000-0000-4000-8000-00000000000a"
#define TENANT "b0000000-0000-4000-8000-00000000000b"

/* id, tenant, acl entries (NULL-terminated) */
static const struct {
    const char *tenant;
    bool admin;
    const char *acl[4];
} callers[4] = {
    { MASTER, false, { "tenbus.publish.#", "tenbus.publish-raw", NULL } },
    { TENANT, false, { "tenbus.publish.chat_*", "tenbus.publish.me", NULL } },
    { TENANT, true, { "tenbus.publish.#", "!tenbus.publish.secret", "tenbus.publish-raw", NULL } },
    { TENANT, false, { NULL } },
};

static tbd_token *tokens[4];

static void init_tokens(void)
{
    for (int i = 0; i < 4; i++) {
        json_t *acl = json_array();
        for (int k = 0; callers[i].acl[k]; k++)
            json_array_append_new(acl, json_string(callers[i].acl[k]));
        json_t *o = json_pack("{s:s,s:s,s:o,s:{s:s,s:s,s:b}}", "token", "t", "session_uuid",
                              "5e55", "acl", acl, "metadata", "uuid", "cafe", "tenant_uuid",
                              callers[i].tenant, "admin", callers[i].admin);
        char err[128];
        tokens[i] = tbd_token_from_json(o, err, sizeof err);
        FUZZ_CHECK(tokens[i]);
        json_decref(o);
    }
}

static void check_event(const tbd_api_ctx *ctx, const tb_event *ev)
{
    const char *name = tb_event_name(ev);
    FUZZ_CHECK(name && *name);
    char perm[600];
    snprintf(perm, sizeof perm, "tenbus.publish.%s", name);
    if (strlen(name) < 500)
        FUZZ_CHECK(tbd_token_grants(ctx->tok, perm));
    const json_t *h = tb_event_headers(ev);
    FUZZ_CHECK(json_is_object(h) && json_is_object(tb_event_body(ev)));
    FUZZ_CHECK(strcmp(json_string_value(json_object_get(h, "name")), name) == 0);
    FUZZ_CHECK(strcmp(json_string_value(json_object_get(h, "origin_uuid")), STACK) == 0);
    bool master = ctx->master_tenant && strcmp(ctx->tok->tenant_uuid, ctx->master_tenant) == 0;
    if (!master) {
        /* Never outside the caller's own tenant, never service-wide. */
        const json_t *t = json_object_get(h, "tenant_uuid");
        FUZZ_CHECK(json_is_string(t) && strcmp(json_string_value(t), ctx->tok->tenant_uuid) == 0);
    }
    FUZZ_CHECK(tb_event_routing_key(ev) != NULL);
}

static bool same_str(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

/* The payload of a server frame (unmasked, FIN). */
static const char *frame_payload(const tbd_buf *f, size_t *len)
{
    size_t hl = (f->data[1] & 0x7f) < 126 ? 2 : (f->data[1] & 0x7f) == 126 ? 4 : 10;
    *len = f->len - hl;
    return (const char *)f->data + hl;
}

/* The codec's body text for the general path's event is the oracle's,
 * byte for byte; so is the jansson view tb_event_body() gives. */
static void check_codec(const tb_event *ev, tb_wire_text *text)
{
    const tb_wire_event *w = tb_event_wire(ev);
    FUZZ_CHECK(tb_wire_body_text(w, text) == TB_OK);
    json_t *want = oracle_event_body(w);
    FUZZ_CHECK(want);
    char *wtext = json_dumps(want, JSON_COMPACT);
    FUZZ_CHECK(wtext && strcmp(wtext, text->p) == 0);
    char *jtext = json_dumps(tb_event_body(ev), JSON_COMPACT);
    FUZZ_CHECK(jtext && strcmp(jtext, wtext) == 0);
    free(jtext);
    free(wtext);
    json_decref(want);
}

static tbd_msg *msg_of(const tb_wire_event *w, tb_wire_text *text)
{
    int err;
    tbd_msg *m = tbd_msg_from_wire(w, STACK, text, &err);
    FUZZ_CHECK(m);
    return m;
}

/* The fast path's event i must be what the general path's gives: the same
 * routing fields and the same body JSON, timestamp aside (data as written
 * on one side, re-serialized by jansson on the other). */
static void check_same(const tb_wire_event *fw, const tb_event *ev, tb_wire_text *text)
{
    tbd_msg *fm = msg_of(fw, text), *sm = msg_of(tb_event_wire(ev), text);
    FUZZ_CHECK(same_str(fm->name, sm->name) && fm->origin_ok == sm->origin_ok);
    FUZZ_CHECK(fm->has_acl == sm->has_acl && same_str(fm->required_acl, sm->required_acl));
    FUZZ_CHECK(same_str(fm->tenant_uuid, sm->tenant_uuid) && fm->all_users == sm->all_users);
    FUZZ_CHECK(fm->n_users == sm->n_users);
    for (size_t i = 0; i < fm->n_users; i++)
        FUZZ_CHECK(strcmp(fm->user_uuids[i], sm->user_uuids[i]) == 0);

    json_t *sbody = json_deep_copy(tb_event_body(ev));
    size_t flen;
    const char *ftext = frame_payload(fm->v1, &flen);
    json_error_t je;
    json_t *fbody = json_loadb(ftext, flen, 0, &je);
    FUZZ_CHECK(json_is_object(fbody));
    FUZZ_CHECK(json_object_size(fbody) == json_object_size(sbody));
    json_object_set(fbody, "timestamp", json_object_get(sbody, "timestamp"));
    FUZZ_CHECK(json_equal(fbody, sbody));
    /* Members in the same order (what a reader of the raw text sees). */
    void *fi = json_object_iter(fbody), *si = json_object_iter(sbody);
    for (; fi && si; fi = json_object_iter_next(fbody, fi), si = json_object_iter_next(sbody, si))
        FUZZ_CHECK(strcmp(json_object_iter_key(fi), json_object_iter_key(si)) == 0);
    /* v2 wraps the same body. */
    size_t v2len;
    const char *v2 = frame_payload(fm->v2, &v2len);
    FUZZ_CHECK(v2len == flen + 31 && memcmp(v2 + 30, ftext, flen) == 0);
    json_decref(fbody);
    json_decref(sbody);
    tbd_msg_unref(fm);
    tbd_msg_unref(sm);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!tokens[0])
        init_tokens();
    fuzz_in in = { data, size };
    uint8_t b0 = fuzz_byte(&in);
    tbd_api_ctx ctx = {
        .tok = tokens[b0 & 3],
        .master_tenant = (b0 & 4) ? NULL : MASTER,
        .stack_uuid = STACK,
    };
    tbd_api_err e = { 0 };
    long index = -2;
    tbd_api_batch fast = {0};
    tb_wire_text text = {0};
    bool fast_ok = !(b0 & 0x80) && tbd_api_fast_build(&ctx, (const char *)in.p, in.n, &fast) == 0;
    json_t *root = tbd_api_load_body((const char *)in.p, in.n, &e);
    if (!root) {
        FUZZ_CHECK(e.status == 400 && strcmp(e.error, "invalid_json") == 0);
        FUZZ_CHECK(!fast_ok);
        tbd_api_batch_free(&fast);
        return 0;
    }
    if (b0 & 0x80) {
        if (tbd_api_raw_allowed(&ctx, &e) < 0) {
            FUZZ_CHECK(e.status == 403);
            FUZZ_CHECK(!(ctx.master_tenant && (b0 & 3) == 0));
        }
        memset(&e, 0, sizeof e);
        if (tbd_api_check_raw(root, &e, &index) < 0) {
            FUZZ_CHECK(e.status == 400 && e.message[0]);
            FUZZ_CHECK(index == -1 || (json_is_array(root) && (size_t)index < json_array_size(root)));
        }
    } else {
        tb_event **evs = NULL;
        size_t n = 0;
        if (tbd_api_build_events(&ctx, root, &evs, &n, &e, &index) == 0) {
            FUZZ_CHECK(n == (json_is_array(root) ? json_array_size(root) : 1));
            for (size_t i = 0; i < n; i++) {
                check_event(&ctx, evs[i]);
                check_codec(evs[i], &text);
            }
            if (fast_ok) {
                FUZZ_CHECK(fast.n == n);
                for (size_t i = 0; i < n; i++)
                    check_same(&fast.ev[i], evs[i], &text);
            }
            tbd_api_free_events(evs, n);
        } else {
            FUZZ_CHECK(!fast_ok);
            FUZZ_CHECK(!evs && e.error && e.message[0]);
            FUZZ_CHECK(e.status == 400 || e.status == 403 || e.status == 500);
            FUZZ_CHECK(index == -1 || (json_is_array(root) && (size_t)index < json_array_size(root)));
        }
    }
    tbd_api_batch_free(&fast);
    tb_wire_text_free(&text);
    json_decref(root);
    return 0;
}
