/* tenbusd's event catalogue (catalogue.h). */
#include "catalogue/catalogue.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "schema_int.h"

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
    tb__docgen_opts o = {.exchange = cfg->bus_exchange_name, .vhost = cfg->bus_vhost};
    char host[300];
    snprintf(host, sizeof(host), "%s:%u", cfg->bus_host, (unsigned)cfg->bus_port);
    o.amqp_host = host;
    if (!c->json || tb__docgen(c->cat, &o, &c->docs) < 0) {
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
    tb__docs_free(&c->docs);
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

/* ---- the fast path's check: a streaming pass over data's text ------------
 *
 * The fast path has `data` as compact JSON text and no tree; parsing it into
 * one only to check it would cost more than the check (bench/README.md,
 * "Catalogue validation"). So yajl walks the text against the compiled
 * schema (schema_int.h). Anything this pass is unsure of — an enum on an
 * object or array, more than 64 required members, a repeated member, very
 * deep nesting — it declines, and the general path (tb_event_validate on
 * jansson's tree) decides; the pass never accepts what that would refuse. */

#define SAX_DEPTH 72

typedef struct sax_frame {
    const struct tb_schema_int *c;
    bool map;
    uint64_t seen;            /* required members met (bit = index in c->required) */
} sax_frame;

typedef struct sax {
    sax_frame st[SAX_DEPTH];
    int depth;                /* open, checked containers */
    const struct tb_schema_int *next; /* schema of the next value; NULL: skip it */
    int skip;                 /* > 0: inside a skipped container */
} sax;

/* The schema the value now starting must meet (NULL: unchecked). */
static const struct tb_schema_int *sax_target(const sax *x)
{
    if (x->depth == 0)
        return x->next;
    const sax_frame *f = &x->st[x->depth - 1];
    return f->map ? x->next : f->c->items;
}

static bool enum_has(const json_t *en, json_t *v)
{
    size_t i;
    const json_t *e;
    bool hit = false;
    json_array_foreach(en, i, e)
        hit = hit || json_equal((json_t *)e, v);
    json_decref(v);
    return hit;
}

static int sax_null(void *ctx)
{
    sax *x = ctx;
    const struct tb_schema_int *c = x->skip ? NULL : sax_target(x);
    if (!c)
        return 1;
    if (strcmp(c->type, "null") != 0 && !c->nullable)
        return 0;
    return !c->en || c->nullable || enum_has(c->en, json_null());
}

static int sax_bool(void *ctx, int b)
{
    sax *x = ctx;
    const struct tb_schema_int *c = x->skip ? NULL : sax_target(x);
    if (!c)
        return 1;
    return strcmp(c->type, "boolean") == 0 && (!c->en || enum_has(c->en, json_boolean(b)));
}

static int sax_number(void *ctx, const char *s, size_t n)
{
    sax *x = ctx;
    const struct tb_schema_int *c = x->skip ? NULL : sax_target(x);
    if (!c)
        return 1;
    char buf[64];
    if (n >= sizeof(buf))
        return 0;
    memcpy(buf, s, n);
    buf[n] = '\0';
    bool is_int = !strpbrk(buf, ".eE");
    double d = is_int ? 0 : strtod(buf, NULL);
    if (strcmp(c->type, "integer") == 0) {
        if (!is_int && d != (double)(long long)d)
            return 0;
    } else if (strcmp(c->type, "number") != 0) {
        return 0;
    }
    if (!c->en)
        return 1;
    return enum_has(c->en, is_int ? json_integer(strtoll(buf, NULL, 10)) : json_real(d));
}

static int sax_string(void *ctx, const unsigned char *s, size_t n)
{
    sax *x = ctx;
    const struct tb_schema_int *c = x->skip ? NULL : sax_target(x);
    if (!c)
        return 1;
    const char *p = (const char *)s;
    if (strcmp(c->type, "string") != 0 ||
        (c->format == TB__FMT_UUID && !tb__is_uuid(p, n)) ||
        (c->format == TB__FMT_DATE_TIME && !tb__is_date_time(p, n)))
        return 0;
    return !c->en || enum_has(c->en, json_stringn(p, n));
}

static int sax_open(sax *x, bool map)
{
    if (x->skip) {
        x->skip++;
        return 1;
    }
    const struct tb_schema_int *c = sax_target(x);
    if (!c) {
        x->skip = 1;
        return 1;
    }
    if (strcmp(c->type, map ? "object" : "array") != 0 || c->en || x->depth == SAX_DEPTH ||
        json_array_size(c->required) > 64)
        return 0;
    x->st[x->depth++] = (sax_frame){.c = c, .map = map};
    return 1;
}

static int sax_close(sax *x)
{
    if (x->skip) {
        x->skip--;
        return 1;
    }
    const sax_frame *f = &x->st[--x->depth];
    size_t n = json_array_size(f->c->required);
    return !f->map || f->seen == (n == 64 ? ~0ULL : (1ULL << n) - 1);
}

static int sax_start_map(void *ctx) { return sax_open(ctx, true); }
static int sax_start_array(void *ctx) { return sax_open(ctx, false); }
static int sax_end(void *ctx) { return sax_close(ctx); }

static int sax_key(void *ctx, const unsigned char *k, size_t n)
{
    sax *x = ctx;
    if (x->skip)
        return 1;
    sax_frame *f = &x->st[x->depth - 1];
    x->next = tb__schema_prop(f->c, (const char *)k, n);
    if (!x->next && f->c->closed)
        return 0;
    size_t i;
    const json_t *r;
    json_array_foreach(f->c->required, i, r) {
        if (json_string_length(r) == n && memcmp(json_string_value(r), k, n) == 0) {
            if (f->seen & (1ULL << i))
                return 0;     /* repeated: jansson keeps the last one; let it decide */
            f->seen |= 1ULL << i;
        }
    }
    return 1;
}

static const yajl_callbacks sax_callbacks = {
    .yajl_null = sax_null, .yajl_boolean = sax_bool, .yajl_number = sax_number,
    .yajl_string = sax_string, .yajl_start_map = sax_start_map, .yajl_map_key = sax_key,
    .yajl_end_map = sax_end, .yajl_start_array = sax_start_array, .yajl_end_array = sax_end,
};

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
    if (!data)
        return tb_event_validate(t, NULL, NULL, 0) == TB_OK;
    sax x = {.next = t->_schema};
    yajl_handle h = yajl_alloc(&sax_callbacks, NULL, &x);
    if (!h)
        return false;
    yajl_config(h, yajl_dont_validate_strings, 1); /* the fast path checked them */
    bool ok = yajl_parse(h, (const unsigned char *)data, len) == yajl_status_ok &&
              yajl_complete_parse(h) == yajl_status_ok && x.depth == 0 && x.skip == 0;
    yajl_free(h);
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
    const tb__docfile *f = tb__docs_find(&c->docs, path[6] ? path + 6 : "index.html");
    if (f) {
        *status = 200;
        *ctype = f->ctype;
        *body = f->body;
        *len = f->len;
    }
    return true;
}
