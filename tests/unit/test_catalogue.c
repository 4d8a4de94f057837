/* Event catalogue (lib/catalogue.c): loading and merging files, every kind
 * of refusal with its file:line: key message, types usable with
 * tb_event_new, and tb_event_validate's JSON paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tenbus/catalogue.h"
#include "tmpfiles.h"

#define TENANT "7e7e7e7e-0000-4000-8000-000000000002"
#define USER1 "a1a1a1a1-0000-4000-8000-000000000003"

static const char confd[] =
    "service: confd\n"
    "events:\n"
    "  - name: do_something\n"
    "    level: user\n"
    "    routing_key_fmt: config.{user_uuid}\n"
    "    description: The seed's event.\n"
    "    content:\n"
    "      type: object\n"
    "      required: [thing]\n"
    "      properties:\n"
    "        thing: {type: string, enum: [reload, restart]}\n"
    "        count: {type: integer, nullable: true}\n"
    "        at: {type: string, format: date-time}\n"
    "        who: {type: string, format: uuid}\n"
    "        ratio: {type: number}\n"
    "        flags: {type: array, items: {type: boolean}}\n"
    "        peer:\n"
    "          type: object\n"
    "          additionalProperties: false\n"
    "          required: [id]\n"
    "          properties:\n"
    "            id: {type: integer}\n"
    "            members:\n"
    "              type: array\n"
    "              items:\n"
    "                type: object\n"
    "                required: [uuid]\n"
    "                properties:\n"
    "                  uuid: {type: string, format: uuid}\n"
    "  - name: moh_created\n"
    "    level: tenant\n"
    "    routing_key_fmt: config.moh.{uuid}\n"
    "    required_acl: events.config.moh.{tenant_uuid}\n"
    "    content:\n"
    "      type: object\n"
    "      required: [uuid]\n"
    "      properties:\n"
    "        uuid: {type: string}\n";

static const char chatd[] =
    "events:\n"
    "  - name: room_message\n"
    "    service: chatd\n"
    "    level: multi_user\n"
    "    routing_key_fmt: chatd.rooms.{room_uuid}.messages\n"
    "    headers:\n"
    "      room_uuid: {type: string, format: uuid}\n"
    "  - name: user_created\n"
    "    service: auth\n"
    "    level: service\n";

static tb_catalogue *load_buf(const char *text, const char *name)
{
    tb_catalogue *cat;
    char err[512] = "";
    assert_int_equal(tb_catalogue_new(&cat), TB_OK);
    if (tb_catalogue_add_buf(cat, text, strlen(text), name, err, sizeof err) != TB_OK) {
        print_error("%s\n", err);
        fail();
    }
    return cat;
}

/* The message of loading `text` as file "c.yml": must fail. */
static const char *load_error(const char *text)
{
    static char err[512];
    tb_catalogue *cat;
    err[0] = '\0';
    assert_int_equal(tb_catalogue_new(&cat), TB_OK);
    assert_int_equal(tb_catalogue_add_buf(cat, text, strlen(text), "c.yml", err, sizeof err),
                     TB_ECATALOGUE);
    assert_int_equal(tb_catalogue_count(cat), 0);
    tb_catalogue_free(cat);
    return err;
}

static void test_load_and_find(void **state)
{
    (void)state;
    tb_catalogue *cat = load_buf(confd, "confd.yml");
    assert_int_equal(tb_catalogue_count(cat), 2);
    const tb_event_type *t = tb_catalogue_find(cat, "do_something");
    assert_non_null(t);
    assert_string_equal(t->service, "confd");
    assert_int_equal(t->level, TB_LEVEL_USER);
    assert_string_equal(t->routing_key_fmt, "config.{user_uuid}");
    assert_null(t->acl_fmt);
    assert_string_equal(t->description, "The seed's event.");
    assert_non_null(t->content_schema);
    assert_null(tb_catalogue_find(cat, "nope"));
    assert_null(tb_catalogue_find(cat, NULL));
    assert_null(tb_catalogue_get(cat, 2));
    assert_string_equal(tb_level_name(TB_LEVEL_MULTI_USER), "multi_user");
    tb_catalogue_free(cat);
}

/* Types from the catalogue build events as code-declared ones do. */
static void test_type_builds_events(void **state)
{
    (void)state;
    tb_catalogue *cat = load_buf(confd, "confd.yml");
    tb_event *ev;
    json_t *data = json_pack("{s:s}", "thing", "reload");
    tb_event_args a = {.tenant_uuid = TENANT, .user_uuid = USER1, .content = data};
    assert_int_equal(tb_event_new(tb_catalogue_find(cat, "do_something"), &a, NULL, &ev), TB_OK);
    assert_string_equal(tb_event_routing_key(ev), "config." USER1);
    assert_string_equal(tb_event_required_acl(ev), "events.config." USER1);
    assert_true(json_is_true(json_object_get(tb_event_headers(ev), "user_uuid:" USER1)));
    tb_event_free(ev);

    json_t *moh = json_pack("{s:s}", "uuid", "a.b");
    tb_event_args b = {.tenant_uuid = TENANT, .content = moh};
    assert_int_equal(tb_event_new(tb_catalogue_find(cat, "moh_created"), &b, NULL, &ev), TB_OK);
    assert_string_equal(tb_event_routing_key(ev), "config.moh.a__DOT__b");
    assert_string_equal(tb_event_required_acl(ev), "events.config.moh." TENANT);
    tb_event_free(ev);
    json_decref(data);
    json_decref(moh);
    tb_catalogue_free(cat);
}

/* Several files merge, sorted by service then name; extra header fields. */
static void test_merge_files_and_dir(void **state)
{
    (void)state;
    tf_dir t;
    assert_int_equal(tf_init(&t), 0);
    tf_mkdir(&t, "cat");
    tf_write(&t, "cat/b-confd.yml", confd);
    tf_write(&t, "cat/a-chatd.yaml", chatd);
    tf_write(&t, "cat/notes.txt", "not yaml: [");
    tb_catalogue *cat;
    char err[512] = "";
    const char *paths[] = {tf_path(&t, "cat")};
    assert_int_equal(tb_catalogue_load(paths, 1, &cat, err, sizeof err), TB_OK);
    assert_int_equal(tb_catalogue_count(cat), 4);
    const char *order[] = {"user_created", "room_message", "do_something", "moh_created"};
    for (size_t i = 0; i < 4; i++)
        assert_string_equal(tb_catalogue_get(cat, i)->name, order[i]);
    const tb_event_type *rm = tb_catalogue_find(cat, "room_message");
    assert_string_equal(rm->extra_fields[0], "room_uuid");
    assert_null(rm->extra_fields[1]);

    json_t *j = tb_catalogue_to_json(cat);
    json_t *ev0 = json_array_get(json_object_get(j, "events"), 0);
    assert_string_equal(json_string_value(json_object_get(ev0, "service")), "auth");
    assert_string_equal(json_string_value(json_object_get(ev0, "routing_key_fmt")), "user_created");
    assert_true(json_is_null(json_object_get(ev0, "required_acl")));
    json_decref(j);

    /* The same files again: every name is a duplicate, named with its origin. */
    err[0] = '\0';
    assert_int_equal(tb_catalogue_add(cat, tf_path(&t, "cat/b-confd.yml"), err, sizeof err), TB_ECATALOGUE);
    assert_non_null(strstr(err, "b-confd.yml:3: events[0]: event do_something is already declared at "));
    assert_non_null(strstr(err, "cat/b-confd.yml:3"));
    assert_int_equal(tb_catalogue_count(cat), 4);
    tb_catalogue_free(cat);

    const char *missing[] = {tf_path(&t, "nope.yml")};
    assert_int_equal(tb_catalogue_load(missing, 1, &cat, err, sizeof err), TB_ECATALOGUE);
    assert_non_null(strstr(err, "nope.yml: No such file or directory"));
    tf_cleanup(&t);
}

/* Every refusal names file, line and key. */
static void test_errors_name_file_line_key(void **state)
{
    (void)state;
    static const struct { const char *text, *want; } cases[] = {
        {"events: {}\n", "c.yml:1: events: must be a list of event types"},
        {"service: s\n", "c.yml:1: needs an events list"},
        {"services: s\nevents: []\n", "c.yml:1: services: unknown key (known: service, events)"},
        {"events:\n  - name: a\n    level: user\n", "c.yml:2: events[0]: needs a service"},
        {"service: s\nevents:\n  - level: user\n", "c.yml:3: events[0]: needs a name"},
        {"service: s\nevents:\n  - name: a b\n    level: user\n",
         "c.yml:3: events[0].name: use letters, digits"},
        {"service: s\nevents:\n  - name: a\n    level: users\n",
         "c.yml:4: events[0].level: must be one of service, tenant, user, multi_user"},
        {"service: s\nevents:\n  - name: a\n    level: user\n    colour: red\n",
         "c.yml:5: events[0].colour: unknown key"},
        {"service: s\nevents:\n  - name: a\n    level: user\n    routing_key_fmt: x.{nope}\n",
         "c.yml:5: events[0].routing_key_fmt: {nope} is not the tenant_uuid"},
        {"service: s\nevents:\n  - name: a\n    level: tenant\n    routing_key_fmt: x.{user_uuid}\n",
         "c.yml:5: events[0].routing_key_fmt: {user_uuid} is not"},
        {"service: s\nevents:\n  - name: a\n    level: user\n    required_acl: x.{\n",
         "c.yml:5: events[0].required_acl: malformed {field}"},
        {"service: s\nevents:\n  - name: a\n    level: user\n    headers:\n      tenant_uuid: {type: string}\n",
         "c.yml:6: events[0].headers.tenant_uuid: a generated header"},
        {"service: s\nevents:\n  - name: a\n    level: user\n    content: {type: array}\n",
         "c.yml:5: events[0].content: an event's content is an object"},
        {"service: s\nevents:\n  - name: a\n    level: user\n    content:\n      type: object\n"
         "      properties:\n        x: {type: strin}\n",
         "c.yml:8: events[0].content.properties.x.type: must be one of object"},
        {"service: s\nevents:\n  - name: a\n    level: user\n    content:\n      type: object\n"
         "      properties:\n        x: {type: string, format: email}\n",
         "c.yml:8: events[0].content.properties.x.format: must be uuid or date-time"},
        {"service: s\nevents:\n  - name: a\n    level: user\n    content:\n      type: object\n"
         "      properties:\n        x: {type: integer, minimum: 3}\n",
         "c.yml:8: events[0].content.properties.x.minimum: unknown schema keyword"},
        {"service: s\nevents:\n  - name: a\n    level: user\n    content:\n      type: object\n"
         "      required: [y]\n      properties:\n        x: {type: integer}\n",
         "c.yml:7: events[0].content.required: item 0: not one of the properties"},
        {"service: s\nevents:\n  - name: a\n    level: user\n    content:\n      type: object\n"
         "      properties:\n        x: {type: integer, enum: [1, two]}\n",
         "c.yml:8: events[0].content.properties.x.enum: item 1 does not fit the type: value: expected integer, got string"},
        {"service: s\nevents:\n  - name: a\n    level: user\n    content:\n      type: object\n"
         "      properties:\n        x: {type: string, format: uuid, example: nope}\n",
         "c.yml:8: events[0].content.properties.x.example: does not fit the schema: example: expected a uuid"},
        {"service: s\nevents:\n  - name: a\n    level: user\n    content:\n      type: object\n"
         "      properties:\n        x: {type: string, items: {type: string}}\n",
         "c.yml:8: events[0].content.properties.x.items: items applies to arrays only"},
        {"service: s\nevents:\n  - name: a\n    level: user\n  - name: a\n    level: tenant\n",
         "c.yml:5: events[1]: event a is already declared at c.yml:3"},
        {"events:\n  - name: a\n    service: index\n    level: user\n", "c.yml:3: events[0].service: service index"},
        {"events: [\n", "c.yml:2"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *err = load_error(cases[i].text);
        if (strncmp(err, cases[i].want, strlen(cases[i].want)) != 0) {
            print_error("case %zu:\n got  %s\n want %s...\n", i, err, cases[i].want);
            fail();
        }
    }
}

/* A file with an error adds nothing, even its valid events. */
static void test_failed_file_adds_nothing(void **state)
{
    (void)state;
    tb_catalogue *cat = load_buf(chatd, "chatd.yml");
    char err[256];
    const char *bad = "service: s\nevents:\n  - name: ok\n    level: user\n  - name: bad\n";
    assert_int_equal(tb_catalogue_add_buf(cat, bad, strlen(bad), "bad.yml", err, sizeof err), TB_ECATALOGUE);
    assert_int_equal(tb_catalogue_count(cat), 2);
    assert_null(tb_catalogue_find(cat, "ok"));
    tb_catalogue_free(cat);
    assert_int_equal(tb_catalogue_add_buf(NULL, "", 0, "x", NULL, 0), TB_EINVAL);
    assert_int_equal(tb_catalogue_new(NULL), TB_EINVAL);
}

static void assert_invalid(const tb_event_type *t, const char *json, const char *want)
{
    json_error_t je;
    json_t *v = json_loads(json, JSON_DECODE_ANY, &je);
    assert_non_null(v);
    char err[256] = "";
    tb_err rc = tb_event_validate(t, v, err, sizeof err);
    json_decref(v);
    if (rc != TB_EINVALID || strcmp(err, want) != 0) {
        print_error("%s:\n got  %d %s\n want %s\n", json, rc, err, want);
        fail();
    }
}

static void assert_valid(const tb_event_type *t, const char *json)
{
    json_t *v = json_loads(json, 0, NULL);
    char err[256] = "";
    assert_non_null(v);
    if (tb_event_validate(t, v, err, sizeof err) != TB_OK) {
        print_error("%s: %s\n", json, err);
        fail();
    }
    json_decref(v);
}

static void test_validate_paths(void **state)
{
    (void)state;
    tb_catalogue *cat = load_buf(confd, "confd.yml");
    const tb_event_type *t = tb_catalogue_find(cat, "do_something");
    assert_valid(t, "{\"thing\":\"reload\"}");
    assert_valid(t, "{\"thing\":\"restart\",\"count\":null,\"at\":\"2026-11-25T20:31:26.057365+00:00\","
                    "\"who\":\"A1A1A1A1-0000-4000-8000-000000000003\",\"ratio\":2,\"flags\":[true,false],"
                    "\"peer\":{\"id\":3.0,\"members\":[{\"uuid\":\"" USER1 "\"}]},\"unknown\":{}}");
    assert_valid(t, "{\"thing\":\"reload\",\"at\":\"2026-01-02T03:04:05Z\"}");
    assert_invalid(t, "{}", "data.thing: required but missing");
    assert_invalid(t, "[]", "data: expected object, got array");
    assert_invalid(t, "{\"thing\":\"stop\"}", "data.thing: must be one of [\"reload\",\"restart\"]");
    assert_invalid(t, "{\"thing\":\"reload\",\"count\":\"3\"}", "data.count: expected integer or null, got string");
    assert_invalid(t, "{\"thing\":\"reload\",\"count\":1.5}", "data.count: expected integer or null, got number");
    assert_invalid(t, "{\"thing\":\"reload\",\"at\":\"2026-13-01T00:00:00Z\"}", "data.at: expected an RFC 3339 date-time");
    assert_invalid(t, "{\"thing\":\"reload\",\"at\":\"2026-01-01 00:00:00\"}", "data.at: expected an RFC 3339 date-time");
    assert_invalid(t, "{\"thing\":\"reload\",\"who\":\"a1a1a1a1-0000-4000-8000-00000000000\"}", "data.who: expected a uuid");
    assert_invalid(t, "{\"thing\":\"reload\",\"ratio\":\"1\"}", "data.ratio: expected number, got string");
    assert_invalid(t, "{\"thing\":\"reload\",\"flags\":[true,1]}", "data.flags[1]: expected boolean, got integer");
    assert_invalid(t, "{\"thing\":\"reload\",\"peer\":{}}", "data.peer.id: required but missing");
    assert_invalid(t, "{\"thing\":\"reload\",\"peer\":{\"id\":1,\"x\":2}}",
                   "data.peer.x: not a property of this event (additionalProperties is false)");
    assert_invalid(t, "{\"thing\":\"reload\",\"peer\":{\"id\":1,\"members\":[{\"uuid\":\"" USER1 "\"},{}]}}",
                   "data.peer.members[1].uuid: required but missing");
    assert_invalid(t, "{\"thing\":null}", "data.thing: expected string, got null");

    /* No content = {}; no schema = any object. */
    char err[128];
    assert_int_equal(tb_event_validate(t, NULL, err, sizeof err), TB_EINVALID);
    assert_string_equal(err, "data.thing: required but missing");
    const tb_event_type plain = {.name = "x"};
    assert_int_equal(tb_event_validate(&plain, NULL, NULL, 0), TB_OK);
    assert_int_equal(tb_event_validate(NULL, NULL, NULL, 0), TB_EINVAL);
    tb_catalogue_free(cat);

    /* A type declared in code with a schema: checked and compiled per call. */
    json_t *schema = json_pack("{s:s,s:[s],s:{s:{s:s}}}", "type", "object", "required", "id",
                               "properties", "id", "type", "integer");
    const tb_event_type coded = {.name = "x", .content_schema = schema};
    json_t *ok = json_pack("{s:i}", "id", 3), *bad = json_pack("{s:s}", "id", "3");
    assert_int_equal(tb_event_validate(&coded, ok, NULL, 0), TB_OK);
    assert_int_equal(tb_event_validate(&coded, bad, err, sizeof err), TB_EINVALID);
    assert_string_equal(err, "data.id: expected integer, got string");
    json_object_set_new(schema, "minProperties", json_integer(1));
    assert_int_equal(tb_event_validate(&coded, ok, err, sizeof err), TB_EINVAL);
    assert_non_null(strstr(err, "minProperties: unknown schema keyword"));
    json_decref(schema);
    json_decref(ok);
    json_decref(bad);
}

/* The shipped examples/catalogue loads: 15 types over several services. */
static void test_shipped_catalogue(void **state)
{
    (void)state;
    const char *paths[] = {TB_SOURCE_DIR "/examples/catalogue"};
    tb_catalogue *cat;
    char err[512] = "";
    if (tb_catalogue_load(paths, 1, &cat, err, sizeof err) != TB_OK) {
        print_error("%s\n", err);
        fail();
    }
    assert_int_equal(tb_catalogue_count(cat), 15);
    const tb_event_type *t = tb_catalogue_find(cat, "do_something");
    assert_string_equal(t->service, "confd");
    assert_string_equal(t->routing_key_fmt, "config.{user_uuid}");
    assert_int_equal(tb_catalogue_find(cat, "auth_user_created")->level, TB_LEVEL_SERVICE);
    assert_int_equal(tb_catalogue_find(cat, "conference_participant_joined")->level, TB_LEVEL_MULTI_USER);
    tb_catalogue_free(cat);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load_and_find),
        cmocka_unit_test(test_type_builds_events),
        cmocka_unit_test(test_merge_files_and_dir),
        cmocka_unit_test(test_errors_name_file_line_key),
        cmocka_unit_test(test_failed_file_adds_nothing),
        cmocka_unit_test(test_validate_paths),
        cmocka_unit_test(test_shipped_catalogue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
