/* The event catalogue loader (lib/catalogue.c) and the documentation built
 * from it (daemon/docgen.c): the input is one catalogue file. A refused
 * file must say why and add nothing; a loaded one must find each of its
 * types by name, and each type's generated example body must pass
 * tb_event_validate against the type's own schema. */
#include <tenbus/catalogue.h>

#include "docgen.h"
#include "fuzz.h"

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
        json_t *body = tbd_docgen_example(t, extra);
        if (body) {
            char why[256] = "";
            if (tb_event_validate(t, json_object_get(body, "data"), why, sizeof why) != TB_OK) {
                fprintf(stderr, "example of %s does not validate: %s\n", t->name, why);
                FUZZ_CHECK(0);
            }
        }
        json_decref(body);
    }
    json_decref(all);
    tbd_docgen_opts o = {.amqp_host = "localhost:5672", .vhost = "/", .exchange = "wazo-headers"};
    tbd_docs docs;
    FUZZ_CHECK(tbd_docgen(cat, &o, &docs) == 0);
    FUZZ_CHECK(n == 0 || tbd_docs_find(&docs, "index.html") != NULL);
    tbd_docs_free(&docs);
    tb_catalogue_free(cat);
    return 0;
}
