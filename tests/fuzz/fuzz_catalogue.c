/* The event catalogue loader (lib/catalogue.c), the documentation built
 * from it (daemon/catalogue/docgen.c) and the daemon's streaming check
 * (daemon/catalogue/catalogue.c): the input is one catalogue file. A refused file must
 * say why and add nothing; a loaded one must find each of its types by name,
 * each type's generated example body must pass tb_event_validate against the
 * type's own schema, and the streaming check (the fast publish path's) must
 * never accept a content, the example or variants of it with each member
 * replaced or removed, that tb_event_validate refuses. */
#include <tenbus/catalogue.h>

#include "catalogue/catalogue.h"
#include "docgen.h"
#include "fuzz.h"

/* The streaming check may decline what tb_event_validate accepts, never the
 * reverse. */
static void same_verdict(const tbd_catalogue *tc, const tb_event_type *t, const json_t *data)
{
    char *text = json_dumps(data, JSON_COMPACT | JSON_ENCODE_ANY);
    FUZZ_CHECK(text);
    bool fast = tbd_catalogue_accepts(tc, t->name, t->level, text, strlen(text));
    tb_err full = tb_event_validate(t, data, NULL, 0);
    if (fast && full != TB_OK) {
        fprintf(stderr, "%s: streaming check accepts %s\n", t->name, text);
        FUZZ_CHECK(0);
    }
    free(text);
}

static void variants(const tbd_catalogue *tc, const tb_event_type *t, json_t *data)
{
    same_verdict(tc, t, data);
    if (!json_is_object(data))
        return;
    json_t *values = json_pack("[n,s,i,f,b,[],{},s,s,[i,s]]", "x", 1, 1.5, 1,
                               "6f0c2d1e-3b4a-4c5d-8e9f-0a1b2c3d4e5f", "2026-11-25T20:31:26Z", 2, "y");
    FUZZ_CHECK(values);
    void *it = json_object_iter(data);
    while (it) {
        const char *key = json_object_iter_key(it);
        json_t *copy = json_deep_copy(data);
        json_object_del(copy, key);
        same_verdict(tc, t, copy);
        size_t i;
        json_t *val;
        json_array_foreach(values, i, val) {
            json_object_set(copy, key, val);
            same_verdict(tc, t, copy);
        }
        json_decref(copy);
        it = json_object_iter_next(data, it);
    }
    json_decref(values);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tb_catalogue *cat;
    char err[512] = "";
    FUZZ_CHECK(tb_catalogue_new(&cat) == TB_OK);
    tb_err rc = tb_catalogue_add_buf(cat, (const char *)data, size, "fuzz.yml", err, sizeof err);
    if (rc != TB_OK) {
        FUZZ_CHECK(rc == TB_ECATALOGUE && err[0] != '\0');
        FUZZ_CHECK(tb_catalogue_count(cat) == 0);
        tb_catalogue_free(cat);
        return 0;
    }
    size_t n = tb_catalogue_count(cat);
    json_t *all = tb_catalogue_to_json(cat);
    FUZZ_CHECK(all && json_array_size(json_object_get(all, "events")) == n);
    for (size_t i = 0; i < n; i++) {
        const tb_event_type *t = tb_catalogue_get(cat, i);
        FUZZ_CHECK(tb_catalogue_find(cat, t->name) == t);
        FUZZ_CHECK(tb_level_name(t->level) != NULL);
        const json_t *extra = json_object_get(json_array_get(json_object_get(all, "events"), i), "headers");
        json_t *body = tb__docgen_example(t, extra);
        if (body) {
            tbd_catalogue tc = {.cat = cat, .strict = true};
            variants(&tc, t, json_object_get(body, "data"));
            char why[256] = "";
            if (tb_event_validate(t, json_object_get(body, "data"), why, sizeof why) != TB_OK) {
                fprintf(stderr, "example of %s does not validate: %s\n", t->name, why);
                FUZZ_CHECK(0);
            }
        }
        json_decref(body);
    }
    json_decref(all);
    tb__docgen_opts o = {.amqp_host = "localhost:5672", .vhost = "/", .exchange = "wazo-headers"};
    tb__docs docs;
    FUZZ_CHECK(tb__docgen(cat, &o, &docs) == 0);
    FUZZ_CHECK(n == 0 || tb__docs_find(&docs, "index.html") != NULL);
    tb__docs_free(&docs);
    tb_catalogue_free(cat);
    return 0;
}
