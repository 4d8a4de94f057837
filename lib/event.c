/* The event model (DESIGN.md §1): headers generated from the type, the
 * addressing and the content, so that no event is ever published with
 * half-built addressing. Every builder either returns a complete event or
 * frees all it allocated and leaves *out alone. */
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "event_int.h"

/* ---- growable string ---------------------------------------------------- */

struct sbuf {
    char *p;
    size_t len, cap;
    bool oom; /* sticky: once an append fails, the buffer is useless */
};

static void sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->oom)
        return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        char *p;
        while (cap < b->len + n + 1)
            cap *= 2;
        p = realloc(b->p, cap);
        if (!p) {
            b->oom = true;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = '\0';
}

static void sb_adds(struct sbuf *b, const char *s)
{
    sb_add(b, s, strlen(s));
}

/* Hands the string over (never NULL on success, even when empty). */
static tb_err sb_finish(struct sbuf *b, char **out)
{
    if (!b->oom && !b->p)
        sb_add(b, "", 0);
    if (b->oom) {
        free(b->p);
        return TB_ENOMEM;
    }
    *out = b->p;
    return TB_OK;
}

/* ---- routing-key formatting --------------------------------------------- */

/* Escaping keeps a value inside one routing-key word: AMQP topic patterns
 * treat '.' as the word separator and '#' / '*' as wildcards. */
static void sb_add_escaped(struct sbuf *b, const char *s, size_t n)
{
    size_t start = 0;

    for (size_t i = 0; i < n; i++) {
        const char *rep = s[i] == '.' ? "__DOT__"
                        : s[i] == '#' ? "__HASH__"
                        : s[i] == '*' ? "__STAR__" : NULL;
        if (!rep)
            continue;
        sb_add(b, s + start, i - start);
        sb_adds(b, rep);
        start = i + 1;
    }
    sb_add(b, s + start, n - start);
}

char *tb_escape_key_word(const char *s)
{
    struct sbuf b = {0};
    char *out;

    if (!s)
        return NULL;
    sb_add_escaped(&b, s, strlen(s));
    return sb_finish(&b, &out) == TB_OK ? out : NULL;
}

/* Like Python's repr(float), which is what a Wazo publisher's str.format()
 * produces: the shortest form that reads back to the same double, with ".0"
 * added to integral values. */
static void sb_add_real(struct sbuf *b, double v)
{
    char tmp[40];

    for (int prec = 1; prec <= 17; prec++) {
        snprintf(tmp, sizeof tmp, "%.*g", prec, v);
        if (strtod(tmp, NULL) == v)
            break;
    }
    sb_adds(b, tmp);
    if (!strpbrk(tmp, ".eEn")) /* "n": inf/nan, which JSON cannot carry anyway */
        sb_adds(b, ".0");
}

/* Where {field} values come from, first hit wins. */
struct lookup {
    const char *tenant_uuid;
    const char *user_uuid;
    const json_t *fields;  /* object or NULL */
    const json_t *content; /* object or NULL */
};

static bool name_is(const char *name, size_t len, const char *want)
{
    return strlen(want) == len && memcmp(name, want, len) == 0;
}

static tb_err add_field(struct sbuf *b, const struct lookup *lk, const char *name, size_t len)
{
    const json_t *v = NULL;
    char num[32];

    if (lk->tenant_uuid && name_is(name, len, "tenant_uuid")) {
        sb_add_escaped(b, lk->tenant_uuid, strlen(lk->tenant_uuid));
        return TB_OK;
    }
    if (lk->user_uuid && name_is(name, len, "user_uuid")) {
        sb_add_escaped(b, lk->user_uuid, strlen(lk->user_uuid));
        return TB_OK;
    }
    if (lk->fields)
        v = json_object_getn(lk->fields, name, len);
    if (!v && lk->content)
        v = json_object_getn(lk->content, name, len);
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_STRING:
        /* An embedded NUL would silently cut the key short. */
        if (strlen(json_string_value(v)) != json_string_length(v))
            return TB_EINVAL;
        sb_add_escaped(b, json_string_value(v), json_string_length(v));
        return TB_OK;
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        sb_adds(b, num);
        return TB_OK;
    case JSON_REAL:
        sb_add_real(b, json_real_value(v));
        return TB_OK;
    case JSON_TRUE:
        sb_adds(b, "true");
        return TB_OK;
    case JSON_FALSE:
        sb_adds(b, "false");
        return TB_OK;
    default: /* absent, null, object, array: nothing sensible to put in a key */
        return TB_ENOFIELD;
    }
}

/* `{name}` is replaced by the field's value; there is no `{{` escape, so any
 * brace outside a well-formed `{name}` is an error, as is `{}`. */
static tb_err format_key(const char *fmt, const struct lookup *lk, char **out)
{
    struct sbuf b = {0};
    const char *p = fmt;
    tb_err rc;

    for (;;) {
        const char *open = strpbrk(p, "{}"), *close;

        if (!open) {
            sb_adds(&b, p);
            break;
        }
        sb_add(&b, p, (size_t)(open - p));
        close = *open == '{' ? strpbrk(open + 1, "{}") : NULL;
        if (!close || *close == '{' || close == open + 1) {
            rc = TB_EFORMAT;
            goto fail;
        }
        rc = add_field(&b, lk, open + 1, (size_t)(close - open - 1));
        if (rc != TB_OK)
            goto fail;
        p = close + 1;
    }
    return sb_finish(&b, out);
fail:
    free(b.p);
    return rc;
}

tb_err tb_format_routing_key(const char *fmt, const json_t *fields, char **out)
{
    struct lookup lk = {.fields = fields};

    if (!fmt || !out || (fields && !json_is_object(fields)))
        return TB_EINVAL;
    return format_key(fmt, &lk, out);
}

/* ---- events ------------------------------------------------------------- */

/* json_string() fails both on ENOMEM and on invalid UTF-8; the second is the
 * caller's fault and must not be reported as memory exhaustion. */
static tb_err mkstr(const char *s, json_t **out)
{
    json_t *j = json_string(s);

    if (!j) {
        j = json_string_nocheck(s);
        json_decref(j);
        return j ? TB_EINVAL : TB_ENOMEM;
    }
    *out = j;
    return TB_OK;
}

static tb_err set_str(json_t *obj, const char *key, const char *s)
{
    json_t *j;
    tb_err rc = mkstr(s, &j);

    if (rc != TB_OK)
        return rc;
    return json_object_set_new(obj, key, j) == 0 ? TB_OK : TB_ENOMEM;
}

static tb_err set_new(json_t *obj, const char *key, json_t *v)
{
    return v && json_object_set_new(obj, key, v) == 0 ? TB_OK : TB_ENOMEM;
}

static tb_err set_user_flag(json_t *headers, const char *uuid)
{
    struct sbuf key = {0};
    tb_err rc;

    sb_adds(&key, "user_uuid:");
    sb_adds(&key, uuid);
    if (key.oom) {
        free(key.p);
        return TB_ENOMEM;
    }
    if (json_object_set_new(headers, key.p, json_true()) == 0) {
        rc = TB_OK;
    } else {
        /* The key itself may be invalid UTF-8 (a bad uuid); probe which. */
        json_t *probe = json_string(key.p);
        rc = probe ? TB_ENOMEM : TB_EINVAL;
        json_decref(probe);
    }
    free(key.p);
    return rc;
}

/* Python's isoformat() drops ".000000" when the microseconds are zero; we
 * always write them, parsers accept both. */
void tb_timestamp_now(char buf[TB_TIMESTAMP_SIZE])
{
    struct timespec ts;
    struct tm tm;
    size_t n;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    n = strftime(buf, TB_TIMESTAMP_SIZE, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(buf + n, TB_TIMESTAMP_SIZE - n, ".%06ld+00:00", ts.tv_nsec / 1000);
}

static bool nonempty(const char *s)
{
    return s && *s;
}

static tb_err check_addressing(tb_level level, const tb_event_args *a)
{
    if (level == TB_LEVEL_SERVICE)
        return TB_OK;
    if (!nonempty(a->tenant_uuid))
        return TB_ENOTENANT;
    if (level == TB_LEVEL_USER && !nonempty(a->user_uuid))
        return TB_ENOUSER;
    if (level == TB_LEVEL_MULTI_USER) {
        /* NULL is "not a list" even when n is 0; an empty list is an event
         * for nobody, which is allowed. */
        if (!a->user_uuids)
            return TB_ENOUSERS;
        for (size_t i = 0; i < a->n_user_uuids; i++)
            if (!nonempty(a->user_uuids[i]))
                return TB_ENOUSERS;
    }
    return TB_OK;
}

/* Extra fields may not stand in for generated headers: letting content set
 * tenant_uuid or user_uuid:* would let it re-address the event. */
static bool reserved_header(const char *key)
{
    static const char *const generated[] = {
        "name", "origin_uuid", "timestamp", "required_access", "required_acl",
        "tenant_uuid", "data",
    };

    for (size_t i = 0; i < sizeof generated / sizeof generated[0]; i++)
        if (strcmp(key, generated[i]) == 0)
            return true;
    return strncmp(key, "user_uuid:", 10) == 0;
}

static tb_err build_headers(tb_event *ev, const tb_event_type *type, const tb_event_args *a,
                            const struct lookup *lk, const char *origin_uuid)
{
    json_t *h = ev->headers;
    struct sbuf access = {0};
    char ts[TB_TIMESTAMP_SIZE];
    tb_err rc;

    sb_adds(&access, "event.");
    sb_adds(&access, ev->name);
    if (access.oom) {
        free(access.p);
        return TB_ENOMEM;
    }
    tb_timestamp_now(ts);
    if ((rc = set_str(h, "name", ev->name)) != TB_OK ||
        (rc = origin_uuid ? set_str(h, "origin_uuid", origin_uuid)
                          : set_new(h, "origin_uuid", json_null())) != TB_OK ||
        (rc = set_str(h, "timestamp", ts)) != TB_OK ||
        (rc = set_str(h, "required_access", access.p)) != TB_OK ||
        (rc = set_str(h, "required_acl", ev->required_acl)) != TB_OK) {
        free(access.p);
        return rc;
    }
    free(access.p);

    if (type->level != TB_LEVEL_SERVICE &&
        (rc = set_str(h, "tenant_uuid", a->tenant_uuid)) != TB_OK)
        return rc;
    switch (type->level) {
    case TB_LEVEL_TENANT:
        rc = set_new(h, "user_uuid:*", json_true());
        break;
    case TB_LEVEL_USER:
        rc = set_user_flag(h, a->user_uuid);
        break;
    case TB_LEVEL_MULTI_USER:
        for (size_t i = 0; i < a->n_user_uuids && rc == TB_OK; i++)
            rc = set_user_flag(h, a->user_uuids[i]);
        break;
    case TB_LEVEL_SERVICE:
        break;
    }
    if (rc != TB_OK)
        return rc;

    for (const char *const *f = type->extra_fields; f && *f; f++) {
        const json_t *v = lk->fields ? json_object_get(lk->fields, *f) : NULL;

        if (reserved_header(*f))
            return TB_EINVAL;
        if (!v && lk->content)
            v = json_object_get(lk->content, *f);
        if (!v)
            return TB_ENOFIELD;
        /* Borrowed values: copy, so later changes by the caller cannot alter
         * an event already built (and maybe queued). */
        if ((rc = set_new(h, *f, json_deep_copy(v))) != TB_OK)
            return rc;
    }
    return TB_OK;
}

tb_err tb_event_new(const tb_event_type *type, const tb_event_args *args,
                    const char *origin_uuid, tb_event **out)
{
    static const tb_event_args no_args;
    struct lookup lk;
    tb_event *ev;
    tb_err rc;

    if (!type || !out)
        return TB_EINVAL;
    if (!args)
        args = &no_args;
    if (!nonempty(type->name))
        return TB_ENONAME;
    if ((unsigned)type->level > TB_LEVEL_MULTI_USER)
        return TB_EINVAL;
    if (args->fields && !json_is_object(args->fields))
        return TB_EINVAL;
    if ((rc = check_addressing(type->level, args)) != TB_OK)
        return rc;

    lk = (struct lookup){
        .tenant_uuid = args->tenant_uuid,
        .user_uuid = args->user_uuid,
        .fields = args->fields,
        .content = json_is_object(args->content) ? args->content : NULL,
    };
    ev = calloc(1, sizeof *ev);
    if (!ev)
        return TB_ENOMEM;
    rc = TB_ENOMEM;
    if (!(ev->name = strdup(type->name)))
        goto fail;
    if (type->routing_key_fmt)
        rc = format_key(type->routing_key_fmt, &lk, &ev->routing_key);
    else
        rc = (ev->routing_key = strdup(type->name)) ? TB_OK : TB_ENOMEM;
    if (rc != TB_OK)
        goto fail;
    if (type->acl_fmt) {
        rc = format_key(type->acl_fmt, &lk, &ev->required_acl);
    } else {
        struct sbuf acl = {0};
        sb_adds(&acl, "events.");
        sb_adds(&acl, ev->routing_key);
        rc = sb_finish(&acl, &ev->required_acl);
    }
    if (rc != TB_OK)
        goto fail;

    rc = TB_ENOMEM;
    if (!(ev->headers = json_object()) || !(ev->body = json_object()))
        goto fail;
    if ((rc = build_headers(ev, type, args, &lk, origin_uuid)) != TB_OK)
        goto fail;
    rc = TB_ENOMEM;
    if (json_object_update(ev->body, ev->headers) != 0)
        goto fail;
    if ((rc = set_new(ev->body, "data",
                      args->content ? json_deep_copy(args->content) : json_object())) != TB_OK)
        goto fail;
    *out = ev;
    return TB_OK;
fail:
    tb_event_free(ev);
    return rc;
}

void tb_event_free(tb_event *ev)
{
    if (!ev)
        return;
    json_decref(ev->body);
    json_decref(ev->headers);
    free(ev->required_acl);
    free(ev->routing_key);
    free(ev->name);
    free(ev);
}

const char *tb_event_name(const tb_event *ev)
{
    return ev ? ev->name : NULL;
}

const char *tb_event_routing_key(const tb_event *ev)
{
    return ev ? ev->routing_key : NULL;
}

const char *tb_event_required_acl(const tb_event *ev)
{
    return ev ? ev->required_acl : NULL;
}

const json_t *tb_event_headers(const tb_event *ev)
{
    return ev ? ev->headers : NULL;
}

const json_t *tb_event_body(const tb_event *ev)
{
    return ev ? ev->body : NULL;
}

tb_err tb_event_set_required_acl(tb_event *ev, const char *acl)
{
    char *copy = NULL;
    json_t *v;
    tb_err rc;

    if (!ev)
        return TB_EINVAL;
    if (acl) {
        if ((rc = mkstr(acl, &v)) != TB_OK)
            return rc;
        if (!(copy = strdup(acl))) {
            json_decref(v);
            return TB_ENOMEM;
        }
    } else {
        v = json_null();
    }
    /* Both objects already hold "required_acl". json_object_set() could
     * still rehash (allocate, fail) on a replace; setting through an
     * iterator only swaps the value, so the two objects cannot diverge. */
    json_object_iter_set(ev->headers, json_object_iter_at(ev->headers, "required_acl"), v);
    json_object_iter_set(ev->body, json_object_iter_at(ev->body, "required_acl"), v);
    json_decref(v);
    free(ev->required_acl);
    ev->required_acl = copy;
    return TB_OK;
}
