/* Event model (lib/event.c): generated headers per level, body envelope,
 * routing keys and ACLs, and every error code. */
#define _GNU_SOURCE /* strptime, timegm */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tenbus/tenbus.h"

#define ORIGIN "0f0f0f0f-0000-4000-8000-000000000001"
#define TENANT "7e7e7e7e-0000-4000-8000-000000000002"
#define USER1 "a1a1a1a1-0000-4000-8000-000000000003"
#define USER2 "b2b2b2b2-0000-4000-8000-000000000004"
#define USER3 "c3c3c3c3-0000-4000-8000-000000000005"

/* A poisoned pointer: error paths must leave *out exactly as it was. */
#define UNTOUCHED ((tb_event *)(uintptr_t)0xdeadbeef)

static void assert_json_eq(const json_t *got, const json_t *want)
{
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_SORT_KEYS | JSON_ENCODE_ANY);
        char *w = json_dumps(want, JSON_SORT_KEYS | JSON_ENCODE_ANY);
        print_error("got  %s\nwant %s\n", g, w);
        free(g);
        free(w);
        fail();
    }
}

/* "2024-05-06T07:08:09.123456+00:00", no more than a minute from now. */
static void assert_timestamp(const json_t *ts)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddddd+00:00";
    const char *s = json_string_value(ts);
    struct tm tm = {0};

    assert_non_null(s);
    assert_int_equal(strlen(s), strlen(shape));
    for (size_t i = 0; shape[i]; i++) {
        if (shape[i] == 'd')
            assert_true(isdigit((unsigned char)s[i]));
        else
            assert_int_equal(s[i], shape[i]);
    }
    assert_non_null(strptime(s, "%Y-%m-%dT%H:%M:%S", &tm));
    assert_true(labs((long)(timegm(&tm) - time(NULL))) < 60);
}

/* Checks the timestamp, then compares the rest of the headers exactly. */
static void assert_headers(const tb_event *ev, const json_t *want)
{
    json_t *h = json_deep_copy(tb_event_headers(ev));

    assert_non_null(h);
    assert_timestamp(json_object_get(h, "timestamp"));
    assert_int_equal(json_object_del(h, "timestamp"), 0);
    assert_json_eq(h, want);
    json_decref(h);
}

/* The body is every header (same values) plus "data". */
static void assert_body(const tb_event *ev, const json_t *data)
{
    json_t *want = json_deep_copy(tb_event_headers(ev));

    assert_non_null(want);
    json_object_set(want, "data", (json_t *)data);
    assert_json_eq(tb_event_body(ev), want);
    json_decref(want);
}

static void test_service_level(void **state)
{
    static const tb_event_type type = {
        .service = "calld", .name = "call_log_created", .level = TB_LEVEL_SERVICE,
        .routing_key_fmt = "call_logs.{call_id}.created",
    };
    json_t *content = json_pack("{s:s}", "call_id", "17.42");
    tb_event_args a = {.content = content, .tenant_uuid = TENANT};
    tb_event *ev = NULL;
    json_t *want;

    (void)state;
    assert_int_equal(tb_event_new(&type, &a, ORIGIN, &ev), TB_OK);
    assert_string_equal(tb_event_name(ev), "call_log_created");
    assert_string_equal(tb_event_routing_key(ev), "call_logs.17__DOT__42.created");
    assert_string_equal(tb_event_required_acl(ev), "events.call_logs.17__DOT__42.created");
    /* no addressing headers at all, even though a tenant was passed */
    want = json_pack("{s:s, s:s, s:s, s:s}", "name", "call_log_created", "origin_uuid", ORIGIN,
                     "required_access", "event.call_log_created", "required_acl",
                     "events.call_logs.17__DOT__42.created");
    assert_headers(ev, want);
    assert_body(ev, content);
    json_decref(want);
    json_decref(content);
    tb_event_free(ev);
}

static void test_tenant_level(void **state)
{
    static const tb_event_type type = {
        .name = "user_created", .level = TB_LEVEL_TENANT,
        .routing_key_fmt = "config.user.created",
    };
    tb_event_args a = {.tenant_uuid = TENANT};
    tb_event *ev = NULL;
    json_t *want, *empty = json_object();

    (void)state;
    assert_int_equal(tb_event_new(&type, &a, ORIGIN, &ev), TB_OK);
    want = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "name", "user_created", "origin_uuid",
                     ORIGIN, "required_access", "event.user_created", "required_acl",
                     "events.config.user.created", "tenant_uuid", TENANT, "user_uuid:*", 1);
    assert_headers(ev, want);
    assert_body(ev, empty); /* NULL content => {} */
    json_decref(want);
    json_decref(empty);
    tb_event_free(ev);
}

/* The DESIGN.md / event.h example. */
static void test_user_level_do_something(void **state)
{
    static const tb_event_type do_something = {
        .service = "confd", .name = "do_something", .level = TB_LEVEL_USER,
        .routing_key_fmt = "config.{user_uuid}",
    };
    json_t *data = json_pack("{s:s, s:i}", "what", "it", "count", 3);
    tb_event_args a = {.tenant_uuid = TENANT, .user_uuid = USER1, .content = data};
    tb_event *ev = NULL;
    json_t *want;

    (void)state;
    assert_int_equal(tb_event_new(&do_something, &a, ORIGIN, &ev), TB_OK);
    assert_string_equal(tb_event_routing_key(ev), "config." USER1);
    assert_string_equal(tb_event_required_acl(ev), "events.config." USER1);
    want = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b}", "name", "do_something", "origin_uuid",
                     ORIGIN, "required_access", "event.do_something", "required_acl",
                     "events.config." USER1, "tenant_uuid", TENANT, "user_uuid:" USER1, 1);
    assert_headers(ev, want);
    assert_body(ev, data);
    json_decref(want);
    json_decref(data);
    tb_event_free(ev);
}

static void test_multi_user_level(void **state)
{
    static const tb_event_type type = {
        .name = "chatd_user_room_message_created", .level = TB_LEVEL_MULTI_USER,
        .routing_key_fmt = "chatd.users.*.rooms.{room_uuid}.messages.created",
    };
    const char *users[] = {USER1, USER2, USER3};
    json_t *data = json_pack("{s:s}", "room_uuid", "r1");
    tb_event_args a = {.tenant_uuid = TENANT, .user_uuids = users, .n_user_uuids = 3,
                       .content = data};
    tb_event *ev = NULL;
    json_t *want;

    (void)state;
    assert_int_equal(tb_event_new(&type, &a, ORIGIN, &ev), TB_OK);
    /* literal text of the format is not escaped, only values are */
    assert_string_equal(tb_event_routing_key(ev), "chatd.users.*.rooms.r1.messages.created");
    want = json_pack("{s:s, s:s, s:s, s:s, s:s, s:b, s:b, s:b}", "name",
                     "chatd_user_room_message_created", "origin_uuid", ORIGIN,
                     "required_access", "event.chatd_user_room_message_created",
                     "required_acl", "events.chatd.users.*.rooms.r1.messages.created",
                     "tenant_uuid", TENANT, "user_uuid:" USER1, 1, "user_uuid:" USER2, 1,
                     "user_uuid:" USER3, 1);
    assert_headers(ev, want);
    assert_body(ev, data);
    json_decref(want);
    tb_event_free(ev);

    /* an empty list is a multi-user event for nobody: tenant only */
    a.n_user_uuids = 0;
    assert_int_equal(tb_event_new(&type, &a, ORIGIN, &ev), TB_OK);
    assert_non_null(json_object_get(tb_event_headers(ev), "tenant_uuid"));
    assert_null(json_object_get(tb_event_headers(ev), "user_uuid:" USER1));
    assert_null(json_object_get(tb_event_headers(ev), "user_uuid:*"));
    assert_int_equal(json_object_size(tb_event_headers(ev)), 6);
    json_decref(data);
    tb_event_free(ev);
}

static void test_user_flags_are_json_true(void **state)
{
    static const tb_event_type ut = {.name = "u", .level = TB_LEVEL_USER};
    static const tb_event_type tt = {.name = "t", .level = TB_LEVEL_TENANT};
    tb_event_args a = {.tenant_uuid = TENANT, .user_uuid = USER1};
    tb_event *ev = NULL;
    json_t *v;

    (void)state;
    assert_int_equal(tb_event_new(&ut, &a, ORIGIN, &ev), TB_OK);
    v = json_object_get(tb_event_headers(ev), "user_uuid:" USER1);
    assert_true(json_is_true(v));
    assert_true(json_is_true(json_object_get(tb_event_body(ev), "user_uuid:" USER1)));
    tb_event_free(ev);
    assert_int_equal(tb_event_new(&tt, &a, ORIGIN, &ev), TB_OK);
    assert_true(json_is_true(json_object_get(tb_event_headers(ev), "user_uuid:*")));
    assert_null(json_object_get(tb_event_headers(ev), "user_uuid:" USER1));
    tb_event_free(ev);
}

static void test_body_envelope(void **state)
{
    static const tb_event_type type = {.name = "thing_done", .level = TB_LEVEL_SERVICE};
    json_t *data = json_pack("{s:[i,i]}", "list", 1, 2);
    json_t *arr = json_pack("[s,s]", "a", "b");
    tb_event_args a = {.content = data};
    tb_event *ev = NULL;
    char *dump;

    (void)state;
    assert_int_equal(tb_event_new(&type, &a, NULL, &ev), TB_OK);
    /* NULL routing-key format => the name; origin NULL => JSON null */
    assert_string_equal(tb_event_routing_key(ev), "thing_done");
    assert_string_equal(tb_event_required_acl(ev), "events.thing_done");
    assert_true(json_is_null(json_object_get(tb_event_headers(ev), "origin_uuid")));
    assert_true(json_is_null(json_object_get(tb_event_body(ev), "origin_uuid")));
    assert_int_equal(json_object_size(tb_event_body(ev)),
                     json_object_size(tb_event_headers(ev)) + 1);
    /* headers carry no data; the body's data is a copy the caller may change */
    assert_null(json_object_get(tb_event_headers(ev), "data"));
    json_array_append_new(json_object_get(data, "list"), json_integer(3));
    dump = json_dumps(json_object_get(tb_event_body(ev), "data"), JSON_COMPACT);
    assert_string_equal(dump, "{\"list\":[1,2]}");
    free(dump);
    tb_event_free(ev);

    /* non-object content is carried as is */
    a.content = arr;
    assert_int_equal(tb_event_new(&type, &a, NULL, &ev), TB_OK);
    assert_json_eq(json_object_get(tb_event_body(ev), "data"), arr);
    tb_event_free(ev);
    json_decref(arr);
    json_decref(data);
}

static void test_escape_key_word(void **state)
{
    char *s;

    (void)state;
    s = tb_escape_key_word("a.b#c*d..");
    assert_string_equal(s, "a__DOT__b__HASH__c__STAR__d__DOT____DOT__");
    free(s);
    s = tb_escape_key_word("");
    assert_string_equal(s, "");
    free(s);
    s = tb_escape_key_word("plain-uuid_1");
    assert_string_equal(s, "plain-uuid_1");
    free(s);
    assert_null(tb_escape_key_word(NULL));
}

static void fmt_ok(const char *fmt, const json_t *fields, const char *want)
{
    char *out = NULL;

    assert_int_equal(tb_format_routing_key(fmt, fields, &out), TB_OK);
    assert_string_equal(out, want);
    free(out);
}

static void fmt_err(const char *fmt, const json_t *fields, tb_err want)
{
    char *out = (char *)(uintptr_t)0xdeadbeef;

    assert_int_equal(tb_format_routing_key(fmt, fields, &out), want);
    assert_ptr_equal(out, (char *)(uintptr_t)0xdeadbeef);
}

static void test_format_value_types(void **state)
{
    json_t *f = json_pack("{s:s, s:i, s:I, s:f, s:f, s:f, s:b, s:b, s:n, s:{}, s:[]}", "s",
                          "x.y#z*", "i", 42, "neg", (json_int_t)-9007199254740993LL, "r", 1.5,
                          "whole", 2.0, "tenth", 0.1, "t", 1, "f", 0, "nul", "obj", "arr");

    (void)state;
    fmt_ok("k.{s}", f, "k.x__DOT__y__HASH__z__STAR__");
    fmt_ok("{i}.{neg}", f, "42.-9007199254740993");
    fmt_ok("{r}|{whole}|{tenth}", f, "1.5|2.0|0.1"); /* as Python's str(float) */
    fmt_ok("{t}.{f}", f, "true.false");
    fmt_ok("", f, "");
    fmt_ok("no.fields", NULL, "no.fields");
    fmt_err("{nul}", f, TB_ENOFIELD);
    fmt_err("{obj}", f, TB_ENOFIELD);
    fmt_err("{arr}", f, TB_ENOFIELD);
    fmt_err("{missing}", f, TB_ENOFIELD);
    fmt_err("{s}", NULL, TB_ENOFIELD);
    json_decref(f);
}

static void test_format_syntax_errors(void **state)
{
    json_t *f = json_pack("{s:s}", "a", "v");
    json_t *notobj = json_string("not an object");

    (void)state;
    fmt_ok("{a}{a}.{a}", f, "vv.v");
    fmt_err("x.{a", f, TB_EFORMAT);
    fmt_err("x.a}", f, TB_EFORMAT);
    fmt_err("x.{}", f, TB_EFORMAT);
    fmt_err("{a{a}}", f, TB_EFORMAT);
    fmt_err("{{a}}", f, TB_EFORMAT);
    fmt_err("{", f, TB_EFORMAT);
    fmt_err("}", f, TB_EFORMAT);
    fmt_err("{a}", notobj, TB_EINVAL);
    fmt_err(NULL, f, TB_EINVAL);
    assert_int_equal(tb_format_routing_key("x", f, NULL), TB_EINVAL);
    json_decref(notobj);
    json_decref(f);
}

/* tenant_uuid / user_uuid come from the addressing first, then `fields`,
 * then `content`. */
static void test_format_lookup_order(void **state)
{
    static const tb_event_type type = {
        .name = "e", .level = TB_LEVEL_USER,
        .routing_key_fmt = "{tenant_uuid}.{user_uuid}.{a}.{b}",
    };
    json_t *fields = json_pack("{s:s, s:s, s:s}", "tenant_uuid", "F-T", "user_uuid", "F-U",
                               "a", "from-fields");
    json_t *content = json_pack("{s:s, s:s}", "a", "from-content", "b", "only.content");
    tb_event_args a = {.tenant_uuid = "t.1", .user_uuid = "u#1", .fields = fields,
                       .content = content};
    tb_event *ev = NULL;

    (void)state;
    assert_int_equal(tb_event_new(&type, &a, ORIGIN, &ev), TB_OK);
    assert_string_equal(tb_event_routing_key(ev),
                        "t__DOT__1.u__HASH__1.from-fields.only__DOT__content");
    /* the header keeps the raw value: escaping is for the key only */
    assert_string_equal(json_string_value(json_object_get(tb_event_headers(ev), "tenant_uuid")),
                        "t.1");
    tb_event_free(ev);
    json_decref(fields);
    json_decref(content);
}

static void test_acl_fmt(void **state)
{
    static const tb_event_type type = {
        .name = "chatd_user_room_created", .level = TB_LEVEL_USER,
        .routing_key_fmt = "chatd.users.{user_uuid}.rooms.created",
        .acl_fmt = "events.chatd.users.{user_uuid}.rooms.{room_uuid}",
    };
    json_t *data = json_pack("{s:s}", "room_uuid", "r.9");
    tb_event_args a = {.tenant_uuid = TENANT, .user_uuid = USER1, .content = data};
    tb_event *ev = UNTOUCHED;

    (void)state;
    assert_int_equal(tb_event_new(&type, &a, ORIGIN, &ev), TB_OK);
    assert_string_equal(tb_event_routing_key(ev), "chatd.users." USER1 ".rooms.created");
    assert_string_equal(tb_event_required_acl(ev), "events.chatd.users." USER1 ".rooms.r__DOT__9");
    assert_string_equal(json_string_value(json_object_get(tb_event_headers(ev), "required_acl")),
                        "events.chatd.users." USER1 ".rooms.r__DOT__9");
    tb_event_free(ev);

    /* a bad ACL format fails the whole event */
    json_object_del(data, "room_uuid");
    ev = UNTOUCHED;
    assert_int_equal(tb_event_new(&type, &a, ORIGIN, &ev), TB_ENOFIELD);
    assert_ptr_equal(ev, UNTOUCHED);
    json_decref(data);
}

static void test_extra_fields(void **state)
{
    static const char *const extras[] = {"room_uuid", "count", NULL};
    static const tb_event_type type = {
        .name = "room_event", .level = TB_LEVEL_TENANT, .extra_fields = extras,
    };
    json_t *content = json_pack("{s:s, s:i}", "room_uuid", "content-room", "count", 7);
    json_t *fields = json_pack("{s:s}", "room_uuid", "fields-room");
    tb_event_args a = {.tenant_uuid = TENANT, .content = content};
    tb_event *ev = NULL;
    const json_t *h;

    (void)state;
    assert_int_equal(tb_event_new(&type, &a, ORIGIN, &ev), TB_OK);
    h = tb_event_headers(ev);
    assert_string_equal(json_string_value(json_object_get(h, "room_uuid")), "content-room");
    assert_true(json_is_integer(json_object_get(h, "count"))); /* JSON type kept */
    assert_int_equal(json_integer_value(json_object_get(h, "count")), 7);
    assert_int_equal(json_integer_value(json_object_get(tb_event_body(ev), "count")), 7);
    tb_event_free(ev);

    a.fields = fields; /* fields win over content */
    assert_int_equal(tb_event_new(&type, &a, ORIGIN, &ev), TB_OK);
    assert_string_equal(json_string_value(json_object_get(tb_event_headers(ev), "room_uuid")),
                        "fields-room");
    tb_event_free(ev);

    json_object_del(content, "count");
    ev = UNTOUCHED;
    assert_int_equal(tb_event_new(&type, &a, ORIGIN, &ev), TB_ENOFIELD);
    assert_ptr_equal(ev, UNTOUCHED);
    json_decref(content);
    json_decref(fields);
}

/* Extra fields may not re-address an event or clobber generated headers. */
static void test_extra_fields_cannot_replace_generated(void **state)
{
    static const char *const bad[][2] = {
        {"tenant_uuid", NULL}, {"user_uuid:*", NULL}, {"name", NULL},
        {"required_acl", NULL}, {"data", NULL}, {"origin_uuid", NULL},
    };
    json_t *fields = json_pack("{s:s, s:b, s:s, s:s, s:s, s:s}", "tenant_uuid", "other",
                               "user_uuid:*", 1, "name", "n", "required_acl", "x", "data",
                               "d", "origin_uuid", "o");

    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        tb_event_type type = {.name = "e", .level = TB_LEVEL_SERVICE,
                              .extra_fields = bad[i]};
        tb_event_args a = {.fields = fields};
        tb_event *ev = UNTOUCHED;

        assert_int_equal(tb_event_new(&type, &a, ORIGIN, &ev), TB_EINVAL);
        assert_ptr_equal(ev, UNTOUCHED);
    }
    json_decref(fields);
}

static void expect_err(const tb_event_type *type, const tb_event_args *a, tb_err want)
{
    tb_event *ev = UNTOUCHED;

    assert_int_equal(tb_event_new(type, a, ORIGIN, &ev), want);
    assert_ptr_equal(ev, UNTOUCHED);
}

static void test_error_codes(void **state)
{
    const tb_event_type svc = {.name = "s", .level = TB_LEVEL_SERVICE};
    const tb_event_type ten = {.name = "t", .level = TB_LEVEL_TENANT};
    const tb_event_type usr = {.name = "u", .level = TB_LEVEL_USER};
    const tb_event_type mul = {.name = "m", .level = TB_LEVEL_MULTI_USER};
    const tb_event_type noname = {.level = TB_LEVEL_SERVICE};
    const tb_event_type emptyname = {.name = "", .level = TB_LEVEL_SERVICE};
    const tb_event_type badlevel = {.name = "b", .level = (tb_level)42};
    const tb_event_type badfmt = {.name = "f", .routing_key_fmt = "a.{b"};
    const tb_event_type nofield = {.name = "f", .routing_key_fmt = "a.{b}"};
    const char *users[] = {USER1, NULL};
    const char *blank[] = {""};
    json_t *notobj = json_string("x");
    tb_event_args none = {0};
    tb_event_args tenant_only = {.tenant_uuid = TENANT};
    tb_event_args empty_tenant = {.tenant_uuid = "", .user_uuid = USER1};
    tb_event_args user_no_tenant = {.user_uuid = USER1};
    tb_event_args users_null = {.tenant_uuid = TENANT, .n_user_uuids = 2};
    tb_event_args users_null0 = {.tenant_uuid = TENANT};
    tb_event_args users_hole = {.tenant_uuid = TENANT, .user_uuids = users, .n_user_uuids = 2};
    tb_event_args users_blank = {.tenant_uuid = TENANT, .user_uuids = blank, .n_user_uuids = 1};
    tb_event_args bad_fields = {.fields = notobj};
    tb_event_args bad_utf8 = {.tenant_uuid = "\xff\xfe", .user_uuid = USER1};
    tb_event_args bad_utf8_user = {.tenant_uuid = TENANT, .user_uuid = "\xc3"};
    tb_event *ev = UNTOUCHED;

    (void)state;
    expect_err(&noname, &none, TB_ENONAME);
    expect_err(&emptyname, &none, TB_ENONAME);
    expect_err(&ten, &none, TB_ENOTENANT);
    expect_err(&usr, &user_no_tenant, TB_ENOTENANT);
    expect_err(&usr, &empty_tenant, TB_ENOTENANT);
    expect_err(&mul, &none, TB_ENOTENANT);
    expect_err(&usr, &tenant_only, TB_ENOUSER);
    expect_err(&mul, &users_null, TB_ENOUSERS);
    expect_err(&mul, &users_null0, TB_ENOUSERS); /* NULL is not a list, whatever n says */
    expect_err(&mul, &users_hole, TB_ENOUSERS);
    expect_err(&mul, &users_blank, TB_ENOUSERS);
    expect_err(&badlevel, &none, TB_EINVAL);
    expect_err(&svc, &bad_fields, TB_EINVAL);
    expect_err(&usr, &bad_utf8, TB_EINVAL);
    expect_err(&usr, &bad_utf8_user, TB_EINVAL);
    expect_err(&badfmt, &none, TB_EFORMAT);
    expect_err(&nofield, &none, TB_ENOFIELD);
    expect_err(NULL, &none, TB_EINVAL);
    assert_int_equal(tb_event_new(&svc, &none, ORIGIN, NULL), TB_EINVAL);
    assert_ptr_equal(ev, UNTOUCHED);

    /* NULL args is allowed for an event that needs no addressing */
    assert_int_equal(tb_event_new(&svc, NULL, ORIGIN, &ev), TB_OK);
    assert_string_equal(tb_event_name(ev), "s");
    tb_event_free(ev);
    tb_event_free(NULL);
    json_decref(notobj);
}

static void test_set_required_acl(void **state)
{
    static const tb_event_type type = {.name = "e", .level = TB_LEVEL_TENANT};
    tb_event_args a = {.tenant_uuid = TENANT};
    tb_event *ev = NULL;

    (void)state;
    assert_int_equal(tb_event_new(&type, &a, ORIGIN, &ev), TB_OK);
    assert_int_equal(tb_event_set_required_acl(ev, "custom.acl"), TB_OK);
    assert_string_equal(tb_event_required_acl(ev), "custom.acl");
    assert_string_equal(json_string_value(json_object_get(tb_event_headers(ev), "required_acl")),
                        "custom.acl");
    assert_string_equal(json_string_value(json_object_get(tb_event_body(ev), "required_acl")),
                        "custom.acl");

    assert_int_equal(tb_event_set_required_acl(ev, NULL), TB_OK);
    assert_null(tb_event_required_acl(ev));
    /* present, and null: "no ACL needed", unlike an absent header */
    assert_true(json_is_null(json_object_get(tb_event_headers(ev), "required_acl")));
    assert_true(json_is_null(json_object_get(tb_event_body(ev), "required_acl")));

    assert_int_equal(tb_event_set_required_acl(ev, "\xff"), TB_EINVAL);
    assert_null(tb_event_required_acl(ev)); /* unchanged on error */
    assert_int_equal(tb_event_set_required_acl(ev, "back"), TB_OK);
    assert_string_equal(json_string_value(json_object_get(tb_event_body(ev), "required_acl")),
                        "back");
    assert_int_equal(tb_event_set_required_acl(NULL, "x"), TB_EINVAL);
    tb_event_free(ev);
}

static void test_null_event_accessors(void **state)
{
    (void)state;
    assert_null(tb_event_name(NULL));
    assert_null(tb_event_routing_key(NULL));
    assert_null(tb_event_required_acl(NULL));
    assert_null(tb_event_headers(NULL));
    assert_null(tb_event_body(NULL));
}

static void test_strerror(void **state)
{
    static const tb_err codes[] = {TB_OK, TB_ENOMEM, TB_EINVAL, TB_ENOTENANT, TB_ENOUSER,
                                   TB_ENOUSERS, TB_ENOFIELD, TB_EFORMAT, TB_ENONAME, TB_EINVALID,
                                   TB_ECATALOGUE};
    const size_t n = sizeof codes / sizeof codes[0];

    (void)state;
    for (size_t i = 0; i < n; i++) {
        const char *s = tb_strerror(codes[i]);
        assert_non_null(s);
        assert_string_not_equal(s, "unknown error");
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(s, tb_strerror(codes[j]));
    }
    assert_string_equal(tb_strerror((tb_err)-999), "unknown error");
}

/* Every header the codec writes has its kind, in the codec's order, and only
 * the extra fields are TB_HDR_EXTRA; reserved keys are exactly the generated
 * names, user flags and "data". */
static void test_header_kinds(void **state)
{
    (void)state;
    static const char *const extra[] = { "room", NULL };
    static const char *const users[] = { "u1", "u2" };
    const tb_level levels[] = { TB_LEVEL_SERVICE, TB_LEVEL_TENANT, TB_LEVEL_USER, TB_LEVEL_MULTI_USER };
    for (size_t l = 0; l < 4; l++) {
        tb_event_type t = { .name = "thing_done", .level = levels[l], .extra_fields = extra };
        json_t *fields = json_pack("{s:s}", "room", "r1");
        tb_event_args a = { .tenant_uuid = "t1", .user_uuid = "u1", .user_uuids = users,
                            .n_user_uuids = 2, .fields = fields };
        tb_event *ev = NULL;
        assert_int_equal(tb_event_new(&t, &a, "o1", &ev), TB_OK);
        const char *k;
        json_t *v;
        int last = 0, users_seen = 0, extras = 0;
        json_object_foreach((json_t *)tb_event_headers(ev), k, v) {
            tb_wire_hdr h = tb_wire_header_kind(k);
            assert_true(tb_wire_reserved_key(k) == (h != TB_HDR_EXTRA));
            if (h == TB_HDR_EXTRA) {
                assert_string_equal(k, "room");
                extras++;
                continue;
            }
            assert_int_equal(extras, 0);           /* extras come last */
            assert_true((int)h >= last);           /* the codec's order */
            last = (int)h;
            users_seen += h == TB_HDR_USER;
        }
        assert_int_equal(extras, 1);
        assert_int_equal(users_seen, levels[l] == TB_LEVEL_SERVICE ? 0
                                     : levels[l] == TB_LEVEL_MULTI_USER ? 2 : 1);
        assert_int_equal(last, levels[l] == TB_LEVEL_SERVICE ? TB_HDR_REQUIRED_ACL : TB_HDR_USER);
        tb_event_free(ev);
        json_decref(fields);
    }
    assert_true(tb_wire_reserved_key("data"));
    assert_true(tb_wire_reserved_key("user_uuid:*"));
    assert_false(tb_wire_reserved_key("user_uuid"));
    assert_false(tb_wire_reserved_key("names"));
    assert_false(tb_wire_reserved_key(NULL));
    assert_int_equal(tb_wire_header_kind(NULL), TB_HDR_EXTRA);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_service_level),
        cmocka_unit_test(test_tenant_level),
        cmocka_unit_test(test_user_level_do_something),
        cmocka_unit_test(test_multi_user_level),
        cmocka_unit_test(test_user_flags_are_json_true),
        cmocka_unit_test(test_body_envelope),
        cmocka_unit_test(test_escape_key_word),
        cmocka_unit_test(test_format_value_types),
        cmocka_unit_test(test_format_syntax_errors),
        cmocka_unit_test(test_format_lookup_order),
        cmocka_unit_test(test_acl_fmt),
        cmocka_unit_test(test_extra_fields),
        cmocka_unit_test(test_extra_fields_cannot_replace_generated),
        cmocka_unit_test(test_error_codes),
        cmocka_unit_test(test_set_required_acl),
        cmocka_unit_test(test_null_event_accessors),
        cmocka_unit_test(test_strerror),
        cmocka_unit_test(test_header_kinds),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
