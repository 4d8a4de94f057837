/* AMQP delivery -> message without jansson (daemon/amqp_msg.c) and the
 * body scan under it (daemon/json_scan.c): every header kind as the routing
 * fields see it, user flags, required_acl, the name fallback, the drop
 * reasons, and agreement with the jansson path it replaced
 * (tests/fuzz/amqp_oracle.h) on tricky tables and bodies. Every decode in
 * this file is also run through the old path and must agree with it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "../fuzz/amqp_oracle.h"
#include "amqp_fields.h"
#include "route/amqp_msg.h"
#include "route/json_scan.h"

#define STACK "4c1ad1ee-0000-4000-8000-00000000c0de"

static tbd_json_scanner *scan;

/* ---- building tables ---- */

typedef struct tbl {
    amqp_table_entry_t e[64];
    amqp_table_t t;
} tbl;

static amqp_field_value_t fstr(const char *s)
{
    return fbytes(AMQP_FIELD_KIND_UTF8, s, strlen(s));
}

static amqp_field_value_t fbool(int b)
{
    amqp_field_value_t v = fv(AMQP_FIELD_KIND_BOOLEAN);
    v.value.boolean = b;
    return v;
}

static amqp_field_value_t fu64(char kind, uint64_t u)
{
    amqp_field_value_t v = fv(kind);
    v.value.u64 = u;
    return v;
}

static amqp_field_value_t ff64(double d)
{
    amqp_field_value_t v = fv(AMQP_FIELD_KIND_F64);
    v.value.f64 = d;
    return v;
}

static amqp_field_value_t fi32(int32_t i)
{
    amqp_field_value_t v = fv(AMQP_FIELD_KIND_I32);
    v.value.i32 = i;
    return v;
}

static void add_key(tbl *t, const char *key, size_t klen, amqp_field_value_t v)
{
    assert_true(t->t.num_entries < 64);
    amqp_table_entry_t *e = &t->e[t->t.num_entries++];
    e->key.bytes = (void *)key;
    e->key.len = klen;
    e->value = v;
    t->t.entries = t->e;
}

static void add(tbl *t, const char *key, amqp_field_value_t v)
{
    add_key(t, key, strlen(key), v);
}

static void init(tbl *t)
{
    memset(t, 0, sizeof(*t));
    t->t.entries = t->e;
}

/* A table with the headers every deliverable event has, but no name. */
static void init_routable(tbl *t)
{
    init(t);
    add(t, "origin_uuid", fstr(STACK));
    add(t, "tenant_uuid", fstr("t1"));
    add(t, "required_acl", fstr("events.x"));
}

/* ---- decoding (always checked against the jansson path) ---- */

static tbd_amqp_verdict decode_len(const tbl *t, const char *body, size_t len, tbd_msg **m)
{
    tbd_amqp_verdict v;
    const char *diff = oracle_compare(scan, t ? &t->t : NULL, body, len, STACK, &v);
    if (diff)
        fail_msg("differs from the jansson path (%s) on body %.*s", diff, (int)len, body);
    tbd_amqp_verdict again = tbd_amqp_msg_decode(scan, t ? &t->t : NULL, body, len, STACK, m);
    assert_int_equal(again, v);
    return v;
}

static tbd_amqp_verdict decode(const tbl *t, const char *body, tbd_msg **m)
{
    return decode_len(t, body, strlen(body), m);
}

static tbd_msg *decode_ok(const tbl *t, const char *body)
{
    tbd_msg *m;
    assert_int_equal(decode(t, body, &m), TBD_AMQP_OK);
    assert_non_null(m);
    return m;
}

static tbd_amqp_verdict verdict(const tbl *t, const char *body)
{
    tbd_msg *m;
    tbd_amqp_verdict v = decode(t, body, &m);
    assert_true((v == TBD_AMQP_OK) == (m != NULL));
    tbd_msg_unref(m);
    return v;
}

static void assert_users(const tbd_msg *m, const char *const *want, size_t n)
{
    assert_int_equal(m->n_users, n);
    for (size_t i = 0; i < n; i++)
        assert_string_equal(m->user_uuids[i], want[i]);
}

static int setup(void **state)
{
    (void)state;
    scan = tbd_json_scanner_new();
    return scan ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tbd_json_scanner_free(scan);
    return 0;
}

/* ---- tests ---- */

static void routable_event(void **state)
{
    (void)state;
    tbl t;
    init_routable(&t);
    add(&t, "name", fstr("call_created"));
    add(&t, "user_uuid:u1", fbool(1));
    const char *body = "{\"name\": \"ignored\", \"data\": {\"x\": [1, 2.5, null]}}";
    tbd_msg *m = decode_ok(&t, body);
    assert_string_equal(m->name, "call_created");
    assert_true(m->origin_ok);
    assert_true(m->has_acl);
    assert_string_equal(m->required_acl, "events.x");
    assert_string_equal(m->tenant_uuid, "t1");
    assert_false(m->all_users);
    assert_users(m, (const char *[]){"u1"}, 1);
    assert_true(tbd_msg_deliverable(m));
    /* v1 is the body byte for byte (after the 2-byte frame header). */
    assert_int_equal(m->v1->len, 2 + strlen(body));
    assert_memory_equal(m->v1->data + 2, body, strlen(body));
    tbd_msg_unref(m);
}

/* Each kind a `name` / `tenant_uuid` header can have, as the JSON
 * conversion turns it: only strings count, and a timestamp above
 * INT64_MAX becomes its decimal string ('L', py-amqp's 64-bit integer, is
 * read signed: a number). */
static void header_kinds(void **state)
{
    (void)state;
    struct {
        amqp_field_value_t v;
        const char *want;   /* the field, NULL = not a string */
    } cases[] = {
        {fstr("s"), "s"},
        {fbytes(AMQP_FIELD_KIND_BYTES, "bytes", 5), "bytes"},
        {fbytes(AMQP_FIELD_KIND_UTF8, NULL, 0), ""},
        {fu64(AMQP_FIELD_KIND_U64, UINT64_MAX), NULL},
        {fu64(AMQP_FIELD_KIND_TIMESTAMP, (uint64_t)INT64_MAX + 1), "9223372036854775808"},
        {fu64(AMQP_FIELD_KIND_U64, 42), NULL},
        {fu64(AMQP_FIELD_KIND_TIMESTAMP, 1700000000), NULL},
        {fi32(7), NULL},
        {fbool(1), NULL},
        {fbool(0), NULL},
        {ff64(1.5), NULL},
        {ff64(NAN), NULL},
        {fv(AMQP_FIELD_KIND_VOID), NULL},
        {fv(AMQP_FIELD_KIND_TABLE), NULL},
        {fv(AMQP_FIELD_KIND_ARRAY), NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tbl t;
        init(&t);
        add(&t, "name", cases[i].v);
        add(&t, "tenant_uuid", cases[i].v);
        tbd_msg *m = decode_ok(&t, "{\"name\": \"from_body\"}");
        if (cases[i].want) {
            assert_string_equal(m->name, cases[i].want);
            assert_string_equal(m->tenant_uuid, cases[i].want);
        } else {
            assert_string_equal(m->name, "from_body");
            assert_null(m->tenant_uuid);
        }
        tbd_msg_unref(m);
    }
}

/* Entries the conversion leaves out (string not UTF-8 or with NUL, unknown
 * kind, key not UTF-8) do not count: an earlier entry of the key stands. */
static void left_out_entries_do_not_count(void **state)
{
    (void)state;
    tbl t;
    init(&t);
    add(&t, "name", fstr("first"));
    add(&t, "name", fbytes(AMQP_FIELD_KIND_UTF8, "\xff", 1));
    add(&t, "tenant_uuid", fstr("t1"));
    add(&t, "tenant_uuid", fbytes(AMQP_FIELD_KIND_BYTES, "t\0x", 3));
    add(&t, "required_acl", fstr("acl"));
    add(&t, "required_acl", fv('?'));
    add(&t, "user_uuid:u1", fbool(1));
    add(&t, "user_uuid:u1", fbytes(AMQP_FIELD_KIND_UTF8, "\xc0\x80", 2));
    add(&t, "user_uuid:\xff", fbool(1));
    add_key(&t, "user_uuid:a\0b", 13, fbool(1));
    tbd_msg *m = decode_ok(&t, "{}");
    assert_string_equal(m->name, "first");
    assert_string_equal(m->tenant_uuid, "t1");
    assert_string_equal(m->required_acl, "acl");
    assert_users(m, (const char *[]){"u1"}, 1);
    tbd_msg_unref(m);
}

/* Of several entries with one key, the last one kept wins, whatever its type. */
static void last_entry_wins(void **state)
{
    (void)state;
    tbl t;
    init(&t);
    add(&t, "name", fstr("a"));
    add(&t, "name", fstr("b"));
    add(&t, "tenant_uuid", fstr("t1"));
    add(&t, "tenant_uuid", fi32(1));
    tbd_msg *m = decode_ok(&t, "{}");
    assert_string_equal(m->name, "b");
    assert_null(m->tenant_uuid);
    tbd_msg_unref(m);
}

/* user_uuid:<u> counts only as boolean true: not "true", not 1, not false. */
static void user_flags_only_when_true(void **state)
{
    (void)state;
    tbl t;
    init_routable(&t);
    add(&t, "name", fstr("n"));
    add(&t, "user_uuid:yes", fbool(1));
    add(&t, "user_uuid:no", fbool(0));
    add(&t, "user_uuid:str", fstr("true"));
    add(&t, "user_uuid:int", fi32(1));
    add(&t, "user_uuid:null", fv(AMQP_FIELD_KIND_VOID));
    add(&t, "user_uuid:", fbool(1));         /* an empty uuid is a uuid */
    add(&t, "user_uuid", fbool(1));          /* no colon: not a user header */
    add(&t, "USER_UUID:upper", fbool(1));
    tbd_msg *m = decode_ok(&t, "{}");
    assert_false(m->all_users);
    assert_users(m, (const char *[]){"yes", ""}, 2);
    tbd_msg_unref(m);

    init_routable(&t);
    add(&t, "name", fstr("n"));
    add(&t, "user_uuid:*", fstr("true"));
    m = decode_ok(&t, "{}");
    assert_false(m->all_users);
    tbd_msg_unref(m);

    init_routable(&t);
    add(&t, "name", fstr("n"));
    add(&t, "user_uuid:*", fbool(1));
    add(&t, "user_uuid:u1", fbool(1));
    m = decode_ok(&t, "{}");
    assert_true(m->all_users);
    assert_users(m, (const char *[]){"u1"}, 1);
    tbd_msg_unref(m);
}

/* Repeated user keys: one user each, the last kept value decides, listed
 * where the key first appeared (as a jansson object keeps them). */
static void user_duplicates(void **state)
{
    (void)state;
    tbl t;
    init_routable(&t);
    add(&t, "name", fstr("n"));
    add(&t, "user_uuid:c", fbool(1));
    add(&t, "user_uuid:a", fbool(1));
    add(&t, "user_uuid:b", fbool(0));
    add(&t, "user_uuid:a", fbool(1));
    add(&t, "user_uuid:c", fbool(0));     /* c: true then false -> out */
    add(&t, "user_uuid:b", fbool(1));     /* b: false then true -> in, at b's first place */
    add(&t, "user_uuid:a", fv('?'));      /* left out: a stays true */
    add(&t, "user_uuid:*", fbool(1));
    add(&t, "user_uuid:*", fbool(0));
    tbd_msg *m = decode_ok(&t, "{}");
    assert_false(m->all_users);
    assert_users(m, (const char *[]){"a", "b"}, 2);
    tbd_msg_unref(m);

    /* More users than the decoder holds without malloc. */
    static char keys[40][32];
    init_routable(&t);
    add(&t, "name", fstr("n"));
    for (int i = 0; i < 40; i++) {
        snprintf(keys[i], sizeof(keys[i]), "user_uuid:u%02d", 39 - i);
        add(&t, keys[i], fbool(i % 3 != 0));
    }
    m = decode_ok(&t, "{}");
    assert_int_equal(m->n_users, 26);
    assert_string_equal(m->user_uuids[0], "u38");
    tbd_msg_unref(m);
}

/* required_acl: a string, or null (void) = no ACL needed; absent, left
 * out (NaN/inf floats have no JSON form) or any other type = has_acl false
 * (the event must reach nobody). */
static void required_acl_kinds(void **state)
{
    (void)state;
    struct {
        bool present;
        amqp_field_value_t v;
        bool has_acl;
        const char *acl;
    } cases[] = {
        {false, {0}, false, NULL},
        {true, fstr("events.x"), true, "events.x"},
        {true, fbytes(AMQP_FIELD_KIND_UTF8, NULL, 0), true, ""},
        {true, fv(AMQP_FIELD_KIND_VOID), true, NULL},
        {true, ff64(NAN), false, NULL},
        {true, ff64(INFINITY), false, NULL},
        {true, fi32(0), false, NULL},
        {true, fbool(1), false, NULL},
        {true, fbool(0), false, NULL},
        {true, fv(AMQP_FIELD_KIND_TABLE), false, NULL},
        {true, fv(AMQP_FIELD_KIND_ARRAY), false, NULL},
        {true, fbytes(AMQP_FIELD_KIND_UTF8, "\xff", 1), false, NULL},   /* left out */
        {true, fu64(AMQP_FIELD_KIND_U64, UINT64_MAX), false, NULL},     /* 'L': -1 */
        {true, fu64(AMQP_FIELD_KIND_TIMESTAMP, UINT64_MAX), true, "18446744073709551615"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tbl t;
        init(&t);
        add(&t, "name", fstr("n"));
        if (cases[i].present)
            add(&t, "required_acl", cases[i].v);
        tbd_msg *m = decode_ok(&t, "{}");
        assert_int_equal(m->has_acl, cases[i].has_acl);
        if (cases[i].acl)
            assert_string_equal(m->required_acl, cases[i].acl);
        else
            assert_null(m->required_acl);
        tbd_msg_unref(m);
    }
}

static void origin_uuid(void **state)
{
    (void)state;
    struct {
        amqp_field_value_t v;
        bool ok;
    } cases[] = {
        {fstr(STACK), true},
        {fbytes(AMQP_FIELD_KIND_BYTES, STACK, strlen(STACK)), true},
        {fstr("other"), false},
        {fbytes(AMQP_FIELD_KIND_UTF8, STACK, strlen(STACK) - 1), false},   /* a prefix */
        {fstr(STACK "x"), false},
        {fbool(1), false},
        {fv(AMQP_FIELD_KIND_VOID), false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tbl t;
        init(&t);
        add(&t, "name", fstr("n"));
        add(&t, "origin_uuid", cases[i].v);
        tbd_msg *m = decode_ok(&t, "{}");
        assert_int_equal(m->origin_ok, cases[i].ok);
        tbd_msg_unref(m);
    }
    /* Without a stack uuid nothing is from our stack. */
    tbl t;
    init(&t);
    add(&t, "name", fstr("n"));
    add(&t, "origin_uuid", fstr(STACK));
    tbd_msg *m;
    assert_int_equal(tbd_amqp_msg_decode(scan, &t.t, "{}", 2, NULL, &m), TBD_AMQP_OK);
    assert_false(m->origin_ok);
    tbd_msg_unref(m);
}

/* The body's top-level "name" string stands in for a header name that is
 * not a string; nested or non-string names do not. */
static void name_fallback_to_body(void **state)
{
    (void)state;
    tbl t;
    init_routable(&t);
    tbd_msg *m = decode_ok(&t, "{\"name\": \"body\"}");
    assert_string_equal(m->name, "body");
    tbd_msg_unref(m);
    m = decode_ok(NULL, "{\"a\": {\"name\": 1}, \"name\": \"n\\u00e9\\\"q\"}");
    assert_string_equal(m->name, "n\xc3\xa9\"q");   /* decoded from escapes */
    tbd_msg_unref(m);
    m = decode_ok(&t, "{\"name\": \"first\", \"name\": \"last\"}");
    assert_string_equal(m->name, "last");
    tbd_msg_unref(m);
    m = decode_ok(&t, "{\"nam\\u0065\": \"escaped key\"}");
    assert_string_equal(m->name, "escaped key");
    tbd_msg_unref(m);
    m = decode_ok(&t, "{\"name\": \"\"}");
    assert_string_equal(m->name, "");
    tbd_msg_unref(m);

    add(&t, "name", fi32(3));
    m = decode_ok(&t, "{\"name\": \"body\"}");
    assert_string_equal(m->name, "body");
    tbd_msg_unref(m);

    init_routable(&t);
    assert_int_equal(verdict(&t, "{}"), TBD_AMQP_NO_NAME);
    assert_int_equal(verdict(&t, "{\"name\": 1}"), TBD_AMQP_NO_NAME);
    assert_int_equal(verdict(&t, "{\"name\": null}"), TBD_AMQP_NO_NAME);
    assert_int_equal(verdict(&t, "{\"name\": \"s\", \"name\": {}}"), TBD_AMQP_NO_NAME);
    assert_int_equal(verdict(&t, "{\"data\": {\"name\": \"nested\"}}"), TBD_AMQP_NO_NAME);
    assert_int_equal(verdict(NULL, "{\"Name\": \"case\"}"), TBD_AMQP_NO_NAME);
    add(&t, "name", fv(AMQP_FIELD_KIND_VOID));
    assert_int_equal(verdict(&t, "{}"), TBD_AMQP_NO_NAME);
}

static void drop_reasons(void **state)
{
    (void)state;
    tbl t;
    init_routable(&t);
    add(&t, "name", fstr("n"));
    const char *not_json[] = {"", " ", "{", "{\"a\":}", "{} x", "{}{}", "nul", "{'a': 1}",
                              "{\"a\": 1,}", "[1,]", "{\"a\" 1}", "\xef\xbb\xbf{}", "{} \"open",
                              "{\"a\": 01}", "{\"a\": .5}", "{\"a\": 1.}", "{\"a\": +1}",
                              "{\"a\": NaN}", "/* c */ {}", "{\"a\": \"\\x\"}"};
    for (size_t i = 0; i < sizeof(not_json) / sizeof(not_json[0]); i++)
        assert_int_equal(verdict(&t, not_json[i]), TBD_AMQP_BODY_NOT_JSON);
    const char *not_object[] = {"[]", "[{\"name\": \"x\"}]", "\"name\"", "1", "-0.5e3", "true",
                                "null", " \t\r\n[1] \n"};
    for (size_t i = 0; i < sizeof(not_object) / sizeof(not_object[0]); i++)
        assert_int_equal(verdict(&t, not_object[i]), TBD_AMQP_BODY_NOT_OBJECT);
    assert_string_equal(tbd_amqp_verdict_reason(TBD_AMQP_BODY_NOT_JSON), "body_not_json");
    assert_string_equal(tbd_amqp_verdict_reason(TBD_AMQP_BODY_NOT_OBJECT), "body_not_object");
    assert_string_equal(tbd_amqp_verdict_reason(TBD_AMQP_NO_NAME), "no_name");
    /* A NUL byte in the body (the length says where it ends, not NUL). */
    assert_int_equal(decode_len(&t, "{}\0", 3, &(tbd_msg *){NULL}), TBD_AMQP_BODY_NOT_JSON);
}

/* The one deliberate difference from jansson: it skips a NUL byte right
 * after a number or a literal; the body is refused here. */
static void nul_after_number(void **state)
{
    (void)state;
    static const char body[] = "{\"name\": \"n\", \"a\": 1\0, \"b\": [true\0]}";
    json_t *j = json_loadb(body, sizeof(body) - 1, JSON_DECODE_ANY, NULL);
    assert_non_null(j);   /* if jansson stops skipping it, this test can go */
    json_decref(j);
    tbd_msg *m;
    assert_int_equal(tbd_amqp_msg_decode(scan, NULL, body, sizeof(body) - 1, STACK, &m),
                     TBD_AMQP_BODY_NOT_JSON);
    assert_null(m);
}

/* What yajl would let through and jansson refuses must still be dropped as
 * body_not_json; what both accept must pass. */
static void body_equivalence(void **state)
{
    (void)state;
    tbl t;
    init_routable(&t);
    add(&t, "name", fstr("n"));
    struct {
        const char *body;
        tbd_amqp_verdict want;
    } cases[] = {
        /* \u escapes */
        {"{\"a\": \"\\u0000\"}", TBD_AMQP_BODY_NOT_JSON},
        {"{\"\\u0000\": 1}", TBD_AMQP_BODY_NOT_JSON},
        {"{\"a\": \"\\ud800\"}", TBD_AMQP_BODY_NOT_JSON},
        {"{\"a\": \"\\ud800x\"}", TBD_AMQP_BODY_NOT_JSON},
        {"{\"a\": \"\\ud800\\u0041\"}", TBD_AMQP_BODY_NOT_JSON},
        {"{\"a\": \"\\ud800\\ud800\"}", TBD_AMQP_BODY_NOT_JSON},
        {"{\"a\": \"\\udc00\"}", TBD_AMQP_BODY_NOT_JSON},
        {"{\"a\": \"\\ud83d\\ude00\"}", TBD_AMQP_OK},
        {"{\"a\": \"\\uDBFF\\uDFFF\"}", TBD_AMQP_OK},
        {"{\"a\": \"\\\\u0000\"}", TBD_AMQP_OK},     /* an escaped backslash, then text */
        {"{\"a\": \"\\u00\"}", TBD_AMQP_BODY_NOT_JSON},
        {"{\"a\": \"\\\"\", \"b\": \"\\/\\b\\f\\n\\r\\t\"}", TBD_AMQP_OK},
        /* UTF-8 */
        {"{\"a\": \"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"}", TBD_AMQP_OK},
        {"{\"a\": \"\xc0\x80\"}", TBD_AMQP_BODY_NOT_JSON},            /* overlong NUL */
        {"{\"a\": \"\xe0\x80\xaf\"}", TBD_AMQP_BODY_NOT_JSON},        /* overlong */
        {"{\"a\": \"\xed\xa0\x80\"}", TBD_AMQP_BODY_NOT_JSON},        /* a surrogate */
        {"{\"a\": \"\xf4\x90\x80\x80\"}", TBD_AMQP_BODY_NOT_JSON},    /* above U+10FFFF */
        {"{\"a\": \"\xf8\x88\x80\x80\x80\"}", TBD_AMQP_BODY_NOT_JSON},
        {"{\"a\": \"\x80\"}", TBD_AMQP_BODY_NOT_JSON},
        {"{\"a\": \"\xc3\"}", TBD_AMQP_BODY_NOT_JSON},
        {"{\"a\": \"\x7f\"}", TBD_AMQP_OK},
        /* whitespace and control characters */
        {"{\v}", TBD_AMQP_BODY_NOT_JSON},
        {"{}\f", TBD_AMQP_BODY_NOT_JSON},
        {"{\"a\": \"\t\"}", TBD_AMQP_BODY_NOT_JSON},
        {"\r\n\t {\"a\" :\n[ ]\r}\t", TBD_AMQP_OK},
        /* numbers */
        {"{\"a\": 9223372036854775807, \"b\": -9223372036854775808}", TBD_AMQP_OK},
        {"{\"a\": 9223372036854775808}", TBD_AMQP_BODY_NOT_JSON},
        {"{\"a\": -9223372036854775809}", TBD_AMQP_BODY_NOT_JSON},
        {"{\"a\": 10000000000000000000000}", TBD_AMQP_BODY_NOT_JSON},
        {"{\"a\": 1e308, \"b\": 1.7976931348623157e308, \"c\": -1.7976931348623158e308}", TBD_AMQP_OK},
        {"{\"a\": 1.7976931348623159e308}", TBD_AMQP_BODY_NOT_JSON},
        {"{\"a\": 17976931348623159e292}", TBD_AMQP_BODY_NOT_JSON},
        {"{\"a\": 0.00017976931348623157e312}", TBD_AMQP_OK},
        {"{\"a\": 1e309}", TBD_AMQP_BODY_NOT_JSON},
        {"{\"a\": -1E+400}", TBD_AMQP_BODY_NOT_JSON},
        {"{\"a\": 1e-400, \"b\": 0e99999999999999999999, \"c\": 0.0}", TBD_AMQP_OK},
        {"{\"a\": 1e-99999999999999999999999}", TBD_AMQP_OK},
        {"{\"a\": 1e99999999999999999999999}", TBD_AMQP_BODY_NOT_JSON},
        {"{\"a\": -0, \"b\": 0.5e-3, \"c\": 123.456E+2}", TBD_AMQP_OK},
        /* duplicate keys, literals */
        {"{\"a\": 1, \"a\": 2, \"b\": [true, false, null, {}, []]}", TBD_AMQP_OK},
        {"{\"a\": tru}", TBD_AMQP_BODY_NOT_JSON},
        {"{\"a\": True}", TBD_AMQP_BODY_NOT_JSON},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tbd_amqp_verdict v = verdict(&t, cases[i].body);
        if (v != cases[i].want)
            fail_msg("body %s: verdict %s, want %s", cases[i].body, tbd_amqp_verdict_reason(v),
                     tbd_amqp_verdict_reason(cases[i].want));
    }
}

/* jansson refuses a value deeper than 2048 (the top-level value is 1). */
static void nesting_limit(void **state)
{
    (void)state;
    enum { N = TBD_JSON_MAX_DEPTH + 2 };
    char *b = malloc(2 * N + 16);
    assert_non_null(b);
    for (int depth = TBD_JSON_MAX_DEPTH - 1; depth <= TBD_JSON_MAX_DEPTH + 1; depth++) {
        /* `depth` nested arrays, empty: the innermost at depth `depth`. */
        size_t n = 0;
        for (int i = 0; i < depth; i++)
            b[n++] = '[';
        for (int i = 0; i < depth; i++)
            b[n++] = ']';
        tbd_msg *m;
        tbd_amqp_verdict v = decode_len(NULL, b, n, &m);
        assert_int_equal(v, depth <= TBD_JSON_MAX_DEPTH ? TBD_AMQP_BODY_NOT_OBJECT
                                                        : TBD_AMQP_BODY_NOT_JSON);
        /* An object holding `depth - 1` arrays around a scalar: the scalar
         * is at depth `depth + 1`. */
        n = 0;
        n += (size_t)sprintf(b, "{\"name\":\"n\",\"a\":");
        for (int i = 0; i < depth - 1; i++)
            b[n++] = '[';
        b[n++] = '1';
        for (int i = 0; i < depth - 1; i++)
            b[n++] = ']';
        b[n++] = '}';
        v = decode_len(NULL, b, n, &m);
        assert_int_equal(v, depth + 1 <= TBD_JSON_MAX_DEPTH ? TBD_AMQP_OK : TBD_AMQP_BODY_NOT_JSON);
        tbd_msg_unref(m);
    }
    free(b);
}

/* The scanner is reused message after message: large strings and escapes
 * (yajl's buffers outgrow the arena), then small ones again. */
static void scanner_reuse(void **state)
{
    (void)state;
    size_t big = 100000;
    char *b = malloc(big + 64);
    assert_non_null(b);
    for (int round = 0; round < 3; round++) {
        int n = sprintf(b, "{\"pad\": \"");
        for (size_t i = 0; i < big; i++)
            b[n++] = i % 7 ? 'x' : 'y';
        n += sprintf(b + n, "\\n\", \"name\": \"big\\u00e9\"}");
        tbd_msg *m;
        assert_int_equal(decode_len(NULL, b, (size_t)n, &m), TBD_AMQP_OK);
        assert_string_equal(m->name, "big\xc3\xa9");
        tbd_msg_unref(m);
        m = decode_ok(NULL, "{\"name\": \"small\\t\"}");
        assert_string_equal(m->name, "small\t");
        tbd_msg_unref(m);
    }
    free(b);
}

/* The jansson path and the new one on a set of tables crossed with bodies. */
static void differential(void **state)
{
    (void)state;
    const char *bodies[] = {
        "{}", "{\"name\": \"b\"}", "{\"name\": \"b\", \"name\": 2}", "{\"name\": \"\\u00e9\"}",
        "{\"name\": \"\\ud800\"}", "[]", "\"s\"", "", "{\"name\": \"x\"} ,", "{\"data\": [1e400]}",
        "{\"data\": {\"name\": \"n\"}, \"name\": [\"n\"]}", "{\"user_uuid:u1\": true}",
        "{\"name\": \"\xf0\x9f\x98\x80\"}", "{\"a\":\"\\\\\",\"name\":\"after escaped backslash\"}",
        "{\"a\": \"\\\"\"} \"", "{\"n\": -9223372036854775808, \"name\": \"ok\"}",
    };
    tbl tables[6];
    init(&tables[0]);
    init_routable(&tables[1]);
    add(&tables[1], "name", fstr("h"));
    add(&tables[1], "user_uuid:u1", fbool(1));
    init_routable(&tables[2]);
    add(&tables[2], "name", fu64(AMQP_FIELD_KIND_U64, UINT64_MAX));
    add(&tables[2], "required_acl", fv(AMQP_FIELD_KIND_VOID));
    add(&tables[2], "user_uuid:*", fbool(1));
    init(&tables[3]);
    add(&tables[3], "name", fbytes(AMQP_FIELD_KIND_UTF8, "\xed\xa0\x80", 3));
    add(&tables[3], "origin_uuid", fbytes(AMQP_FIELD_KIND_BYTES, STACK, strlen(STACK)));
    add(&tables[3], "required_acl", ff64(NAN));
    add(&tables[3], "user_uuid:u2", fbool(1));
    add(&tables[3], "user_uuid:u1", fbool(1));
    add(&tables[3], "user_uuid:u2", fbool(1));
    init(&tables[4]);
    add(&tables[4], "name", fv(AMQP_FIELD_KIND_TABLE));
    add(&tables[4], "tenant_uuid", fu64(AMQP_FIELD_KIND_TIMESTAMP, UINT64_MAX - 1));
    add(&tables[4], "required_acl", fi32(1));
    for (size_t b = 0; b < sizeof(bodies) / sizeof(bodies[0]); b++) {
        for (int i = 0; i < 5; i++)
            verdict(&tables[i], bodies[b]);
        verdict(NULL, bodies[b]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(routable_event),
        cmocka_unit_test(header_kinds),
        cmocka_unit_test(left_out_entries_do_not_count),
        cmocka_unit_test(last_entry_wins),
        cmocka_unit_test(user_flags_only_when_true),
        cmocka_unit_test(user_duplicates),
        cmocka_unit_test(required_acl_kinds),
        cmocka_unit_test(origin_uuid),
        cmocka_unit_test(name_fallback_to_body),
        cmocka_unit_test(drop_reasons),
        cmocka_unit_test(nul_after_number),
        cmocka_unit_test(body_equivalence),
        cmocka_unit_test(nesting_limit),
        cmocka_unit_test(scanner_reuse),
        cmocka_unit_test(differential),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
