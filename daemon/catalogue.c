/* tenbusd's event catalogue (catalogue.h). */
#include "catalogue.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tbd_catalogue_open(const tbd_config *cfg, tbd_catalogue **out, char *err, size_t errlen)
{
    *out = NULL;
    if (!cfg->catalogue || !cfg->catalogue[0]) {
        if (cfg->catalogue_strict) {
            snprintf(err, errlen, "tenbus.catalogue_strict needs a tenbus.catalogue");
            return -1;
        }
        return 0;
    }
    tbd_catalogue *c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t n = 0;
    while (cfg->catalogue[n])
        n++;
    if (tb_catalogue_load((const char *const *)cfg->catalogue, n, &c->cat, err, errlen) != TB_OK) {
        free(c);
        return -1;
    }
    c->strict = cfg->catalogue_strict;
    json_t *j = tb_catalogue_to_json(c->cat);
    c->json = j ? json_dumps(j, JSON_COMPACT) : NULL;
    json_decref(j);
    tbd_docgen_opts o = {.exchange = cfg->bus_exchange_name, .vhost = cfg->bus_vhost};
    char host[300];
    snprintf(host, sizeof(host), "%s:%u", cfg->bus_host, (unsigned)cfg->bus_port);
    o.amqp_host = host;
    if (!c->json || tbd_docgen(c->cat, &o, &c->docs) < 0) {
        snprintf(err, errlen, "out of memory");
        tbd_catalogue_free(c);
        return -1;
    }
    c->json_len = strlen(c->json);
    *out = c;
    return 0;
}

void tbd_catalogue_free(tbd_catalogue *c)
{
    if (!c)
        return;
    tb_catalogue_free(c->cat);
    free(c->json);
    tbd_docs_free(&c->docs);
    free(c);
}

static int refuse(tbd_api_err *e, const char *field, const char *msg)
{
    e->status = 400;
    e->error = "invalid_event";
    e->field = field;
    snprintf(e->message, sizeof(e->message), "%s", msg);
    return -1;
}

int tbd_catalogue_check(const tbd_catalogue *c, const char *name, tb_level level,
                        const json_t *data, tbd_api_err *e)
{
    if (!c)
        return 0;
    const tb_event_type *t = tb_catalogue_find(c->cat, name);
    char msg[sizeof(e->message)];
    if (!t) {
        if (!c->strict)
            return 0;
        return refuse(e, "name", "not an event of the catalogue (tenbus.catalogue_strict is on)");
    }
    if (t->level != level) {
        snprintf(msg, sizeof(msg), "the catalogue makes %s a %s event, not %s", name,
                 tb_level_name(t->level), tb_level_name(level));
        return refuse(e, "level", msg);
    }
    if (tb_event_validate(t, data, msg, sizeof(msg)) == TB_OK)
        return 0;
    /* msg is "PATH: problem"; the path becomes the error's field. */
    const char *colon = strstr(msg, ": ");
    if (!colon)
        return refuse(e, "data", msg);
    snprintf(e->path, sizeof(e->path), "%.*s", (int)(colon - msg), msg);
    refuse(e, NULL, colon + 2);
    e->field = e->path;
    return -1;
}

bool tbd_catalogue_accepts(const tbd_catalogue *c, const char *name, tb_level level,
                           const char *data, size_t len)
{
    if (!c)
        return true;
    const tb_event_type *t = tb_catalogue_find(c->cat, name);
    if (!t)
        return !c->strict;
    if (t->level != level)
        return false;
    json_t *v = data ? json_loadb(data, len, JSON_DECODE_ANY, NULL) : NULL;
    if (data && !v)
        return false;
    bool ok = tb_event_validate(t, v, NULL, 0) == TB_OK;
    json_decref(v);
    return ok;
}

bool tbd_catalogue_resource(const tbd_catalogue *c, const char *path, int *status,
                            const char **ctype, const char **body, size_t *len)
{
    static const char none[] = "{\"error\":\"not_found\",\"message\":\"no event catalogue "
                               "(tenbus.catalogue) is configured\"}";
    static const char moved[] = "<!DOCTYPE html><meta http-equiv=\"refresh\" content=\"0; url=/docs/\">"
                                "<a href=\"/docs/\">/docs/</a>\n";
    bool api = strcmp(path, "/api/catalogue") == 0;
    if (!api && strcmp(path, "/docs") != 0 && strncmp(path, "/docs/", 6) != 0)
        return false;
    *status = 404;
    *ctype = "application/json";
    *body = none;
    *len = sizeof(none) - 1;
    if (!c)
        return true;
    if (api) {
        *status = 200;
        *body = c->json;
        *len = c->json_len;
        return true;
    }
    if (strcmp(path, "/docs") == 0) {
        /* Relative links need the trailing slash. */
        *status = 200;
        *ctype = "text/html; charset=utf-8";
        *body = moved;
        *len = sizeof(moved) - 1;
        return true;
    }
    const tbd_docfile *f = tbd_docs_find(&c->docs, path[6] ? path + 6 : "index.html");
    if (f) {
        *status = 200;
        *ctype = f->ctype;
        *body = f->body;
        *len = f->len;
    }
    return true;
}
