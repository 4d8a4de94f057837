/* The DOM-free POST /api/events path (daemon/http/api_fast.c): what it builds
 * for the shapes it takes, and what it must leave to the general path.
 * tests/fuzz/fuzz_api.c checks it against the general path on every input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "http/api_fast.h"
#include "route/msg.h"

#define STACK "51ac0000-0000-4000-8000-000000000001"
#define MASTER "a0000000-0000-4000-8000-00000000000a"
#define TENANT "b0000000-0000-4000-8000-00000000000b"

static tbd_token *token(const char *tenant, const char *acl)
{
    json_t *o = json_pack("{s:s,s:s,s:[s],s:{s:s,s:s}}", "token", "t", "session_uuid", "s",
                          "acl", acl, "metadata", "uuid", "cafe", "tenant_uuid", tenant);
    char err[128];
    tbd_token *t = tbd_token_from_json(o, err, sizeof err);
    json_decref(o);
    assert_non_null(t);
    return t;
}

static tbd_token *master_tok, *tenant_tok;

static int setup(void **state)
{
    (void)state;
    master_tok = token(MASTER, "tenbus.publish.#");
    tenant_tok = token(TENANT, "tenbus.publish.chat_*");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tbd_token_unref(master_tok);
    tbd_token_unref(tenant_tok);
    return 0;
}

static void tbd_api_fast_free(tbd_msg **m, size_t n)
{
    for (size_t i = 0; m && i < n; i++)
        tbd_msg_unref(m[i]);
    free(m);
}

/* The fast path's events, as the embedded bus makes them into messages. */
static int build(const tbd_token *tok, const char *body, tbd_msg ***m, size_t *n)
{
    tbd_api_ctx ctx = {.tok = tok, .master_tenant = MASTER, .stack_uuid = STACK};
    tbd_api_batch b;
    *m = NULL;
    *n = 0;
    if (tbd_api_fast_build(&ctx, body, strlen(body), &b) < 0) {
        assert_null(b.ev);
        assert_int_equal(b.n, 0);
        return -1;
    }
    *m = calloc(b.n + 1, sizeof(**m));
    assert_non_null(*m);
    tb_wire_text text = {0};
    for (size_t i = 0; i < b.n; i++) {
        int err;
        (*m)[i] = tbd_msg_from_wire(&b.ev[i], STACK, &text, &err);
        assert_non_null((*m)[i]);
    }
    *n = b.n;
    tb_wire_text_free(&text);
    tbd_api_batch_free(&b);
    return 0;
}

/* The v1 frame's payload as a string (frames here are < 126 bytes or
 * use the 16-bit length). */
static char *payload(const tbd_buf *f)
{
    size_t hl = (f->data[1] & 0x7f) < 126 ? 2 : 4;
    return strndup((const char *)f->data + hl, f->len - hl);
}

static void user_event(void **state)
{
    (void)state;
    tbd_msg **m;
    size_t n;
    assert_int_equal(build(master_tok, "{\"name\": \"chat_x\", \"tenant_uuid\": \"" TENANT
                           "\", \"user_uuid\": \"u\\\"1\", \"data\": {\"a\": [1, 2.50, "
                           "\"\\u00e9\\n\"], \"b\": null}, \"other\": [{}]}", &m, &n), 0);
    assert_int_equal(n, 1);
    assert_string_equal(m[0]->name, "chat_x");
    assert_string_equal(m[0]->tenant_uuid, TENANT);
    assert_string_equal(m[0]->required_acl, "events.chat_x");
    assert_true(m[0]->origin_ok && m[0]->has_acl && !m[0]->all_users);
    assert_int_equal(m[0]->n_users, 1);
    assert_string_equal(m[0]->user_uuids[0], "u\"1");
    char *body = payload(m[0]->v1);
    /* Member order and compact data as the general path writes them; the
     * timestamp varies. */
    const char *ts = strstr(body, "\"timestamp\":\"");
    assert_non_null(ts);
    char want[600];
    snprintf(want, sizeof want,
             "{\"name\":\"chat_x\",\"origin_uuid\":\"" STACK "\",%.*s,\"required_access\":"
             "\"event.chat_x\",\"required_acl\":\"events.chat_x\",\"tenant_uuid\":\"" TENANT
             "\",\"user_uuid:u\\\"1\":true,\"data\":{\"a\":[1,2.50,\"\xc3\xa9\\n\"],\"b\":null}}",
             (int)(strchr(ts + 13, '"') - ts + 1), ts);
    assert_string_equal(body, want);
    free(body);
    tbd_api_fast_free(m, n);
}

static void batch_of_levels(void **state)
{
    (void)state;
    tbd_msg **m;
    size_t n;
    assert_int_equal(build(master_tok, "[{\"name\":\"s\",\"routing_key\":\"a.b\"},"
                           "{\"name\":\"t\",\"tenant_uuid\":\"T\",\"required_acl\":null},"
                           "{\"name\":\"mu\",\"tenant_uuid\":\"T\",\"user_uuids\":[\"x\",\"y\",\"x\"],"
                           "\"required_acl\":\"my.acl\"}]", &m, &n), 0);
    assert_int_equal(n, 3);
    assert_null(m[0]->tenant_uuid);                 /* service: no tenant, no users */
    assert_string_equal(m[0]->required_acl, "events.a.b");
    assert_true(m[1]->all_users && m[1]->has_acl);
    assert_null(m[1]->required_acl);                /* null: no ACL needed */
    assert_int_equal(m[2]->n_users, 2);             /* repeats collapse, as header keys do */
    assert_string_equal(m[2]->user_uuids[1], "y");
    assert_string_equal(m[2]->required_acl, "my.acl");
    tbd_api_fast_free(m, n);

    assert_int_equal(build(master_tok, "[]", &m, &n), 0);
    assert_int_equal(n, 0);
    tbd_api_fast_free(m, n);
}

/* Declined: the general path answers these (or handles the feature). */
static void declined(void **state)
{
    (void)state;
    static const char *const bodies[] = {
        "", "{", "[1]", "\"x\"", "{} {}", "{\"name\":\"\"}", "{\"data\":{}}",
        "{\"name\":\"chat_x\",\"headers\":{\"a\":1}}",
        "{\"name\":\"chat_x\",\"routing_key_fmt\":\"{a}\"}",
        "{\"name\":\"chat_x\",\"routing_key\":\"{a}\"}",
        "{\"name\":\"chat_x\",\"level\":\"user\",\"tenant_uuid\":\"T\"}",
        "{\"name\":\"chat_x\",\"level\":\"multi_user\",\"tenant_uuid\":\"T\"}",
        "{\"name\":\"chat_x\",\"level\":\"nope\"}",
        "{\"name\":7}", "{\"name\":\"chat_x\",\"tenant_uuid\":[\"T\"]}",
        "{\"name\":\"chat_x\",\"user_uuids\":[1],\"tenant_uuid\":\"T\"}",
        "{\"name\":\"chat_x\",\"required_acl\":true}",
        "{\"name\":\"chat_x\",\"data\":\"\\u0000\"}",
        "{\"name\":\"chat_x\",\"data\":\"\\ud800\"}",
        "{\"name\":\"chat_x\",\"data\":99999999999999999999}",
        "{\"name\":\"chat_x\",\"data\":1e999}",
        "{\"name\":\"chat_x\",\"data\":[1,]}",
        "{\"name\":\"chat_x\",\"data\":\"\xff\"}",
        "{\"name\":\"chat_x\"} // comment", "{\"name\":\"chat_x\"} \"o}", "[] 1", "[] tru", "[\v]", "{\"name\":\"chat_x\",\"data\":\"\xc0\x87\"}",
    };
    for (size_t i = 0; i < sizeof bodies / sizeof *bodies; i++) {
        tbd_msg **m = (tbd_msg **)1;
        size_t n = 99;
        if (build(master_tok, bodies[i], &m, &n) != -1)
            fail_msg("accepted: %s", bodies[i]);
        assert_null(m);
        assert_int_equal(n, 0);
    }
}

/* An escaped surrogate pair is one character, written as UTF-8 (as jansson
 * writes it). */
static void surrogate_pair(void **state)
{
    (void)state;
    tbd_msg **m;
    size_t n;
    assert_int_equal(build(master_tok, "{\"name\":\"s\",\"data\":\"\\ud83d\\ude00\"}", &m, &n), 0);
    char *body = payload(m[0]->v1);
    assert_non_null(strstr(body, "\"data\":\"\xf0\x9f\x98\x80\"}"));
    free(body);
    tbd_api_fast_free(m, n);
}

static void permissions(void **state)
{
    (void)state;
    tbd_msg **m;
    size_t n;
    /* A tenant token: own tenant only, chat_* only, never service level. */
    assert_int_equal(build(tenant_tok, "{\"name\":\"chat_a\",\"tenant_uuid\":\"" TENANT "\"}", &m, &n), 0);
    tbd_api_fast_free(m, n);
    assert_int_equal(build(tenant_tok, "{\"name\":\"chat_a\",\"tenant_uuid\":\"other\"}", &m, &n), -1);
    assert_int_equal(build(tenant_tok, "{\"name\":\"other\",\"tenant_uuid\":\"" TENANT "\"}", &m, &n), -1);
    assert_int_equal(build(tenant_tok, "{\"name\":\"chat_a\"}", &m, &n), -1);
    /* One refused event declines the whole batch. */
    assert_int_equal(build(tenant_tok, "[{\"name\":\"chat_a\",\"tenant_uuid\":\"" TENANT "\"},"
                           "{\"name\":\"x\",\"tenant_uuid\":\"" TENANT "\"}]", &m, &n), -1);
}

static void deep_nesting_declined(void **state)
{
    (void)state;
    size_t depth = 600;
    char *body = malloc(40 + 2 * depth);
    char *p = body + sprintf(body, "{\"name\":\"chat_x\",\"data\":");
    for (size_t i = 0; i < depth; i++)
        *p++ = '[';
    for (size_t i = 0; i < depth; i++)
        *p++ = ']';
    strcpy(p, "}");
    tbd_msg **m;
    size_t n;
    assert_int_equal(build(master_tok, body, &m, &n), -1);
    free(body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(user_event),
        cmocka_unit_test(batch_of_levels),
        cmocka_unit_test(declined),
        cmocka_unit_test(surrogate_pair),
        cmocka_unit_test(permissions),
        cmocka_unit_test(deep_nesting_declined),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
