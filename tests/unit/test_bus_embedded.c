#define _GNU_SOURCE /* memmem */
/* The embedded bus through its host interface alone (bus/bus.h): no server,
 * no workers. What it delivers is what the codec built, in order, and a raw
 * publication keeps its headers and body. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "bus/bus.h"

#define STACK "51ac0000-0000-4000-8000-000000000001"
#define TENANT "7e000000-0000-4000-8000-000000000007"

typedef struct host_log {
    tbd_msg *got[8];
    size_t n, calls;
} host_log;

static void deliver(void *ctx, tbd_msg **m, size_t n)
{
    host_log *h = ctx;
    h->calls++;
    for (size_t i = 0; i < n && h->n < 8; i++) {
        atomic_fetch_add(&m[i]->refs, 1);   /* the refs stay the caller's */
        h->got[h->n++] = m[i];
    }
}

static tbd_bus *new_bus(host_log *h, tbd_config *cfg)
{
    tbd_config_defaults(cfg);
    cfg->uuid = strdup(STACK);
    tbd_bus_host host = {.ctx = h, .cfg = cfg, .deliver = deliver};
    tbd_bus *b = tbd_bus_embedded_new(&host);
    assert_non_null(b);
    return b;
}

static void test_publish_delivers_the_batch_in_order(void **state)
{
    (void)state;
    host_log h = {0};
    tbd_config cfg;
    tbd_bus *b = new_bus(&h, &cfg);
    const char *users[] = {"u1", "u2", "u1"};
    tb_wire_event ev[2] = {
        {.name = "user_thing", .level = TB_LEVEL_USER, .tenant_uuid = TENANT, .user_uuid = "u9",
         .origin_uuid = STACK},
        {.name = "multi_thing", .level = TB_LEVEL_MULTI_USER, .tenant_uuid = TENANT,
         .user_uuids = users, .n_user_uuids = 3, .routing_key = "k.1", .origin_uuid = STACK},
    };
    tbd_pub p[2] = {{.ev = &ev[0]}, {.ev = &ev[1]}};
    assert_int_equal(b->ops->publish(b, p, 2), 2);
    assert_int_equal(h.calls, 1);            /* one hand-off per publish */
    assert_int_equal(h.n, 2);
    assert_string_equal(h.got[0]->name, "user_thing");
    assert_true(h.got[0]->origin_ok);
    assert_string_equal(h.got[0]->tenant_uuid, TENANT);
    assert_int_equal(h.got[0]->n_users, 1);
    assert_string_equal(h.got[0]->user_uuids[0], "u9");
    assert_string_equal(h.got[0]->required_acl, "events.user_thing");
    assert_string_equal(h.got[1]->name, "multi_thing");
    assert_int_equal(h.got[1]->n_users, 2);  /* repeats dropped */
    assert_string_equal(h.got[1]->required_acl, "events.k.1");
    assert_true(b->ops->connected(b));
    for (size_t i = 0; i < h.n; i++)
        tbd_msg_unref(h.got[i]);
    b->ops->free(b);
    tbd_config_free(&cfg);
}

static void test_an_event_that_cannot_be_built_stops_the_batch(void **state)
{
    (void)state;
    host_log h = {0};
    tbd_config cfg;
    tbd_bus *b = new_bus(&h, &cfg);
    tb_wire_event ev[3] = {
        {.name = "ok_one", .level = TB_LEVEL_SERVICE},
        {.name = "no_tenant", .level = TB_LEVEL_TENANT},   /* refused by the codec */
        {.name = "ok_two", .level = TB_LEVEL_SERVICE},
    };
    tbd_pub p[3] = {{.ev = &ev[0]}, {.ev = &ev[1]}, {.ev = &ev[2]}};
    assert_int_equal(b->ops->publish(b, p, 3), 1);   /* what was built before goes out */
    assert_int_equal(h.n, 1);
    assert_string_equal(h.got[0]->name, "ok_one");
    assert_false(h.got[0]->origin_ok);                 /* origin_uuid null */
    tbd_msg_unref(h.got[0]);
    b->ops->free(b);
    tbd_config_free(&cfg);
}

static void test_raw_publication_keeps_headers_and_body(void **state)
{
    (void)state;
    host_log h = {0};
    tbd_config cfg;
    tbd_bus *b = new_bus(&h, &cfg);
    json_t *hdrs = json_pack("{s:s,s:s,s:s,s:b}", "name", "raw_thing", "origin_uuid", STACK,
                             "tenant_uuid", TENANT, "user_uuid:*", 1);
    json_t *body = json_pack("{s:s,s:{s:i}}", "name", "raw_thing", "data", "n", 7);
    tbd_pub p = {.raw_headers = hdrs, .raw_body = body, .raw_routing_key = ""};
    assert_int_equal(b->ops->publish(b, &p, 1), 1);
    assert_int_equal(h.n, 1);
    assert_string_equal(h.got[0]->name, "raw_thing");
    assert_true(h.got[0]->all_users);
    assert_false(h.got[0]->has_acl);
    const char *want = "{\"name\":\"raw_thing\",\"data\":{\"n\":7}}";
    assert_non_null(h.got[0]->v1);
    assert_non_null(memmem(h.got[0]->v1->data, h.got[0]->v1->len, want, strlen(want)));
    tbd_msg_unref(h.got[0]);
    json_decref(hdrs);
    json_decref(body);
    b->ops->free(b);
    tbd_config_free(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_publish_delivers_the_batch_in_order),
        cmocka_unit_test(test_an_event_that_cannot_be_built_stops_the_batch),
        cmocka_unit_test(test_raw_publication_keeps_headers_and_body),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
