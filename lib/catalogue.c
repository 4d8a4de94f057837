/* The event catalogue (include/tenbus/catalogue.h, docs/catalogue.md).
 *
 * Files are read with the YAML loader the daemon's config uses (yamljson.h),
 * which records the line of every node by JSON Pointer: each check below
 * walks the document keeping that pointer and a readable key path side by
 * side, so an error names file, line and key. A file is checked whole before
 * any of its types joins the catalogue. Schemas are kept as loaded (they are
 * checked to use only the subset tb_event_validate understands). */
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tenbus/catalogue.h"
#include "schema_int.h"
#include "yamljson.h"

struct tb_schema_int;
static void csch_free(struct tb_schema_int *c);
static struct tb_schema_int *csch_compile(const json_t *s);

typedef struct entry {
    tb_event_type type;       /* strings below, schema = content */
    char *service, *name, *rkey, *acl, *description;
    char **extra;             /* NULL-terminated, names of `headers` */
    json_t *headers;          /* {field: schema} */
    json_t *content;          /* schema (object) */
    struct tb_schema_int *compiled; /* content, compiled (type._schema) */
    char *file;
    int line;
} entry;

struct tb_catalogue {
    entry **by_service;       /* sorted by service, name */
    entry **by_name;          /* sorted by name */
    size_t n, cap;
};

/* ---- paths: a JSON Pointer for lines, a key path for people ------------- */

#define PATH_MAX_LEN 1024

typedef struct path {
    char s[PATH_MAX_LEN];
    size_t len;
} path;

static size_t path_push_key(path *p, const char *key)
{
    size_t mark = p->len;
    bool plain = *key != '\0';
    for (const char *c = key; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '_' || *c == '-' || *c == ':' || *c == '*'))
            plain = false;
    int n = plain ? snprintf(p->s + p->len, sizeof(p->s) - p->len, "%s%s", p->len ? "." : "", key)
                  : snprintf(p->s + p->len, sizeof(p->s) - p->len, "[\"%s\"]", key);
    if (n > 0)
        p->len = p->len + (size_t)n < sizeof(p->s) ? p->len + (size_t)n : sizeof(p->s) - 1;
    return mark;
}

static size_t path_push_index(path *p, size_t i)
{
    size_t mark = p->len;
    int n = snprintf(p->s + p->len, sizeof(p->s) - p->len, "[%zu]", i);
    if (n > 0)
        p->len = p->len + (size_t)n < sizeof(p->s) ? p->len + (size_t)n : sizeof(p->s) - 1;
    return mark;
}

static void path_pop(path *p, size_t mark)
{
    p->len = mark;
    p->s[mark] = '\0';
}

/* ---- loading ------------------------------------------------------------- */

typedef struct ld {
    const char *file;
    const json_t *lines;
    path ptr;                 /* JSON Pointer, for lines */
    path key;                 /* events[2].content.properties.id */
    char *err;
    size_t errlen;
} ld;

static size_t ld_push(ld *l, const char *key, size_t *kmark)
{
    size_t m = l->ptr.len;
    /* RFC 6901 escapes; the catalogue's keys rarely need them. */
    int n = snprintf(l->ptr.s + l->ptr.len, sizeof(l->ptr.s) - l->ptr.len, "/");
    l->ptr.len += (size_t)n;
    for (const char *c = key; *c && l->ptr.len + 3 < sizeof(l->ptr.s); c++) {
        if (*c == '~' || *c == '/') {
            l->ptr.s[l->ptr.len++] = '~';
            l->ptr.s[l->ptr.len++] = *c == '~' ? '0' : '1';
        } else {
            l->ptr.s[l->ptr.len++] = *c;
        }
    }
    l->ptr.s[l->ptr.len] = '\0';
    *kmark = path_push_key(&l->key, key);
    return m;
}

static size_t ld_push_index(ld *l, size_t i, size_t *kmark)
{
    size_t m = l->ptr.len;
    int n = snprintf(l->ptr.s + l->ptr.len, sizeof(l->ptr.s) - l->ptr.len, "/%zu", i);
    if (n > 0 && l->ptr.len + (size_t)n < sizeof(l->ptr.s))
        l->ptr.len += (size_t)n;
    *kmark = path_push_index(&l->key, i);
    return m;
}

static void ld_pop(ld *l, size_t m, size_t kmark)
{
    path_pop(&l->ptr, m);
    path_pop(&l->key, kmark);
}

__attribute__((format(printf, 2, 3)))
static tb_err ld_fail(ld *l, const char *fmt, ...)
{
    if (!l->err || !l->errlen)
        return TB_ECATALOGUE;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    int line = tb__yaml_line(l->lines, l->ptr.s);
    if (l->key.len)
        snprintf(l->err, l->errlen, "%s:%d: %s: %s", l->file, line ? line : 1, l->key.s, msg);
    else
        snprintf(l->err, l->errlen, "%s:%d: %s", l->file, line ? line : 1, msg);
    return TB_ECATALOGUE;
}

static const char *json_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT: return "object";
    case JSON_ARRAY: return "array";
    case JSON_STRING: return "string";
    case JSON_INTEGER: return "integer";
    case JSON_REAL: return "number";
    case JSON_TRUE:
    case JSON_FALSE: return "boolean";
    case JSON_NULL: return "null";
    }
    return "value";
}

static const char *const schema_types[] = {
    "object", "array", "string", "integer", "number", "boolean", "null", NULL,
};
static const char *const schema_formats[] = { "uuid", "date-time", NULL };
static const char *const schema_keys[] = {
    "type", "description", "format", "nullable", "enum", "properties", "required",
    "additionalProperties", "items", "example", NULL,
};

static bool one_of(const char *s, const char *const *set)
{
    for (; *set; set++)
        if (strcmp(s, *set) == 0)
            return true;
    return false;
}

static tb_err fits(const json_t *s, const json_t *v, const char *what, char *why, size_t whylen);

/* The keys of a schema node, and of its children, are the subset. */
static tb_err check_schema(ld *l, const json_t *s, int depth)
{
    size_t m, km;
    if (!json_is_object(s))
        return ld_fail(l, "a schema must be a mapping, not %s", json_type_name(s));
    if (depth > 64)
        return ld_fail(l, "schema nested too deeply");
    const char *k;
    const json_t *v;
    json_object_foreach((json_t *)s, k, v) {
        if (!one_of(k, schema_keys)) {
            m = ld_push(l, k, &km);
            return ld_fail(l, "unknown schema keyword (known: type, description, format, nullable, "
                              "enum, properties, required, additionalProperties, items, example)");
        }
    }
    const json_t *type = json_object_get(s, "type");
    if (!type)
        return ld_fail(l, "a schema needs a type");
    m = ld_push(l, "type", &km);
    if (!json_is_string(type) || !one_of(json_string_value(type), schema_types))
        return ld_fail(l, "must be one of object, array, string, integer, number, boolean, null");
    ld_pop(l, m, km);
    const char *t = json_string_value(type);

    struct { const char *key; bool ok; const char *why; } only[] = {
        {"format", strcmp(t, "string") == 0, "format applies to strings only"},
        {"properties", strcmp(t, "object") == 0, "properties apply to objects only"},
        {"required", strcmp(t, "object") == 0, "required applies to objects only"},
        {"additionalProperties", strcmp(t, "object") == 0, "additionalProperties applies to objects only"},
        {"items", strcmp(t, "array") == 0, "items applies to arrays only"},
    };
    for (size_t i = 0; i < sizeof(only) / sizeof(only[0]); i++)
        if (json_object_get(s, only[i].key) && !only[i].ok) {
            ld_push(l, only[i].key, &km);
            return ld_fail(l, "%s", only[i].why);
        }

    if ((v = json_object_get(s, "description"))) {
        m = ld_push(l, "description", &km);
        if (!json_is_string(v))
            return ld_fail(l, "must be a string");
        ld_pop(l, m, km);
    }
    if ((v = json_object_get(s, "format"))) {
        m = ld_push(l, "format", &km);
        if (!json_is_string(v) || !one_of(json_string_value(v), schema_formats))
            return ld_fail(l, "must be uuid or date-time");
        ld_pop(l, m, km);
    }
    const char *bools[] = { "nullable", "additionalProperties" };
    for (size_t i = 0; i < 2; i++)
        if ((v = json_object_get(s, bools[i])) && !json_is_boolean(v)) {
            ld_push(l, bools[i], &km);
            return ld_fail(l, "must be true or false");
        }
    const json_t *props = json_object_get(s, "properties");
    if (props) {
        m = ld_push(l, "properties", &km);
        if (!json_is_object(props))
            return ld_fail(l, "must be a mapping of property names to schemas");
        json_object_foreach((json_t *)props, k, v) {
            size_t m2, km2;
            m2 = ld_push(l, k, &km2);
            tb_err rc = check_schema(l, v, depth + 1);
            if (rc != TB_OK)
                return rc;
            ld_pop(l, m2, km2);
        }
        ld_pop(l, m, km);
    }
    if ((v = json_object_get(s, "required"))) {
        m = ld_push(l, "required", &km);
        if (!json_is_array(v))
            return ld_fail(l, "must be a list of property names");
        size_t i;
        const json_t *r;
        json_array_foreach(v, i, r) {
            if (!json_is_string(r) || !json_object_get(props, json_string_value(r)))
                return ld_fail(l, "item %zu: not one of the properties", i);
        }
        ld_pop(l, m, km);
    }
    if ((v = json_object_get(s, "items"))) {
        m = ld_push(l, "items", &km);
        tb_err rc = check_schema(l, v, depth + 1);
        if (rc != TB_OK)
            return rc;
        ld_pop(l, m, km);
    }
    if ((v = json_object_get(s, "enum"))) {
        m = ld_push(l, "enum", &km);
        if (!json_is_array(v) || json_array_size(v) == 0)
            return ld_fail(l, "must be a non-empty list of values");
        size_t i;
        const json_t *e;
        json_array_foreach(v, i, e) {
            if (json_is_null(e))
                continue;
            /* Each value must fit the schema without its enum. */
            json_t *plain = json_copy((json_t *)s);
            if (!plain)
                return TB_ENOMEM;
            json_object_del(plain, "enum");
            char why[256];
            tb_err rc = fits(plain, e, "value", why, sizeof(why));
            json_decref(plain);
            if (rc == TB_ENOMEM)
                return rc;
            if (rc != TB_OK)
                return ld_fail(l, "item %zu does not fit the type: %s", i, why);
        }
        ld_pop(l, m, km);
    }
    if ((v = json_object_get(s, "example"))) {
        m = ld_push(l, "example", &km);
        char why[256];
        tb_err rc = fits(s, v, "example", why, sizeof(why));
        if (rc == TB_ENOMEM)
            return rc;
        if (rc != TB_OK)
            return ld_fail(l, "does not fit the schema: %s", why);
        ld_pop(l, m, km);
    }
    return TB_OK;
}

static void entry_free(entry *e)
{
    if (!e)
        return;
    free(e->service);
    free(e->name);
    free(e->rkey);
    free(e->acl);
    free(e->description);
    free(e->extra);
    json_decref(e->headers);
    csch_free(e->compiled);
    json_decref(e->content);
    free(e->file);
    free(e);
}

/* Generated headers and the body's data (the codec's list), and the
 * addressing arguments' names: an extra header may not take them. */
static bool reserved_header(const char *k)
{
    static const char *const args[] = { "user_uuid", "user_uuids", NULL };
    return tb_wire_reserved_key(k) || one_of(k, args);
}

/* Each {field} of a routing-key or ACL format must be something every event
 * of the type has: its tenant, its user (user level), an extra header, or a
 * required top-level content property. */
static tb_err check_format(ld *l, const entry *e, const char *fmt)
{
    const json_t *req = json_object_get(e->content, "required");
    for (const char *c = fmt; *c; c++) {
        if (*c == '}')
            return ld_fail(l, "'}' without '{'");
        if (*c != '{')
            continue;
        const char *end = strchr(c + 1, '}');
        const char *nested = strchr(c + 1, '{');
        if (!end || end == c + 1 || (nested && nested < end))
            return ld_fail(l, "malformed {field}");
        char field[128];
        size_t n = (size_t)(end - c - 1);
        if (n >= sizeof(field))
            return ld_fail(l, "field name too long");
        memcpy(field, c + 1, n);
        field[n] = '\0';
        bool ok = (strcmp(field, "tenant_uuid") == 0 && e->type.level != TB_LEVEL_SERVICE) ||
                  (strcmp(field, "user_uuid") == 0 && e->type.level == TB_LEVEL_USER) ||
                  json_object_get(e->headers, field);
        size_t i;
        const json_t *r;
        json_array_foreach(req, i, r)
            ok = ok || strcmp(json_string_value(r), field) == 0;
        if (!ok)
            return ld_fail(l, "{%s} is not the tenant_uuid, the user_uuid (user level), a header "
                              "field or a required content property", field);
        c = end;
    }
    return TB_OK;
}

static tb_err get_string(ld *l, const json_t *ev, const char *key, bool required, char **out)
{
    size_t m, km;
    const json_t *v = json_object_get(ev, key);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (required)
            return ld_fail(l, "needs a %s", key);
        return TB_OK;
    }
    m = ld_push(l, key, &km);
    if (!json_is_string(v) || !*json_string_value(v))
        return ld_fail(l, "must be a non-empty string");
    ld_pop(l, m, km);
    *out = strdup(json_string_value(v));
    return *out ? TB_OK : TB_ENOMEM;
}

static const struct { const char *name; tb_level level; } levels[] = {
    {"service", TB_LEVEL_SERVICE}, {"tenant", TB_LEVEL_TENANT}, {"user", TB_LEVEL_USER},
    {"multi_user", TB_LEVEL_MULTI_USER},
};

const char *tb_level_name(tb_level level)
{
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
        if (levels[i].level == level)
            return levels[i].name;
    return NULL;
}

static bool name_ok(const char *s)
{
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == '-' || *s == '.'))
            return false;
    return true;
}

static tb_err load_event(ld *l, const json_t *ev, const char *default_service, entry **out)
{
    static const char *const keys[] = {
        "name", "service", "level", "routing_key_fmt", "required_acl", "description", "headers",
        "content", NULL,
    };
    size_t m, km;
    const char *k;
    const json_t *v;
    tb_err rc;
    if (!json_is_object(ev))
        return ld_fail(l, "an event type must be a mapping");
    json_object_foreach((json_t *)ev, k, v)
        if (!one_of(k, keys)) {
            ld_push(l, k, &km);
            return ld_fail(l, "unknown key (known: name, service, level, routing_key_fmt, "
                              "required_acl, description, headers, content)");
        }
    entry *e = calloc(1, sizeof(*e));
    if (!e)
        return TB_ENOMEM;
    *out = e;
    if ((rc = get_string(l, ev, "name", true, &e->name)) != TB_OK)
        return rc;
    m = ld_push(l, "name", &km);
    if (!name_ok(e->name))
        return ld_fail(l, "use letters, digits, '_', '-' and '.' only");
    ld_pop(l, m, km);
    if ((rc = get_string(l, ev, "service", !default_service, &e->service)) != TB_OK)
        return rc;
    if (!e->service && !(e->service = strdup(default_service)))
        return TB_ENOMEM;
    if (!name_ok(e->service) || strcmp(e->service, "index") == 0) {
        ld_push(l, json_object_get(ev, "service") ? "service" : "", &km);
        return ld_fail(l, "service %s: use letters, digits, '_', '-' and '.' only (not \"index\")",
                       e->service);
    }
    if ((rc = get_string(l, ev, "routing_key_fmt", false, &e->rkey)) != TB_OK ||
        (rc = get_string(l, ev, "required_acl", false, &e->acl)) != TB_OK ||
        (rc = get_string(l, ev, "description", false, &e->description)) != TB_OK)
        return rc;

    char *level_s;
    if ((rc = get_string(l, ev, "level", true, &level_s)) != TB_OK)
        return rc;
    bool found = false;
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
        if (strcmp(level_s, levels[i].name) == 0) {
            e->type.level = levels[i].level;
            found = true;
        }
    free(level_s);
    if (!found) {
        ld_push(l, "level", &km);
        return ld_fail(l, "must be one of service, tenant, user, multi_user");
    }

    const json_t *headers = json_object_get(ev, "headers");
    e->headers = json_object();
    if (!e->headers)
        return TB_ENOMEM;
    if (headers && !json_is_null(headers)) {
        m = ld_push(l, "headers", &km);
        if (!json_is_object(headers))
            return ld_fail(l, "must be a mapping of header field names to schemas");
        json_object_foreach((json_t *)headers, k, v) {
            size_t m2, km2;
            m2 = ld_push(l, k, &km2);
            if (reserved_header(k))
                return ld_fail(l, "a generated header; it cannot be declared");
            if ((rc = check_schema(l, v, 0)) != TB_OK)
                return rc;
            const char *t = json_string_value(json_object_get(v, "type"));
            if (strcmp(t, "object") == 0 || strcmp(t, "array") == 0)
                return ld_fail(l, "a header field holds a scalar, not %s", t);
            ld_pop(l, m2, km2);
        }
        ld_pop(l, m, km);
        json_object_update(e->headers, (json_t *)headers);
    }
    e->extra = calloc(json_object_size(e->headers) + 1, sizeof(*e->extra));
    if (!e->extra)
        return TB_ENOMEM;
    size_t n_extra = 0;
    json_object_foreach(e->headers, k, v)
        e->extra[n_extra++] = (char *)k;

    const json_t *content = json_object_get(ev, "content");
    if (content && !json_is_null(content)) {
        m = ld_push(l, "content", &km);
        if ((rc = check_schema(l, content, 0)) != TB_OK)
            return rc;
        if (strcmp(json_string_value(json_object_get(content, "type")), "object") != 0 ||
            json_is_true(json_object_get(content, "nullable")))
            return ld_fail(l, "an event's content is an object: type must be object, not nullable");
        ld_pop(l, m, km);
        e->content = json_deep_copy(content);
    } else {
        e->content = json_pack("{s:s}", "type", "object");
    }
    if (!e->content)
        return TB_ENOMEM;

    if (e->rkey) {
        m = ld_push(l, "routing_key_fmt", &km);
        if ((rc = check_format(l, e, e->rkey)) != TB_OK)
            return rc;
        ld_pop(l, m, km);
    }
    if (e->acl) {
        m = ld_push(l, "required_acl", &km);
        if ((rc = check_format(l, e, e->acl)) != TB_OK)
            return rc;
        ld_pop(l, m, km);
    }
    e->line = tb__yaml_line(l->lines, l->ptr.s);
    if (!(e->file = strdup(l->file)) || !(e->compiled = csch_compile(e->content)))
        return TB_ENOMEM;
    e->type = (tb_event_type){
        .service = e->service, .name = e->name, .level = e->type.level,
        .routing_key_fmt = e->rkey, .acl_fmt = e->acl,
        .extra_fields = (const char *const *)e->extra, .description = e->description,
        .content_schema = e->content, ._schema = e->compiled,
    };
    return TB_OK;
}

static int cmp_service(const void *a, const void *b)
{
    const entry *x = *(entry *const *)a, *y = *(entry *const *)b;
    int c = strcmp(x->service, y->service);
    return c ? c : strcmp(x->name, y->name);
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp((*(entry *const *)a)->name, (*(entry *const *)b)->name);
}

static entry *find(const tb_catalogue *cat, const char *name)
{
    size_t lo = 0, hi = cat->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(name, cat->by_name[mid]->name);
        if (c == 0)
            return cat->by_name[mid];
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* Checks a parsed document, then adds its types (all or none). */
static tb_err add_doc(tb_catalogue *cat, ld *l, const json_t *doc)
{
    size_t m, km;
    const char *k;
    const json_t *v;
    if (!json_is_object(doc))
        return ld_fail(l, "a catalogue file is a mapping with an events list");
    json_object_foreach((json_t *)doc, k, v)
        if (strcmp(k, "service") != 0 && strcmp(k, "events") != 0) {
            ld_push(l, k, &km);
            return ld_fail(l, "unknown key (known: service, events)");
        }
    const json_t *svc = json_object_get(doc, "service");
    if (svc) {
        m = ld_push(l, "service", &km);
        if (!json_is_string(svc) || !*json_string_value(svc))
            return ld_fail(l, "must be a non-empty string");
        ld_pop(l, m, km);
    }
    const json_t *events = json_object_get(doc, "events");
    if (!events)
        return ld_fail(l, "needs an events list");
    m = ld_push(l, "events", &km);
    if (!json_is_array(events))
        return ld_fail(l, "must be a list of event types");
    ld_pop(l, m, km);

    size_t n = json_array_size(events);
    entry **fresh = calloc(n ? n : 1, sizeof(*fresh));
    if (!fresh)
        return TB_ENOMEM;
    tb_err rc = TB_OK;
    size_t i;
    for (i = 0; i < n && rc == TB_OK; i++) {
        size_t em, ekm, im, ikm;
        em = ld_push(l, "events", &ekm);
        im = ld_push_index(l, i, &ikm);
        rc = load_event(l, json_array_get(events, i), svc ? json_string_value(svc) : NULL, &fresh[i]);
        if (rc == TB_OK) {
            const entry *dup = find(cat, fresh[i]->name);
            for (size_t j = 0; j < i && !dup; j++)
                if (strcmp(fresh[j]->name, fresh[i]->name) == 0)
                    dup = fresh[j];
            if (dup)
                rc = ld_fail(l, "event %s is already declared at %s:%d", dup->name, dup->file, dup->line);
        }
        ld_pop(l, im, ikm);
        ld_pop(l, em, ekm);
    }
    if (rc == TB_OK && cat->n + n > cat->cap) {
        size_t cap = cat->cap ? cat->cap : 16;
        while (cap < cat->n + n)
            cap *= 2;
        entry **a = realloc(cat->by_service, cap * sizeof(*a));
        if (a)
            cat->by_service = a;
        entry **b = a ? realloc(cat->by_name, cap * sizeof(*b)) : NULL;
        if (b) {
            cat->by_name = b;
            cat->cap = cap;
        } else {
            rc = TB_ENOMEM;
        }
    }
    if (rc != TB_OK) {
        for (size_t j = 0; j < n; j++)
            entry_free(fresh[j]);
        free(fresh);
        return rc;
    }
    for (size_t j = 0; j < n; j++) {
        cat->by_service[cat->n] = fresh[j];
        cat->by_name[cat->n++] = fresh[j];
    }
    free(fresh);
    qsort(cat->by_service, cat->n, sizeof(entry *), cmp_service);
    qsort(cat->by_name, cat->n, sizeof(entry *), cmp_name);
    return TB_OK;
}

static tb_err add_loaded(tb_catalogue *cat, const char *name, json_t *doc, json_t *lines,
                         char *err, size_t errlen)
{
    ld l = {.file = name, .lines = lines, .err = err, .errlen = errlen};
    tb_err rc = add_doc(cat, &l, doc);
    json_decref(doc);
    json_decref(lines);
    if (rc == TB_ENOMEM && err && errlen)
        snprintf(err, errlen, "%s: out of memory", name);
    return rc;
}

tb_err tb_catalogue_add_buf(tb_catalogue *cat, const char *buf, size_t len, const char *name,
                            char *err, size_t errlen)
{
    char dummy[8];
    if (!cat || (!buf && len) || !name)
        return TB_EINVAL;
    json_t *lines = NULL;
    json_t *doc = tb__yaml_load_buf_lines(buf ? buf : "", len, name, &lines,
                                          err && errlen ? err : dummy, err && errlen ? errlen : sizeof dummy);
    if (!doc)
        return TB_ECATALOGUE;
    return add_loaded(cat, name, doc, lines, err, errlen);
}

static bool yaml_name(const char *n)
{
    size_t len = strlen(n);
    return n[0] != '.' && ((len > 4 && strcmp(n + len - 4, ".yml") == 0) ||
                           (len > 5 && strcmp(n + len - 5, ".yaml") == 0));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static tb_err add_file(tb_catalogue *cat, const char *file, char *err, size_t errlen)
{
    char dummy[8];
    json_t *lines = NULL;
    json_t *doc = tb__yaml_load_file_lines(file, &lines, err && errlen ? err : dummy,
                                           err && errlen ? errlen : sizeof dummy);
    if (!doc)
        return TB_ECATALOGUE;
    return add_loaded(cat, file, doc, lines, err, errlen);
}

tb_err tb_catalogue_add(tb_catalogue *cat, const char *p, char *err, size_t errlen)
{
    struct stat st;
    if (!cat || !p)
        return TB_EINVAL;
    if (stat(p, &st) < 0) {
        if (err && errlen)
            snprintf(err, errlen, "%s: %s", p, strerror(errno));
        return TB_ECATALOGUE;
    }
    if (!S_ISDIR(st.st_mode))
        return add_file(cat, p, err, errlen);

    DIR *d = opendir(p);
    if (!d) {
        if (err && errlen)
            snprintf(err, errlen, "%s: %s", p, strerror(errno));
        return TB_ECATALOGUE;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    tb_err rc = TB_OK;
    struct dirent *de;
    while ((de = readdir(d)) && rc == TB_OK) {
        if (!yaml_name(de->d_name))
            continue;
        if (n == cap) {
            cap = cap ? cap * 2 : 16;
            char **nn = realloc(names, cap * sizeof(*nn));
            if (!nn) {
                rc = TB_ENOMEM;
                break;
            }
            names = nn;
        }
        size_t len = strlen(p) + strlen(de->d_name) + 2;
        if (!(names[n] = malloc(len)))
            rc = TB_ENOMEM;
        else
            snprintf(names[n++], len, "%s/%s", p, de->d_name);
    }
    closedir(d);
    if (rc == TB_OK && n == 0) {
        if (err && errlen)
            snprintf(err, errlen, "%s: no *.yml or *.yaml file in this directory", p);
        rc = TB_ECATALOGUE;
    }
    qsort(names, n, sizeof(*names), cmp_str);
    for (size_t i = 0; i < n && rc == TB_OK; i++)
        rc = add_file(cat, names[i], err, errlen);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (rc == TB_ENOMEM && err && errlen)
        snprintf(err, errlen, "%s: out of memory", p);
    return rc;
}

tb_err tb_catalogue_new(tb_catalogue **out)
{
    if (!out)
        return TB_EINVAL;
    *out = calloc(1, sizeof(**out));
    return *out ? TB_OK : TB_ENOMEM;
}

void tb_catalogue_free(tb_catalogue *cat)
{
    if (!cat)
        return;
    for (size_t i = 0; i < cat->n; i++)
        entry_free(cat->by_service[i]);
    free(cat->by_service);
    free(cat->by_name);
    free(cat);
}

tb_err tb_catalogue_load(const char *const *paths, size_t n, tb_catalogue **out, char *err,
                         size_t errlen)
{
    tb_catalogue *cat;
    if (!out || (!paths && n))
        return TB_EINVAL;
    tb_err rc = tb_catalogue_new(&cat);
    for (size_t i = 0; i < n && rc == TB_OK; i++)
        rc = tb_catalogue_add(cat, paths[i], err, errlen);
    if (rc != TB_OK) {
        tb_catalogue_free(cat);
        return rc;
    }
    *out = cat;
    return TB_OK;
}

size_t tb_catalogue_count(const tb_catalogue *cat)
{
    return cat ? cat->n : 0;
}

const tb_event_type *tb_catalogue_get(const tb_catalogue *cat, size_t i)
{
    return cat && i < cat->n ? &cat->by_service[i]->type : NULL;
}

const tb_event_type *tb_catalogue_find(const tb_catalogue *cat, const char *name)
{
    entry *e = cat && name ? find(cat, name) : NULL;
    return e ? &e->type : NULL;
}

json_t *tb_catalogue_to_json(const tb_catalogue *cat)
{
    json_t *list = json_array();
    for (size_t i = 0; cat && list && i < cat->n; i++) {
        const entry *e = cat->by_service[i];
        json_t *o = json_pack("{s:s,s:s,s:s,s:s?,s:s?,s:s?,s:O,s:O}", "service", e->service,
                              "name", e->name, "level", tb_level_name(e->type.level),
                              "routing_key_fmt", e->rkey ? e->rkey : e->name, "required_acl", e->acl,
                              "description", e->description, "headers", e->headers,
                              "content", e->content);
        if (!o || json_array_append_new(list, o) < 0) {
            json_decref(list);
            return NULL;
        }
    }
    return list ? json_pack("{s:o}", "events", list) : NULL;
}

/* ---- validation -------------------------------------------------------- */

static bool hex_run(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f') || (s[i] >= 'A' && s[i] <= 'F')))
            return false;
    return true;
}

bool tb__is_uuid(const char *s, size_t n)
{
    return n == 36 && s[8] == '-' && s[13] == '-' && s[18] == '-' && s[23] == '-' &&
           hex_run(s, 8) && hex_run(s + 9, 4) && hex_run(s + 14, 4) && hex_run(s + 19, 4) &&
           hex_run(s + 24, 12);
}

static bool digits(const char *s, size_t n, int lo, int hi)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    return v >= lo && v <= hi;
}

/* RFC 3339 date-time: 2026-11-25T20:31:26[.frac](Z|+hh:mm|-hh:mm); 't' and
 * 'z' accepted, as the RFC allows. Leap seconds (60) pass. */
bool tb__is_date_time(const char *s, size_t n)
{
    if (n < 20 || !digits(s, 4, 0, 9999) || s[4] != '-' || !digits(s + 5, 2, 1, 12) ||
        s[7] != '-' || !digits(s + 8, 2, 1, 31) || (s[10] != 'T' && s[10] != 't') ||
        !digits(s + 11, 2, 0, 23) || s[13] != ':' || !digits(s + 14, 2, 0, 59) || s[16] != ':' ||
        !digits(s + 17, 2, 0, 60))
        return false;
    const char *p = s + 19;
    if (*p == '.') {
        const char *f = ++p;
        while (p < s + n && *p >= '0' && *p <= '9')
            p++;
        if (p == f)
            return false;
    }
    size_t rest = n - (size_t)(p - s);
    if (rest == 1 && (*p == 'Z' || *p == 'z'))
        return true;
    return rest == 6 && (*p == '+' || *p == '-') && digits(p + 1, 2, 0, 23) && p[3] == ':' &&
           digits(p + 4, 2, 0, 59);
}

/* Where validation is, kept as segments and written out only for an error
 * message (a check that passes formats nothing). The depth follows the
 * schema's, at most 64 (check_schema) below the root. */
typedef struct vpath {
    const char *key[72];      /* NULL: an array index */
    size_t index[72];
    int n;
} vpath;

static void vp_key(vpath *v, const char *k)
{
    v->key[v->n++] = k;
}

static void vp_index(vpath *v, size_t i)
{
    v->key[v->n] = NULL;
    v->index[v->n++] = i;
}

__attribute__((format(printf, 4, 5)))
static tb_err vfail(const vpath *v, char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        char msg[384];
        path p = {.len = 0};
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof(msg), fmt, ap);
        va_end(ap);
        for (int i = 0; i < v->n; i++) {
            if (v->key[i])
                path_push_key(&p, v->key[i]);
            else
                path_push_index(&p, v->index[i]);
        }
        snprintf(err, errlen, "%s: %s", p.s, msg);
    }
    return TB_EINVALID;
}

/* ---- compiled schemas ------------------------------------------------------
 *
 * A checked schema is compiled once into this tree, so that validating an
 * event costs no lookups in the schema's JSON (a published event is checked
 * on the daemon's publish path). Strings and enum/required arrays are
 * borrowed from the schema, which outlives its compiled form. */

typedef struct tb_schema_int csch;

static void csch_free(csch *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n_props; i++)
        csch_free(c->props[i].s);
    free(c->props);
    csch_free(c->items);
    free(c);
}

static int cmp_prop(const void *a, const void *b)
{
    return strcmp(((const tb__prop *)a)->name, ((const tb__prop *)b)->name);
}

/* `s` has passed check_schema. NULL on ENOMEM. */
static csch *csch_compile(const json_t *s)
{
    csch *c = calloc(1, sizeof(*c));
    if (!c)
        return NULL;
    c->type = json_string_value(json_object_get(s, "type"));
    c->nullable = json_is_true(json_object_get(s, "nullable"));
    c->closed = json_is_false(json_object_get(s, "additionalProperties"));
    const char *fmt = json_string_value(json_object_get(s, "format"));
    c->format = !fmt ? TB__FMT_NONE : strcmp(fmt, "uuid") == 0 ? TB__FMT_UUID : TB__FMT_DATE_TIME;
    c->en = json_object_get(s, "enum");
    c->required = json_object_get(s, "required");
    const json_t *props = json_object_get(s, "properties");
    if (json_object_size(props)) {
        c->props = calloc(json_object_size(props), sizeof(*c->props));
        if (!c->props) {
            csch_free(c);
            return NULL;
        }
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)props, k, v) {
            c->props[c->n_props].name = k;
            if (!(c->props[c->n_props++].s = csch_compile(v))) {
                csch_free(c);
                return NULL;
            }
        }
        qsort(c->props, c->n_props, sizeof(*c->props), cmp_prop);
    }
    const json_t *items = json_object_get(s, "items");
    if (items && !(c->items = csch_compile(items))) {
        csch_free(c);
        return NULL;
    }
    return c;
}

const csch *tb__schema_prop(const csch *c, const char *name, size_t len)
{
    size_t lo = 0, hi = c->n_props;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const char *pn = c->props[mid].name;
        int r = strncmp(name, pn, len);
        if (r == 0 && pn[len])
            r = -1;              /* name is a proper prefix of pn */
        if (r == 0)
            return c->props[mid].s;
        if (r < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

static bool type_fits(const char *t, const json_t *v)
{
    switch (t[0]) {
    case 'i':
        return json_is_integer(v) ||
               (json_is_real(v) && json_real_value(v) == (double)(long long)json_real_value(v));
    case 'n':
        return t[1] == 'u' ? json_is_number(v) : json_is_null(v); /* number / null */
    case 's':
        return json_is_string(v);
    case 'b':
        return json_is_boolean(v);
    case 'o':
        return json_is_object(v);
    case 'a':
        return json_is_array(v);
    }
    return false;
}

static tb_err validate_at(const csch *c, const json_t *v, vpath *p, char *err, size_t errlen)
{
    if (json_is_null(v) && c->nullable)
        return TB_OK;
    if (!type_fits(c->type, v))
        return vfail(p, err, errlen, "expected %s%s, got %s", c->type, c->nullable ? " or null" : "",
                     json_type_name(v));
    if (c->en) {
        bool hit = false;
        size_t i;
        const json_t *e;
        json_array_foreach(c->en, i, e)
            hit = hit || json_equal((json_t *)e, (json_t *)v);
        if (!hit) {
            char *dump = json_dumps(c->en, JSON_COMPACT | JSON_ENCODE_ANY);
            tb_err rc = vfail(p, err, errlen, "must be one of %s", dump ? dump : "the enum");
            free(dump);
            return rc;
        }
    }
    if (c->format == TB__FMT_UUID && !tb__is_uuid(json_string_value(v), json_string_length(v)))
        return vfail(p, err, errlen, "expected a uuid");
    if (c->format == TB__FMT_DATE_TIME && !tb__is_date_time(json_string_value(v), json_string_length(v)))
        return vfail(p, err, errlen, "expected an RFC 3339 date-time");
    if (json_is_object(v)) {
        size_t i;
        const json_t *r;
        json_array_foreach(c->required, i, r) {
            const char *k = json_string_value(r);
            if (!json_object_get(v, k)) {
                vp_key(p, k);
                return vfail(p, err, errlen, "required but missing");
            }
        }
        const char *k;
        const json_t *mv;
        json_object_foreach((json_t *)v, k, mv) {
            const csch *ps = tb__schema_prop(c, k, strlen(k));
            if (!ps && !c->closed)
                continue;
            vp_key(p, k);
            tb_err rc = ps ? validate_at(ps, mv, p, err, errlen)
                           : vfail(p, err, errlen, "not a property of this event (additionalProperties is false)");
            p->n--;
            if (rc != TB_OK)
                return rc;
        }
    }
    if (json_is_array(v) && c->items) {
        size_t i;
        const json_t *it;
        json_array_foreach(v, i, it) {
            vp_index(p, i);
            tb_err rc = validate_at(c->items, it, p, err, errlen);
            p->n--;
            if (rc != TB_OK)
                return rc;
        }
    }
    return TB_OK;
}

/* check_schema's test of an enum value or an example: `v` against the
 * schema `s` (whose children are checked already). */
static tb_err fits(const json_t *s, const json_t *v, const char *what, char *why, size_t whylen)
{
    csch *c = csch_compile(s);
    if (!c)
        return TB_ENOMEM;
    vpath vp = {.n = 0};
    vp_key(&vp, what);
    tb_err rc = validate_at(c, v, &vp, why, whylen);
    csch_free(c);
    return rc;
}

tb_err tb_event_validate(const tb_event_type *type, const json_t *content, char *err, size_t errlen)
{
    if (!type)
        return TB_EINVAL;
    vpath p = {.n = 0};
    vp_key(&p, "data");
    if (content && !json_is_object(content))
        return vfail(&p, err, errlen, "expected object, got %s", json_type_name(content));
    if (!type->content_schema)
        return TB_OK;
    /* A type of a catalogue comes compiled; one declared in code has its
     * schema checked and compiled for this call. */
    csch *own = NULL;
    const csch *c = type->_schema;
    if (!c) {
        ld l = {.file = "content_schema", .err = err, .errlen = errlen};
        if (check_schema(&l, type->content_schema, 0) != TB_OK)
            return TB_EINVAL;
        if (!(c = own = csch_compile(type->content_schema)))
            return TB_ENOMEM;
    }
    json_t *empty = content ? NULL : json_object();
    tb_err rc = !content && !empty ? TB_ENOMEM
                : validate_at(c, content ? content : empty, &p, err, errlen);
    json_decref(empty);
    csch_free(own);
    return rc;
}
