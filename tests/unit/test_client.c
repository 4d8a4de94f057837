/* The client's pure parts: the AMQP header table it sends (byte for byte
 * what py-amqp, hence wazo-bus, sends: tests/fixtures/wazo_bus/
 * header_types.json), the table it decodes, and URL/config refusals (no
 * connection is made before a publish or a subscribe). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "tenbus/tenbus.h"
#include "tenbus/wire_amqp.h"

#ifndef TB_FIXTURES_DIR
#error TB_FIXTURES_DIR must name tests/fixtures
#endif

static json_t *fixture(const char *name)
{
    char path[1024];
    json_error_t je;
    json_t *j;

    snprintf(path, sizeof path, "%s/wazo_bus/%s", TB_FIXTURES_DIR, name);
    j = json_load_file(path, 0, &je);
    if (!j)
        fail_msg("%s: %s", path, je.text);
    return j;
}

static void table_hex(const amqp_table_t *t, char *out, size_t out_size)
{
    uint8_t buf[4096];
    size_t off = 0;

    assert_int_equal(amqp_encode_table((amqp_bytes_t){.len = sizeof buf, .bytes = buf},
                                       (amqp_table_t *)t, &off), AMQP_STATUS_OK);
    assert_true(2 * off < out_size);
    for (size_t i = 0; i < off; i++)
        sprintf(out + 2 * i, "%02x", buf[i]);
    out[2 * off] = '\0';
}

static void test_header_types_match_py_amqp(void **state)
{
    json_t *fx = fixture("header_types.json");
    amqp_pool_t pool;
    amqp_table_t t;
    char got[8193];

    (void)state;
    init_amqp_pool(&pool, 1024);
    assert_int_equal(tb_amqp_table_from_json(json_object_get(fx, "headers"), &pool, &t), TB_OK);
    /* The fixture holds py-amqp's "F" value: the 4-byte length, then the
     * entries, which is what amqp_encode_table writes. */
    table_hex(&t, got, sizeof got);
    assert_string_equal(got, json_string_value(json_object_get(fx, "py_amqp_table_hex")));
    empty_amqp_pool(&pool);
    json_decref(fx);
}

/* The same values as an event's extra headers, through the codec's AMQP
 * sink (what tb_client_publish and tenbusd's RabbitMQ publisher send): the
 * extra entries are byte for byte py-amqp's. */
static void test_codec_sink_types_match_py_amqp(void **state)
{
    json_t *fx = fixture("header_types.json"), *h = json_object_get(fx, "headers");
    const char *names[32], *k;
    json_t *v;
    size_t n = 0;
    tb_event *ev;
    amqp_pool_t pool;
    amqp_table_t t, extra;
    tb_wire_text body = {0};
    char got[8193];

    (void)state;
    json_object_foreach(h, k, v)
        names[n++] = k;
    names[n] = NULL;
    tb_event_type type = {.name = "typed", .level = TB_LEVEL_SERVICE, .extra_fields = names};
    tb_event_args args = {.fields = h};
    assert_int_equal(tb_event_new(&type, &args, NULL, &ev), TB_OK);
    init_amqp_pool(&pool, 1024);
    assert_int_equal(tb_wire_amqp(tb_event_wire(ev), &pool, &t, &body), TB_OK);
    /* name, origin_uuid, timestamp, required_access, required_acl, then the extras. */
    assert_int_equal(t.num_entries, 5 + (int)n);
    extra = (amqp_table_t){.num_entries = (int)n, .entries = t.entries + 5};
    table_hex(&extra, got, sizeof got);
    assert_string_equal(got, json_string_value(json_object_get(fx, "py_amqp_table_hex")));
    assert_int_equal(t.entries[1].value.kind, AMQP_FIELD_KIND_VOID); /* origin_uuid, unset */
    tb_wire_text_free(&body);
    empty_amqp_pool(&pool);
    tb_event_free(ev);
    json_decref(fx);
}

static void test_decode_round_trip_keeps_values(void **state)
{
    json_t *fx = fixture("header_types.json"), *h = json_object_get(fx, "headers"), *back;
    amqp_pool_t pool;
    amqp_table_t t;

    (void)state;
    init_amqp_pool(&pool, 1024);
    assert_int_equal(tb_amqp_table_from_json(h, &pool, &t), TB_OK);
    back = tb_amqp_table_to_json(&t);
    assert_non_null(back);
    /* 'L' (beyond 32 bits, negative included) reads back signed, as py-amqp reads it. */
    assert_true(json_equal(h, back));
    json_decref(back);
    empty_amqp_pool(&pool);
    json_decref(fx);
}

static void test_decode_leaves_out_what_json_cannot_hold(void **state)
{
    amqp_table_entry_t e[4] = {
        {.key = amqp_cstring_bytes("bad"), .value = {.kind = AMQP_FIELD_KIND_UTF8,
                                                     .value.bytes = {2, "\xff\xfe"}}},
        {.key = amqp_cstring_bytes("nan"), .value = {.kind = AMQP_FIELD_KIND_F64,
                                                     .value.f64 = __builtin_nan("")}},
        {.key = amqp_cstring_bytes("nul"), .value = {.kind = AMQP_FIELD_KIND_UTF8,
                                                     .value.bytes = {3, "a\0b"}}},
        {.key = amqp_cstring_bytes("ok"), .value = {.kind = AMQP_FIELD_KIND_VOID}},
    };
    amqp_table_t t = {.num_entries = 4, .entries = e};
    json_t *j = tb_amqp_table_to_json(&t);

    (void)state;
    assert_non_null(j);
    assert_int_equal(json_object_size(j), 1);
    assert_true(json_is_null(json_object_get(j, "ok")));
    json_decref(j);
}

static void test_encode_refuses(void **state)
{
    amqp_pool_t pool;
    amqp_table_t t;
    char key[300];
    json_t *o = json_object(), *deep = json_object(), *arr = json_array();

    (void)state;
    init_amqp_pool(&pool, 1024);
    memset(key, 'k', sizeof key - 1);
    key[sizeof key - 1] = '\0';
    json_object_set_new(o, key, json_true());
    assert_int_equal(tb_amqp_table_from_json(o, &pool, &t), TB_EINVAL);  /* key over 255 bytes */
    assert_int_equal(tb_amqp_table_from_json(arr, &pool, &t), TB_EINVAL); /* not an object */
    for (int i = 0; i < TB_AMQP_MAX_DEPTH + 2; i++) {
        json_t *w = json_object();
        json_object_set_new(w, "d", deep);
        deep = w;
    }
    assert_int_equal(tb_amqp_table_from_json(deep, &pool, &t), TB_EINVAL);
    empty_amqp_pool(&pool);
    json_decref(o);
    json_decref(deep);
    json_decref(arr);
}

static tb_err new_client(const char *url, char *err, size_t errlen)
{
    tb_client_config cfg = {.url = url, .errbuf = err, .errbuf_size = errlen};
    tb_client *c = NULL;
    tb_err rc;

    err[0] = '\0';
    rc = tb_client_new(&cfg, &c);
    tb_client_free(c);
    return rc;
}

static void test_urls(void **state)
{
    static const char *good[] = {
        "amqp://guest:guest@localhost:5672/", "amqp://localhost", "amqp://h:1/%2F",
        "amqp://u%40x:p%3Aw@h/vh", "amqp://[::1]:5672/", "amqp://u@h", "amqp://h/",
    };
    static const char *bad[] = {
        "http://h/", "amqps://h/", "wss://h:9502", "ws://u@h:9502", "amqp://h:0/", "amqp://h:70000/",
        "amqp://h:x/", "amqp://h/%zz", "amqp://u:%0@h/", "amqp://h/v%00x", "amqp://[::1/",
        "amqp://h/?heartbeat=1", "",
    };
    char err[256];

    (void)state;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (new_client(good[i], err, sizeof err) != TB_OK)
            fail_msg("%s refused: %s", good[i], err);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        if (new_client(bad[i], err, sizeof err) != TB_EURL)
            fail_msg("%s accepted", bad[i]);
        assert_true(err[0] != '\0'); /* a message says what is wrong */
    }
}

static void test_ws_needs_a_token(void **state)
{
    tb_client_config cfg = {.url = "ws://127.0.0.1:9502/prefix/"};
    tb_client *c = NULL;

    (void)state;
    assert_int_equal(tb_client_new(&cfg, &c), TB_EINVAL);
    cfg.token = "t";
    assert_int_equal(tb_client_new(&cfg, &c), TB_OK);
    tb_client_free(c);
}

static void test_api_refusals(void **state)
{
    tb_client_config cfg = {.url = "amqp://127.0.0.1:1/"}; /* nothing listens on port 1 */
    tb_client *c;
    json_t *f = json_pack("{s:s}", "name", "x");
    unsigned id;

    (void)state;
    assert_int_equal(tb_client_new(NULL, &c), TB_EINVAL);
    assert_int_equal(tb_client_new(&cfg, &c), TB_OK);
    assert_int_equal(tb_client_publish(c, NULL), TB_EINVAL);
    assert_int_equal(tb_client_process(c, 0), TB_EINVAL); /* no subscription */
    assert_int_equal(tb_client_subscribe(c, "x", f, true, NULL, NULL, &id), TB_EINVAL);
    assert_int_equal(tb_client_unsubscribe(c, 99), TB_EINVAL);
    assert_int_equal(tb_client_fd(c), -1);
    assert_int_equal(tb_client_timeout(c), -1);
    assert_true(strstr(tb_client_errmsg(c), "99") != NULL);
    json_decref(f);
    tb_client_free(c);
}

static int noop(const tb_message *m, void *arg)
{
    (void)m;
    (void)arg;
    return 0;
}

static void test_connection_refused_is_reported(void **state)
{
    tb_client_config cfg = {.url = "amqp://127.0.0.1:1/", .timeout_ms = 2000};
    tb_client *c;
    tb_event_type type = {.name = "n"};
    tb_event *ev;

    (void)state;
    assert_int_equal(tb_client_new(&cfg, &c), TB_OK);
    assert_int_equal(tb_event_new(&type, NULL, NULL, &ev), TB_OK);
    assert_int_equal(tb_client_publish(c, ev), TB_ECONN);
    assert_true(strstr(tb_client_errmsg(c), "cannot connect") != NULL);
    assert_int_equal(tb_client_subscribe(c, "n", NULL, true, noop, NULL, NULL), TB_ECONN);
    assert_int_equal(tb_client_process(c, 0), TB_EINVAL); /* the failed subscription is not kept */
    tb_event_free(ev);
    tb_client_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_types_match_py_amqp),
        cmocka_unit_test(test_codec_sink_types_match_py_amqp),
        cmocka_unit_test(test_decode_round_trip_keeps_values),
        cmocka_unit_test(test_decode_leaves_out_what_json_cannot_hold),
        cmocka_unit_test(test_encode_refuses),
        cmocka_unit_test(test_urls),
        cmocka_unit_test(test_ws_needs_a_token),
        cmocka_unit_test(test_api_refusals),
        cmocka_unit_test(test_connection_refused_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
