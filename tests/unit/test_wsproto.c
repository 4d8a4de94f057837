/* wazo-websocketd client commands: every op, every malformed variant. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ws/wsproto.h"

static int decode_str(const char *s, tbd_wsp_cmd *cmd)
{
    /* Exactly sized heap copy, no NUL: the decoder must honour len. */
    size_t n = strlen(s);
    char *copy = malloc(n ? n : 1);
    memcpy(copy, s, n);
    int rc = tbd_wsp_decode(copy, n, cmd);
    free(copy);
    return rc;
}

static void expect_ok(const char *s, tbd_wsp_op op, const char *arg)
{
    tbd_wsp_cmd cmd;
    if (decode_str(s, &cmd) != 0)
        fail_msg("refused: %s", s);
    assert_int_equal(cmd.op, op);
    if (arg)
        assert_string_equal(cmd.arg, arg);
    else
        assert_null(cmd.arg);
    tbd_wsp_cmd_clear(&cmd);
    assert_null(cmd.arg);
}

static void test_subscribe(void **state)
{
    expect_ok("{\"op\":\"subscribe\",\"data\":{\"event_name\":\"chatd_user_room_created\"}}",
              TBD_WSP_SUBSCRIBE, "chatd_user_room_created");
    expect_ok("{\"op\": \"subscribe\", \"data\": {\"event_name\": \"*\"}}", TBD_WSP_SUBSCRIBE, "*");
    expect_ok("  {\"data\":{\"event_name\":\"x\",\"extra\":1},\"op\":\"subscribe\",\"more\":[]} \n",
              TBD_WSP_SUBSCRIBE, "x");
    expect_ok("{\"op\":\"subscribe\",\"data\":{\"event_name\":\"caf\\u00e9\"}}", TBD_WSP_SUBSCRIBE,
              "caf\xC3\xA9");
    expect_ok("{\"op\":\"subscribe\",\"data\":{\"event_name\":\"\"}}", TBD_WSP_SUBSCRIBE, "");
}

static void test_start(void **state)
{
    expect_ok("{\"op\":\"start\"}", TBD_WSP_START, NULL);
    expect_ok("{\"op\":\"start\",\"data\":null}", TBD_WSP_START, NULL);
    expect_ok("{\"op\":\"start\",\"data\":{}}", TBD_WSP_START, NULL);
    expect_ok("{\"op\":\"start\",\"data\":\"whatever\"}", TBD_WSP_START, NULL);
    expect_ok("{\"op\":\"start\",\"data\":[1,2]}", TBD_WSP_START, NULL);
}

static void test_token(void **state)
{
    expect_ok("{\"op\":\"token\",\"data\":{\"token\":\"5f7b1a44-0000-4000-8000-000000000001\"}}",
              TBD_WSP_TOKEN, "5f7b1a44-0000-4000-8000-000000000001");
}

static void test_ping(void **state)
{
    expect_ok("{\"op\":\"ping\",\"data\":{\"payload\":\"abc\"}}", TBD_WSP_PING, "abc");
    expect_ok("{\"op\":\"ping\",\"data\":{\"payload\":\"\"}}", TBD_WSP_PING, "");
}

static void test_duplicate_key_last_wins(void **state)
{
    expect_ok("{\"op\":\"ping\",\"op\":\"start\"}", TBD_WSP_START, NULL);
}

static const char *const bad[] = {
    "",
    " ",
    "not json",
    "{",
    "{\"op\":\"start\"",
    "{\"op\":\"start\"} x",
    "{\"op\":\"start\"}{\"op\":\"start\"}",
    "[]",
    "[{\"op\":\"start\"}]",
    "\"start\"",
    "42",
    "null",
    "true",
    "{}",
    "{\"data\":{}}",
    "{\"op\":null}",
    "{\"op\":1}",
    "{\"op\":true}",
    "{\"op\":[\"start\"]}",
    "{\"op\":{\"name\":\"start\"}}",
    "{\"op\":\"\"}",
    "{\"op\":\"unknown\"}",
    "{\"op\":\"Start\"}",
    "{\"op\":\"START\"}",
    "{\"op\":\"start \"}",
    "{\"op\":\"event\"}",
    "{\"op\":\"init\"}",
    "{\"op\":\"pong\",\"data\":{\"payload\":\"x\"}}",
    "{\"op\":\"start\\u0000\"}",
    "{'op':'start'}",
    /* subscribe */
    "{\"op\":\"subscribe\"}",
    "{\"op\":\"subscribe\",\"data\":null}",
    "{\"op\":\"subscribe\",\"data\":\"x\"}",
    "{\"op\":\"subscribe\",\"data\":[\"x\"]}",
    "{\"op\":\"subscribe\",\"data\":{}}",
    "{\"op\":\"subscribe\",\"data\":{\"event_name\":null}}",
    "{\"op\":\"subscribe\",\"data\":{\"event_name\":1}}",
    "{\"op\":\"subscribe\",\"data\":{\"event_name\":[\"a\"]}}",
    "{\"op\":\"subscribe\",\"data\":{\"event_name\":{}}}",
    "{\"op\":\"subscribe\",\"data\":{\"event_name\":true}}",
    "{\"op\":\"subscribe\",\"data\":{\"name\":\"x\"}}",
    "{\"op\":\"subscribe\",\"event_name\":\"x\"}",
    "{\"op\":\"subscribe\",\"data\":{\"event_name\":\"a\\u0000b\"}}",
    /* token */
    "{\"op\":\"token\"}",
    "{\"op\":\"token\",\"data\":null}",
    "{\"op\":\"token\",\"data\":\"tok\"}",
    "{\"op\":\"token\",\"data\":{}}",
    "{\"op\":\"token\",\"data\":{\"token\":null}}",
    "{\"op\":\"token\",\"data\":{\"token\":123}}",
    "{\"op\":\"token\",\"data\":{\"token\":{\"id\":\"x\"}}}",
    /* ping */
    "{\"op\":\"ping\"}",
    "{\"op\":\"ping\",\"data\":null}",
    "{\"op\":\"ping\",\"data\":\"x\"}",
    "{\"op\":\"ping\",\"data\":{}}",
    "{\"op\":\"ping\",\"data\":{\"payload\":null}}",
    "{\"op\":\"ping\",\"data\":{\"payload\":1}}",
    "{\"op\":\"ping\",\"data\":{\"payload\":{}}}",
    /* invalid UTF-8 inside JSON text */
    "{\"op\":\"subscribe\",\"data\":{\"event_name\":\"\xC0\xAF\"}}",
    "{\"op\":\"subscribe\",\"data\":{\"event_name\":\"\xED\xA0\x80\"}}",
};

static void test_malformed(void **state)
{
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tbd_wsp_cmd cmd;
        if (decode_str(bad[i], &cmd) != -1)
            fail_msg("accepted: %s", bad[i]);
        assert_null(cmd.arg); /* nothing to free on failure */
    }
}

static void test_raw_nul_bytes(void **state)
{
    tbd_wsp_cmd cmd;
    static const char a[] = "{\"op\":\"start\"}";
    /* Trailing NUL inside len. */
    assert_int_equal(tbd_wsp_decode(a, sizeof a, &cmd), -1);
    static const char b[] = "{\"op\":\"st\0art\"}";
    assert_int_equal(tbd_wsp_decode(b, sizeof b - 1, &cmd), -1);
    static const char d[] = "\0{\"op\":\"start\"}";
    assert_int_equal(tbd_wsp_decode(d, sizeof d - 1, &cmd), -1);
    static const char e[] = "{\"op\":\"start\"}\0";
    assert_int_equal(tbd_wsp_decode(e, sizeof e - 2, &cmd), 0); /* NUL outside len */
    assert_int_equal(tbd_wsp_decode(NULL, 0, &cmd), -1);
}

static void test_len_is_honoured(void **state)
{
    tbd_wsp_cmd cmd;
    static const char s[] = "{\"op\":\"start\"}garbage";
    assert_int_equal(tbd_wsp_decode(s, 14, &cmd), 0);
    assert_int_equal(cmd.op, TBD_WSP_START);
    assert_int_equal(tbd_wsp_decode(s, 13, &cmd), -1);
    assert_int_equal(tbd_wsp_decode(s, sizeof s - 1, &cmd), -1);
}

static void test_clear_is_idempotent(void **state)
{
    tbd_wsp_cmd cmd = { 0 };
    tbd_wsp_cmd_clear(&cmd);
    assert_int_equal(decode_str("{\"op\":\"ping\",\"data\":{\"payload\":\"p\"}}", &cmd), 0);
    tbd_wsp_cmd_clear(&cmd);
    tbd_wsp_cmd_clear(&cmd);
    assert_null(cmd.arg);
}

static void test_versions(void **state)
{
    assert_int_equal(tbd_wsp_parse_version(NULL), 1);
    assert_int_equal(tbd_wsp_parse_version("1"), 1);
    assert_int_equal(tbd_wsp_parse_version("2"), 2);
    static const char *const no[] = { "", "0", "3", "12", "21", "01", "1.0", "2.0", " 1", "1 ",
                                      "v2", "-1", "+2", "one", "1\n", "0x1" };
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (tbd_wsp_parse_version(no[i]) != -1)
            fail_msg("version \"%s\" accepted", no[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subscribe),
        cmocka_unit_test(test_start),
        cmocka_unit_test(test_token),
        cmocka_unit_test(test_ping),
        cmocka_unit_test(test_duplicate_key_last_wins),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_raw_nul_bytes),
        cmocka_unit_test(test_len_is_honoured),
        cmocka_unit_test(test_clear_is_idempotent),
        cmocka_unit_test(test_versions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
