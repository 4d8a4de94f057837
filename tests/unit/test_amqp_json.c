/* AMQP field tables <-> JSON (lib/wire_amqp.c): every field kind to
 * JSON, JSON to typed fields and back, and entries that must be left out
 * rather than guessed (they could widen who sees an event). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "amqp_fields.h"
#include <tenbus/wire_amqp.h>

static amqp_table_entry_t entry(const char *key, amqp_field_value_t v)
{
    amqp_table_entry_t e = {.key = amqp_cstring_bytes(key), .value = v};
    return e;
}

static void assert_json_eq(json_t *got, const char *want_text)
{
    json_t *want = json_loads(want_text, JSON_DECODE_ANY, NULL);
    assert_non_null(want);
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_SORT_KEYS | JSON_COMPACT | JSON_ENCODE_ANY);
        fail_msg("got %s, want %s", g, want_text);
    }
    json_decref(want);
}

static void every_kind_to_json(void **state)
{
    (void)state;
    amqp_table_entry_t e[32];
    int n = 0;
    amqp_field_value_t v;
    v = fv(AMQP_FIELD_KIND_BOOLEAN); v.value.boolean = 1; e[n++] = entry("user_uuid:x", v);
    v = fv(AMQP_FIELD_KIND_BOOLEAN); v.value.boolean = 0; e[n++] = entry("f", v);
    v = fv(AMQP_FIELD_KIND_I8); v.value.i8 = -8; e[n++] = entry("i8", v);
    v = fv(AMQP_FIELD_KIND_U8); v.value.u8 = 200; e[n++] = entry("u8", v);
    v = fv(AMQP_FIELD_KIND_I16); v.value.i16 = -300; e[n++] = entry("i16", v);
    v = fv(AMQP_FIELD_KIND_U16); v.value.u16 = 60000; e[n++] = entry("u16", v);
    v = fv(AMQP_FIELD_KIND_I32); v.value.i32 = INT32_MIN; e[n++] = entry("i32", v);
    v = fv(AMQP_FIELD_KIND_U32); v.value.u32 = UINT32_MAX; e[n++] = entry("u32", v);
    v = fv(AMQP_FIELD_KIND_I64); v.value.i64 = INT64_MIN; e[n++] = entry("i64", v);
    v = fv(AMQP_FIELD_KIND_U64); v.value.u64 = 42; e[n++] = entry("u64", v);
    v = fv(AMQP_FIELD_KIND_U64); v.value.u64 = UINT64_MAX; e[n++] = entry("u64big", v);
    v = fv(AMQP_FIELD_KIND_TIMESTAMP); v.value.u64 = 1700000000; e[n++] = entry("ts", v);
    v = fv(AMQP_FIELD_KIND_F32); v.value.f32 = 0.5f; e[n++] = entry("f32", v);
    v = fv(AMQP_FIELD_KIND_F64); v.value.f64 = -2.25; e[n++] = entry("f64", v);
    v = fv(AMQP_FIELD_KIND_F64); v.value.f64 = NAN; e[n++] = entry("nan", v);
    v = fv(AMQP_FIELD_KIND_DECIMAL); v.value.decimal.decimals = 2; v.value.decimal.value = 314;
    e[n++] = entry("dec", v);
    e[n++] = entry("s", fbytes(AMQP_FIELD_KIND_UTF8, "caf\xc3\xa9", 5));
    e[n++] = entry("x", fbytes(AMQP_FIELD_KIND_BYTES, "bytes", 5));
    e[n++] = entry("empty", fbytes(AMQP_FIELD_KIND_UTF8, NULL, 0));
    e[n++] = entry("void", fv(AMQP_FIELD_KIND_VOID));
    amqp_table_entry_t inner[1] = {entry("k", fbytes(AMQP_FIELD_KIND_UTF8, "v", 1))};
    v = fv(AMQP_FIELD_KIND_TABLE); v.value.table.num_entries = 1; v.value.table.entries = inner;
    e[n++] = entry("t", v);
    amqp_field_value_t arr[3] = {fv(AMQP_FIELD_KIND_I32), fbytes(AMQP_FIELD_KIND_UTF8, "\xff", 1),
                                 fv(AMQP_FIELD_KIND_VOID)};
    arr[0].value.i32 = 7;
    v = fv(AMQP_FIELD_KIND_ARRAY); v.value.array.num_entries = 3; v.value.array.entries = arr;
    e[n++] = entry("a", v);

    amqp_table_t t = {.num_entries = n, .entries = e};
    json_t *j = tb_amqp_table_to_json(&t);
    assert_non_null(j);
    assert_json_eq(j, "{\"user_uuid:x\": true, \"f\": false, \"i8\": -8, \"u8\": 200, \"i16\": -300,"
                      " \"u16\": 60000, \"i32\": -2147483648, \"u32\": 4294967295,"
                      " \"i64\": -9223372036854775808, \"u64\": 42, \"u64big\": -1,"
                      " \"ts\": 1700000000, \"f32\": 0.5, \"f64\": -2.25, \"dec\": 3.14,"
                      " \"s\": \"caf\\u00e9\", \"x\": \"bytes\", \"empty\": \"\", \"void\": null,"
                      " \"t\": {\"k\": \"v\"}, \"a\": [7, null, null]}");
    json_decref(j);
}

/* Strings that are not valid UTF-8 or hold NUL, bad keys, unknown kinds:
 * the entry is left out, never turned into null (null required_acl = "no
 * ACL needed") nor truncated. */
static void unrepresentable_entries_left_out(void **state)
{
    (void)state;
    amqp_table_entry_t e[6];
    e[0] = entry("required_acl", fbytes(AMQP_FIELD_KIND_BYTES, "\xff\xfe", 2));
    e[1] = entry("tenant_uuid", fbytes(AMQP_FIELD_KIND_UTF8, "t1\0t2", 5));
    e[2].key.bytes = "bad\xffkey";
    e[2].key.len = 7;
    e[2].value = fbytes(AMQP_FIELD_KIND_UTF8, "v", 1);
    e[3].key.bytes = "nul\0key";
    e[3].key.len = 7;
    e[3].value = fbytes(AMQP_FIELD_KIND_UTF8, "v", 1);
    e[4] = entry("weird", fv('?'));
    e[5] = entry("name", fbytes(AMQP_FIELD_KIND_UTF8, "ok", 2));
    amqp_table_t t = {.num_entries = 6, .entries = e};
    json_t *j = tb_amqp_table_to_json(&t);
    assert_json_eq(j, "{\"name\": \"ok\"}");
    json_decref(j);
}

static void duplicate_keys_last_wins(void **state)
{
    (void)state;
    amqp_table_entry_t e[2] = {entry("name", fbytes(AMQP_FIELD_KIND_UTF8, "a", 1)),
                               entry("name", fbytes(AMQP_FIELD_KIND_UTF8, "b", 1))};
    amqp_table_t t = {.num_entries = 2, .entries = e};
    json_t *j = tb_amqp_table_to_json(&t);
    assert_json_eq(j, "{\"name\": \"b\"}");
    json_decref(j);
}

static void too_deep_left_out(void **state)
{
    (void)state;
    enum { N = TB_AMQP_MAX_DEPTH + 3 };
    amqp_table_entry_t e[N];
    for (int i = 0; i < N; i++) {
        amqp_field_value_t v = fv(AMQP_FIELD_KIND_TABLE);
        v.value.table.num_entries = i + 1 < N ? 1 : 0;
        v.value.table.entries = i + 1 < N ? &e[i + 1] : NULL;
        e[i] = entry("d", v);
    }
    amqp_table_entry_t top[2] = {e[0], entry("name", fbytes(AMQP_FIELD_KIND_UTF8, "n", 1))};
    amqp_table_t t = {.num_entries = 2, .entries = top};
    json_t *j = tb_amqp_table_to_json(&t);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "n");
    /* The chain is cut where it gets too deep, not dropped whole. */
    json_t *cur = json_object_get(j, "d");
    int depth = 0;
    while (json_is_object(cur) && json_object_get(cur, "d")) {
        cur = json_object_get(cur, "d");
        depth++;
    }
    assert_true(depth >= TB_AMQP_MAX_DEPTH - 1 && depth <= TB_AMQP_MAX_DEPTH);
    json_decref(j);
}

static void from_json_types(void **state)
{
    (void)state;
    json_t *h = json_loads("{\"name\": \"evt\", \"user_uuid:u1\": true, \"off\": false,"
                           " \"n\": 12345678901, \"r\": 1.5, \"z\": null,"
                           " \"o\": {\"k\": [1, \"two\"]}}", 0, NULL);
    assert_non_null(h);
    amqp_pool_t pool;
    init_amqp_pool(&pool, 1024);
    amqp_table_t t;
    assert_int_equal(tb_amqp_table_from_json(h, &pool, &t), TB_OK);
    assert_int_equal(t.num_entries, 7);
    for (int i = 0; i < t.num_entries; i++) {
        char key[64];
        snprintf(key, sizeof(key), "%.*s", (int)t.entries[i].key.len, (char *)t.entries[i].key.bytes);
        char kind = (char)t.entries[i].value.kind;
        if (!strcmp(key, "name"))
            assert_int_equal(kind, AMQP_FIELD_KIND_UTF8);
        else if (!strcmp(key, "user_uuid:u1") || !strcmp(key, "off"))
            assert_int_equal(kind, AMQP_FIELD_KIND_BOOLEAN);
        else if (!strcmp(key, "n"))   /* beyond 32 bits: py-amqp's 'L' */
            assert_int_equal(kind, AMQP_FIELD_KIND_U64);
        else if (!strcmp(key, "r"))
            assert_int_equal(kind, AMQP_FIELD_KIND_F64);
        else if (!strcmp(key, "z"))
            assert_int_equal(kind, AMQP_FIELD_KIND_VOID);
        else if (!strcmp(key, "o"))
            assert_int_equal(kind, AMQP_FIELD_KIND_TABLE);
        else
            fail_msg("unexpected key %s", key);
    }
    /* Round trip: the same JSON comes back. */
    json_t *back = tb_amqp_table_to_json(&t);
    assert_true(json_equal(back, h));
    json_decref(back);
    empty_amqp_pool(&pool);
    json_decref(h);
}

static void from_json_refusals(void **state)
{
    (void)state;
    amqp_pool_t pool;
    init_amqp_pool(&pool, 1024);
    amqp_table_t t;
    json_t *arr = json_array();
    assert_int_equal(tb_amqp_table_from_json(arr, &pool, &t), TB_EINVAL);   /* not an object */
    json_decref(arr);
    /* a key longer than a shortstr */
    char key[300];
    memset(key, 'k', sizeof(key) - 1);
    key[sizeof(key) - 1] = 0;
    json_t *o = json_object();
    json_object_set_new(o, key, json_true());
    assert_int_equal(tb_amqp_table_from_json(o, &pool, &t), TB_EINVAL);
    json_decref(o);
    /* too deep */
    json_t *deep = json_object();
    for (int i = 0; i < TB_AMQP_MAX_DEPTH + 2; i++) {
        json_t *w = json_object();
        json_object_set_new(w, "d", deep);
        deep = w;
    }
    assert_int_equal(tb_amqp_table_from_json(deep, &pool, &t), TB_EINVAL);
    json_decref(deep);
    /* empty object: an empty table */
    json_t *empty = json_object();
    assert_int_equal(tb_amqp_table_from_json(empty, &pool, &t), TB_OK);
    assert_int_equal(t.num_entries, 0);
    json_decref(empty);
    empty_amqp_pool(&pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_kind_to_json),
        cmocka_unit_test(unrepresentable_entries_left_out),
        cmocka_unit_test(duplicate_keys_last_wins),
        cmocka_unit_test(too_deep_left_out),
        cmocka_unit_test(from_json_types),
        cmocka_unit_test(from_json_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
