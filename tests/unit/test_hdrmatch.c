/* Headers-exchange matching (lib/hdrmatch.c), RabbitMQ semantics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "tenbus/tenbus.h"

/* Parses both sides from JSON text so each case reads like a binding. */
static bool match(const char *binding, const char *headers)
{
    json_t *b = json_loads(binding, JSON_DECODE_ANY, NULL);
    json_t *h = json_loads(headers, JSON_DECODE_ANY, NULL);
    bool r;

    assert_non_null(b);
    assert_non_null(h);
    r = tb_hdr_match(b, h);
    json_decref(b);
    json_decref(h);
    return r;
}

#define EVENT_HEADERS                                                                      \
    "{\"name\": \"call_created\", \"origin_uuid\": \"o1\", \"tenant_uuid\": \"t1\","      \
    " \"user_uuid:u1\": true, \"count\": 3, \"x-death\": \"d\"}"

static void test_all_is_default(void **state)
{
    (void)state;
    assert_true(match("{\"name\": \"call_created\", \"origin_uuid\": \"o1\"}", EVENT_HEADERS));
    assert_true(match("{\"x-match\": \"all\", \"name\": \"call_created\"}", EVENT_HEADERS));
    assert_false(match("{\"name\": \"call_created\", \"origin_uuid\": \"o2\"}", EVENT_HEADERS));
    assert_false(match("{\"name\": \"call_created\", \"absent\": \"x\"}", EVENT_HEADERS));
    assert_false(match("{\"x-match\": \"all\", \"name\": \"other\"}", EVENT_HEADERS));
    /* nothing to compare: "all" holds vacuously */
    assert_true(match("{}", EVENT_HEADERS));
    assert_true(match("{\"x-match\": \"all\"}", "{}"));
}

static void test_any(void **state)
{
    (void)state;
    assert_true(match("{\"x-match\": \"any\", \"name\": \"nope\", \"tenant_uuid\": \"t1\"}",
                      EVENT_HEADERS));
    assert_false(match("{\"x-match\": \"any\", \"name\": \"nope\", \"tenant_uuid\": \"t2\"}",
                       EVENT_HEADERS));
    assert_false(match("{\"x-match\": \"any\", \"absent\": null}", EVENT_HEADERS));
    /* no comparable key: "any" matches nothing */
    assert_false(match("{\"x-match\": \"any\"}", EVENT_HEADERS));
    assert_false(match("{\"x-match\": \"any\", \"x-death\": \"d\"}", EVENT_HEADERS));
}

static void test_null_means_presence(void **state)
{
    (void)state;
    assert_true(match("{\"user_uuid:u1\": null}", EVENT_HEADERS));
    assert_true(match("{\"name\": null, \"count\": null}", EVENT_HEADERS));
    assert_false(match("{\"user_uuid:u2\": null}", EVENT_HEADERS));
    assert_true(match("{\"acl\": null}", "{\"acl\": null}"));
    /* a null header value is not equal to a non-null binding value */
    assert_false(match("{\"acl\": \"x\"}", "{\"acl\": null}"));
}

static void test_types_must_agree(void **state)
{
    (void)state;
    assert_false(match("{\"count\": \"3\"}", EVENT_HEADERS));
    assert_false(match("{\"user_uuid:u1\": \"true\"}", EVENT_HEADERS));
    assert_false(match("{\"user_uuid:u1\": 1}", EVENT_HEADERS));
    assert_true(match("{\"user_uuid:u1\": true}", EVENT_HEADERS));
    assert_false(match("{\"f\": false}", "{\"f\": 0}"));
    assert_true(match("{\"a\": [1, {\"b\": \"c\"}]}", "{\"a\": [1, {\"b\": \"c\"}]}"));
    assert_false(match("{\"a\": [1, 2]}", "{\"a\": [2, 1]}"));
    assert_false(match("{\"o\": {\"b\": 1}}", "{\"o\": {\"b\": 1, \"c\": 2}}"));
}

/* Integers and reals compare by value, at any depth, without double rounding. */
static void test_numbers_compare_by_value(void **state)
{
    (void)state;
    assert_true(match("{\"count\": 3.0}", EVENT_HEADERS));
    assert_true(match("{\"n\": 3}", "{\"n\": 3.0}"));
    assert_false(match("{\"count\": 3.5}", EVENT_HEADERS));
    assert_true(match("{\"a\": [1, {\"b\": 2}]}", "{\"a\": [1.0, {\"b\": 2.0}]}"));
    assert_false(match("{\"n\": 9007199254740993}", "{\"n\": 9007199254740992.0}"));
    assert_true(match("{\"n\": 9007199254740992}", "{\"n\": 9007199254740992.0}"));
    assert_false(match("{\"n\": 1}", "{\"n\": 1e300}"));
    assert_true(match("{\"n\": 0.25}", "{\"n\": 0.25}"));
}

static void test_x_keys(void **state)
{
    (void)state;
    /* ignored by all / any */
    assert_true(match("{\"x-death\": \"other\", \"name\": \"call_created\"}", EVENT_HEADERS));
    assert_true(match("{\"x-anything\": 1}", "{}"));
    /* compared by the -with-x variants (x-match itself never is) */
    assert_false(match("{\"x-match\": \"all-with-x\", \"x-death\": \"other\"}", EVENT_HEADERS));
    assert_true(match("{\"x-match\": \"all-with-x\", \"x-death\": \"d\", \"tenant_uuid\": \"t1\"}",
                      EVENT_HEADERS));
    assert_true(match("{\"x-match\": \"any-with-x\", \"x-death\": \"d\", \"name\": \"zz\"}",
                      EVENT_HEADERS));
    assert_false(match("{\"x-match\": \"any-with-x\", \"x-death\": \"e\", \"name\": \"zz\"}",
                       EVENT_HEADERS));
    /* an x-match header on the message has no effect */
    assert_true(match("{\"name\": \"n\"}", "{\"name\": \"n\", \"x-match\": \"any\"}"));
}

static void test_bad_x_match(void **state)
{
    (void)state;
    assert_false(match("{\"x-match\": \"none\", \"name\": \"call_created\"}", EVENT_HEADERS));
    assert_false(match("{\"x-match\": 1, \"name\": \"call_created\"}", EVENT_HEADERS));
    assert_false(match("{\"x-match\": \"ALL\", \"name\": \"call_created\"}", EVENT_HEADERS));
}

static void test_non_objects(void **state)
{
    json_t *h = json_pack("{s:s}", "name", "n");
    json_t *b = json_pack("{s:s}", "name", "n");

    (void)state;
    assert_true(tb_hdr_match(b, h));
    assert_false(tb_hdr_match(NULL, h));
    assert_false(tb_hdr_match(b, NULL));
    assert_false(tb_hdr_match(NULL, NULL));
    assert_false(match("[\"name\"]", "{\"name\": \"n\"}"));
    assert_false(match("{}", "\"name\""));
    assert_false(match("{}", "null"));
    json_decref(h);
    json_decref(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_is_default),
        cmocka_unit_test(test_any),
        cmocka_unit_test(test_null_means_presence),
        cmocka_unit_test(test_types_must_agree),
        cmocka_unit_test(test_numbers_compare_by_value),
        cmocka_unit_test(test_x_keys),
        cmocka_unit_test(test_bad_x_match),
        cmocka_unit_test(test_non_objects),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
