/* JSON log records (daemon/core/log_json.c): typing of key=value fields, the
 * "detail" tail, escaping, truncation to the buffer. */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/log_json.h"

static json_t *fmt(const char *msg, size_t cap)
{
    char *out = malloc(cap);
    size_t n = tbd_log_json_format(out, cap, "2026-12-05T09:00:00.000Z", "info", msg, strlen(msg));
    assert_true(n <= cap);
    assert_null(memchr(out, '\n', n));
    json_error_t err;
    json_t *j = json_loadb(out, n, 0, &err);
    if (!j)
        fail_msg("not JSON: %.*s (%s)", (int)n, out, err.text);
    free(out);
    return j;
}

static void test_session_end(void **state)
{
    json_t *j = fmt("session end user=u1 tenant=t1 session=s1 code=4003 "
                    "reason=\"authentication expired\" duration=12.5s delivered=42", 4096);
    assert_string_equal(json_string_value(json_object_get(j, "time")), "2026-12-05T09:00:00.000Z");
    assert_string_equal(json_string_value(json_object_get(j, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(j, "msg")), "session end");
    assert_string_equal(json_string_value(json_object_get(j, "user")), "u1");
    assert_string_equal(json_string_value(json_object_get(j, "tenant")), "t1");
    assert_int_equal(json_integer_value(json_object_get(j, "code")), 4003);
    assert_string_equal(json_string_value(json_object_get(j, "reason")), "authentication expired");
    assert_true(json_real_value(json_object_get(j, "duration")) == 12.5);
    assert_int_equal(json_integer_value(json_object_get(j, "delivered")), 42);
    assert_int_equal(json_object_size(j), 10);
    json_decref(j);
}

static void test_types_and_detail(void **state)
{
    json_t *j = fmt("api refused peer=127.0.0.1:5 status=400 field=-: invalid JSON: x=1", 4096);
    assert_string_equal(json_string_value(json_object_get(j, "msg")), "api refused");
    assert_string_equal(json_string_value(json_object_get(j, "peer")), "127.0.0.1:5");
    assert_int_equal(json_integer_value(json_object_get(j, "status")), 400);
    assert_true(json_is_null(json_object_get(j, "field")));
    assert_string_equal(json_string_value(json_object_get(j, "detail")), "invalid JSON: x=1");
    json_decref(j);

    j = fmt("refused peer=1.2.3.4:9: unsupported version", 4096);
    assert_string_equal(json_string_value(json_object_get(j, "peer")), "1.2.3.4:9");
    assert_string_equal(json_string_value(json_object_get(j, "detail")), "unsupported version");
    json_decref(j);

    j = fmt("x admin=true purpose=user n=007 big=12345678901234567890 neg=-3", 4096);
    assert_true(json_is_true(json_object_get(j, "admin")));
    assert_string_equal(json_string_value(json_object_get(j, "n")), "007");
    assert_string_equal(json_string_value(json_object_get(j, "big")), "12345678901234567890");
    assert_int_equal(json_integer_value(json_object_get(j, "neg")), -3);
    json_decref(j);

    j = fmt("no fields at all: just text", 4096);
    assert_string_equal(json_string_value(json_object_get(j, "msg")), "no fields at all: just text");
    assert_int_equal(json_object_size(j), 3);
    json_decref(j);
}

static void test_first_key_wins_and_reserved(void **state)
{
    json_t *j = fmt("m code=1 code=2 level=debug msg=x time=y", 4096);
    assert_int_equal(json_integer_value(json_object_get(j, "code")), 1);
    assert_string_equal(json_string_value(json_object_get(j, "level")), "info");
    assert_string_equal(json_string_value(json_object_get(j, "msg")), "m");
    json_decref(j);
}

static void test_escaping(void **state)
{
    json_t *j = fmt("m q=\"a \\\"b\" ctl=\x01\x1f bad=\xc3\x28 ok=\xc3\xa9", 4096);
    assert_non_null(json_object_get(j, "ctl"));
    assert_string_equal(json_string_value(json_object_get(j, "ctl")), "\x01\x1f");
    /* the record holds invalid UTF-8: every high byte becomes '?' */
    assert_string_equal(json_string_value(json_object_get(j, "bad")), "?(");
    json_decref(j);
    j = fmt("m ok=\xc3\xa9", 4096);
    assert_string_equal(json_string_value(json_object_get(j, "ok")), "\xc3\xa9");
    json_decref(j);
}

static void test_truncation(void **state)
{
    char msg[3000];
    strcpy(msg, "long a=1 b=");
    memset(msg + strlen(msg), 'x', 2000);
    msg[11 + 2000] = '\0';
    json_t *j = fmt(msg, 200);
    assert_true(json_is_true(json_object_get(j, "truncated")));
    assert_int_equal(json_integer_value(json_object_get(j, "a")), 1);
    assert_null(json_object_get(j, "b"));
    json_decref(j);
    j = fmt(msg, 64);
    assert_true(json_is_true(json_object_get(j, "truncated")));
    json_decref(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_session_end),
        cmocka_unit_test(test_types_and_detail),
        cmocka_unit_test(test_first_key_wins_and_reserved),
        cmocka_unit_test(test_escaping),
        cmocka_unit_test(test_truncation),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
