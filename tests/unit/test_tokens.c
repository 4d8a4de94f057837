#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>

#include "tmpfiles.h"
#include "auth/token.h"
#include "auth/tokens_file.h"

static const char *const good_yaml =
    "# demo tokens\n"
    "tokens:\n"
    "  - token: demo-alice\n"                                   /* 3 */
    "    session_uuid: s-alice\n"
    "    acl: [websocketd, \"events.#\"]\n"
    "    utc_expires_at: null\n"
    "    metadata: {uuid: u-alice, tenant_uuid: t-1, purpose: user, admin: false}\n"
    "  - token: demo-admin\n"                                   /* 8 */
    "    acl:\n"
    "      - websocketd\n"
    "    utc_expires_at: \"2030-01-01T00:00:00+00:00\"\n"
    "    metadata:\n"
    "      uuid: u-admin\n"
    "      tenant_uuid: t-1\n"
    "      admin: \"true\"\n"
    "  - token: svc\n"                                          /* 16 */
    "    expires_at: 2026-11-25T16:49:04.5Z\n"
    "    metadata: {uuid: null, tenant_uuid: t-master, purpose: internal}\n";

static void test_load_yaml(void **state)
{
    tf_dir t;
    char err[512];
    assert_int_equal(tf_init(&t), 0);
    const char *p = tf_write(&t, "tokens.yml", good_yaml);
    tbd_token_set *s = tbd_token_set_load(p, err, sizeof err);
    if (!s)
        fail_msg("%s", err);
    assert_int_equal(tbd_token_set_count(s), 3);

    tbd_token *a = tbd_token_set_find(s, "demo-alice");
    assert_non_null(a);
    assert_string_equal(a->token, "demo-alice");
    assert_string_equal(a->session_uuid, "s-alice");
    assert_string_equal(a->user_uuid, "u-alice");
    assert_string_equal(a->tenant_uuid, "t-1");
    assert_string_equal(a->purpose, "user");
    assert_false(a->admin);
    assert_int_equal(a->acl->n, 2);
    assert_string_equal(a->acl->entries[1], "events.#");
    assert_non_null(a->acl->compiled);
    assert_true(a->expires_at == 0);
    assert_false(tbd_token_expired(a, 4e9));
    assert_true(tbd_token_grants(a, NULL));

    tbd_token *b = tbd_token_set_find(s, "demo-admin");
    assert_non_null(b);
    assert_true(b->admin);
    assert_null(b->session_uuid);
    assert_null(b->purpose);
    assert_true(b->expires_at == 1893456000.0);
    assert_false(tbd_token_expired(b, 1893455999.0));
    assert_true(tbd_token_expired(b, 1893456000.0));

    tbd_token *c = tbd_token_set_find(s, "svc");
    assert_non_null(c);
    assert_null(c->user_uuid);
    assert_string_equal(c->tenant_uuid, "t-master");
    assert_true(c->expires_at == 1795625344.5);
    assert_int_equal(c->acl->n, 0);

    assert_null(tbd_token_set_find(s, "demo-bob"));
    assert_null(tbd_token_set_find(s, ""));
    assert_null(tbd_token_set_find(s, NULL));

    /* tokens outlive the set that handed them out */
    tbd_token_set *s2 = tbd_token_set_ref(s);
    tbd_token_set_unref(s);
    tbd_token_set_unref(s2);
    assert_string_equal(a->tenant_uuid, "t-1");
    tbd_token_unref(a);
    tbd_token_unref(b);
    tbd_token_unref(c);
    tf_cleanup(&t);
}

static void test_load_json_bare_list(void **state)
{
    tf_dir t;
    char err[512];
    assert_int_equal(tf_init(&t), 0);
    const char *p = tf_write(&t, "tokens.json",
                             "[\n"
                             " {\"token\": \"a\", \"acl\": [\"websocketd\"],\n"
                             "  \"metadata\": {\"uuid\": \"u\", \"tenant_uuid\": \"t\", \"admin\": true}},\n"
                             " {\"token\": \"b\", \"metadata\": {\"tenant_uuid\": \"t\"}}\n"
                             "]\n");
    tbd_token_set *s = tbd_token_set_load(p, err, sizeof err);
    if (!s)
        fail_msg("%s", err);
    assert_int_equal(tbd_token_set_count(s), 2);
    tbd_token *a = tbd_token_set_find(s, "a");
    assert_true(a->admin);
    tbd_token_unref(a);
    tbd_token_set_unref(s);
    tf_cleanup(&t);
}

static void test_many_tokens(void **state)
{
    tf_dir t;
    char err[512];
    size_t cap = 1000 * 80 + 16;
    char *doc = malloc(cap);
    size_t n = (size_t)snprintf(doc, cap, "tokens:\n");
    for (int i = 0; i < 1000; i++)
        n += (size_t)snprintf(doc + n, cap - n, "- {token: tok-%d, metadata: {tenant_uuid: t%d}}\n",
                              i, i % 7);
    assert_int_equal(tf_init(&t), 0);
    const char *p = tf_write(&t, "many.yml", doc);
    free(doc);
    tbd_token_set *s = tbd_token_set_load(p, err, sizeof err);
    if (!s)
        fail_msg("%s", err);
    assert_int_equal(tbd_token_set_count(s), 1000);
    for (int i = 0; i < 1000; i++) {
        char id[32], ten[8];
        snprintf(id, sizeof id, "tok-%d", i);
        snprintf(ten, sizeof ten, "t%d", i % 7);
        tbd_token *tk = tbd_token_set_find(s, id);
        assert_non_null(tk);
        assert_string_equal(tk->tenant_uuid, ten);
        tbd_token_unref(tk);
    }
    assert_null(tbd_token_set_find(s, "tok-1000"));
    tbd_token_set_unref(s);
    tf_cleanup(&t);
}

static void test_empty_sets(void **state)
{
    tf_dir t;
    char err[512];
    assert_int_equal(tf_init(&t), 0);
    const char *p = tf_write(&t, "a.yml", "tokens: []\n");
    tbd_token_set *s = tbd_token_set_load(p, err, sizeof err);
    assert_non_null(s);
    assert_int_equal(tbd_token_set_count(s), 0);
    assert_null(tbd_token_set_find(s, "x"));
    tbd_token_set_unref(s);
    p = tf_write(&t, "b.yml", "tokens:\n");
    s = tbd_token_set_load(p, err, sizeof err);
    assert_non_null(s);
    tbd_token_set_unref(s);
    tf_cleanup(&t);
}

typedef struct {
    const char *text;
    const char *want;     /* substring of the error after "<path>" */
} bad_case;

static void test_bad_files(void **state)
{
    static const bad_case cases[] = {
        { "tokens:\n"
          "  - token: a\n"
          "    metadata: {tenant_uuid: t}\n"
          "  - token: b\n"
          "    metadata: {tenant_uuid: t}\n"
          "  - token: a\n"
          "    metadata: {tenant_uuid: t}\n",
          ":6: tokens[2]: duplicate token id (first at line 2)" },
        { "tokens:\n"
          "  - token: a\n"
          "    metadata: {tenant_uuid: t}\n"
          "  - token: b\n"
          "    metadata: {uuid: u}\n",
          ":4: tokens[1]: metadata.tenant_uuid: missing" },
        { "tokens:\n  - token: a\n", ":2: tokens[0]: metadata.tenant_uuid: missing" },
        { "tokens:\n  - metadata: {tenant_uuid: t}\n", ":2: tokens[0]: token: missing" },
        { "tokens:\n  - {token: 12, metadata: {tenant_uuid: t}}\n",
          ":2: tokens[0]: token: expected a non-empty string" },
        { "tokens:\n  - {token: '', metadata: {tenant_uuid: t}}\n",
          ":2: tokens[0]: token: expected a non-empty string" },
        { "tokens:\n  - {token: a, acl: websocketd, metadata: {tenant_uuid: t}}\n",
          ":2: tokens[0]: acl: expected a list of strings" },
        { "tokens:\n  - {token: a, acl: [x, 1], metadata: {tenant_uuid: t}}\n",
          ":2: tokens[0]: acl[1]: expected a string" },
        { "tokens:\n  - {token: a, metadata: {tenant_uuid: t, admin: maybe}}\n",
          ":2: tokens[0]: metadata.admin: expected true or false" },
        { "tokens:\n  - {token: a, metadata: [1]}\n", ":2: tokens[0]: metadata: expected a mapping" },
        { "tokens:\n  - {token: a, utc_expires_at: tomorrow, metadata: {tenant_uuid: t}}\n",
          ":2: tokens[0]: utc_expires_at: expected an ISO 8601 date or null" },
        { "tokens:\n  - {token: a, expires_at: 12, metadata: {tenant_uuid: t}}\n",
          ":2: tokens[0]: expires_at: expected an ISO 8601 date or null" },
        { "tokens:\n  - 3\n", ":2: tokens[0]: expected a token object" },
        { "tokens: {a: 1}\n", ":1: expected a `tokens:` list" },
        { "hello\n", ":1: expected a `tokens:` list or a list of tokens" },
        { "{}\n", ":1: expected a `tokens:` list" },
        { "tokens: [\n", ":2:1: " },
    };
    tf_dir t;
    char err[512];
    assert_int_equal(tf_init(&t), 0);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "bad%zu.yml", i);
        const char *p = tf_write(&t, name, cases[i].text);
        err[0] = '\0';
        tbd_token_set *s = tbd_token_set_load(p, err, sizeof err);
        if (s)
            fail_msg("case %zu accepted", i);
        if (strncmp(err, p, strlen(p)) != 0 || !strstr(err + strlen(p), cases[i].want))
            fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, cases[i].want);
        /* the id of a duplicate (a credential) is never echoed */
        assert_null(strstr(err, "token id a"));
    }
    assert_null(tbd_token_set_load(tf_path(&t, "none.yml"), err, sizeof err));
    assert_non_null(strstr(err, "none.yml: No such file"));
    tf_cleanup(&t);
}

static void test_from_json_direct(void **state)
{
    char err[256];
    json_error_t je;
    json_t *o = json_loads("{\"token\": \"x\", \"session_uuid\": \"s\", \"acl\": [\"a\"],"
                           " \"utc_expires_at\": \"2026-11-25T16:49:04.123456+00:00\","
                           " \"expires_at\": \"garbage, ignored when utc_expires_at is there\","
                           " \"metadata\": {\"uuid\": \"u\", \"tenant_uuid\": \"t\","
                           " \"admin\": \"False\", \"pbx_user_uuid\": \"extra\"}}",
                           0, &je);
    assert_non_null(o);
    tbd_token *t = tbd_token_from_json(o, err, sizeof err);
    if (!t)
        fail_msg("%s", err);
    assert_false(t->admin);
    assert_true(t->expires_at > 1795625344.12 && t->expires_at < 1795625344.13);
    assert_ptr_equal(tbd_token_ref(t), t);
    tbd_token_unref(t);
    tbd_token_unref(t);
    json_decref(o);

    assert_null(tbd_token_from_json(NULL, err, sizeof err));
    o = json_array();
    assert_null(tbd_token_from_json(o, err, sizeof err));
    assert_string_equal(err, "expected a token object");
    json_decref(o);
    tbd_token_unref(NULL);
}

typedef struct {
    const char *s;
    int ok;
    double want;
} iso_case;

static void test_iso8601(void **state)
{
    static const iso_case cases[] = {
        { "2026-11-25T16:49:04+00:00", 1, 1795625344.0 },
        { "2026-11-25T16:49:04Z", 1, 1795625344.0 },
        { "2026-11-25t16:49:04z", 1, 1795625344.0 },
        { "2026-11-25T16:49:04", 1, 1795625344.0 },
        { "2026-11-25 16:49:04", 1, 1795625344.0 },
        { "2026-11-25T16:49:04.123456+00:00", 1, 1795625344.123456 },
        { "2026-11-25T16:49:04,5Z", 1, 1795625344.5 },
        { "2026-11-25T18:49:04+02:00", 1, 1795625344.0 },
        { "2026-11-25T14:19:04-0230", 1, 1795625344.0 },
        { "2026-11-25T17:49:04+01", 1, 1795625344.0 },
        { "2026-11-25T16:49", 1, 1795625340.0 },
        { "2024-02-29T12:00:00Z", 1, 1709208000.0 },
        { "2030-01-01T00:00:00.000000", 1, 1893456000.0 },
        { "2023-02-29T12:00:00Z", 0, 0 },
        { "2026-13-01T00:00:00Z", 0, 0 },
        { "2026-11-25", 0, 0 },
        { "2026-11-25T24:00:00Z", 0, 0 },
        { "2026-11-25T16:49:04.Z", 0, 0 },
        { "2026-11-25T16:49:04+25:00", 0, 0 },
        { "2026-11-25T16:49:04 UTC", 0, 0 },
        { "26-11-25T16:49:04Z", 0, 0 },
        { "", 0, 0 },
        { "tomorrow", 0, 0 },
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double v = -1;
        int rc = tbd_parse_iso8601(cases[i].s, &v);
        if (cases[i].ok) {
            if (rc != 0)
                fail_msg("%s: refused", cases[i].s);
            if (v < cases[i].want - 1e-5 || v > cases[i].want + 1e-5)
                fail_msg("%s: %f, want %f", cases[i].s, v, cases[i].want);
        } else if (rc == 0) {
            fail_msg("%s: accepted", cases[i].s);
        }
    }
    assert_int_equal(tbd_parse_iso8601(NULL, &(double){ 0 }), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_yaml),
        cmocka_unit_test(test_load_json_bare_list),
        cmocka_unit_test(test_many_tokens),
        cmocka_unit_test(test_empty_sets),
        cmocka_unit_test(test_bad_files),
        cmocka_unit_test(test_from_json_direct),
        cmocka_unit_test(test_iso8601),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
