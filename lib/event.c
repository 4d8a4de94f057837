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
#include "ws_frame.h" /* tb__ws_utf8_valid */

/* ---- growable string: the codec's text buffer --------------------------- */

static void sb_add(tb_wire_text *b, const char *s, size_t n)
{
    tb_wire_text_put(b, s, n);
}

static void sb_adds(tb_wire_text *b, const char *s)
{
    tb_wire_text_put(b, s, strlen(s));
}

/* Hands the string over (never NULL on success, even when empty). */
static tb_err sb_finish(tb_wire_text *b, char **out)
{
    if (!b->oom && !b->p)
        b->oom = !(b->p = strdup(""));
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
static void sb_add_escaped(tb_wire_text *b, const char *s, size_t n)
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
    tb_wire_text b = {0};
    char *out;

    if (!s)
        return NULL;
    sb_add_escaped(&b, s, strlen(s));
    return sb_finish(&b, &out) == TB_OK ? out : NULL;
}

/* Like Python's repr(float), which is what a Wazo publisher's str.format()
 * produces: the shortest form that reads back to the same double, with ".0"
 * added to integral values. */
static void sb_add_real(tb_wire_text *b, double v)
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

static tb_err add_field(tb_wire_text *b, const struct lookup *lk, const char *name, size_t len)
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
    tb_wire_text b = {0};
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

static void free_strs(char **v, size_t n)
{
    for (size_t i = 0; v && i < n; i++)
        free(v[i]);
    free(v);
}

static tb_err dup_opt(const char *s, char **out)
{
    *out = NULL;
    return !s || (*out = strdup(s)) ? TB_OK : TB_ENOMEM;
}

/* The jansson sink: the header object and the body object (every header,
 * sharing the header's value, then "data"). */
static json_t *to_json(const tb_value *v)
{
    switch (v->kind) {
    case TB_VALUE_NULL:   return json_null();
    case TB_VALUE_BOOL:   return json_boolean(v->u.b);
    case TB_VALUE_INT:    return json_integer(v->u.i);
    case TB_VALUE_REAL:   return json_real(v->u.r);
    case TB_VALUE_STRING: return json_stringn_nocheck(v->u.str.s, v->u.str.len);
    case TB_VALUE_JSON:   return json_incref((json_t *)v->u.json);
    case TB_VALUE_RAW:    return json_loadb(v->u.str.s, v->u.str.len, JSON_DECODE_ANY, NULL);
    }
    return NULL;
}

static tb_err json_header(void *ctx, const char *key, size_t key_len, const tb_value *v)
{
    tb_event *ev = ctx;
    json_t *j = to_json(v);
    if (!j || json_object_setn_nocheck(ev->headers, key, key_len, j) < 0 ||
        json_object_setn_nocheck(ev->body, key, key_len, j) < 0) {
        json_decref(j);
        return TB_ENOMEM;
    }
    json_decref(j);
    return TB_OK;
}

static tb_err json_data(void *ctx, const tb_value *v)
{
    tb_event *ev = ctx;
    json_t *j = to_json(v);
    return j && json_object_set_new_nocheck(ev->body, "data", j) == 0 ? TB_OK : TB_ENOMEM;
}

static const tb_wire_sink json_sink = {.header = json_header, .data = json_data};

/* Copies the addressing into the event and points ev->wire at the copies:
 * the event outlives the caller's strings. */
static tb_err copy_addressing(tb_event *ev, const tb_event_type *type, const tb_event_args *a,
                              const char *origin_uuid)
{
    tb_err rc;
    if ((rc = dup_opt(type->name, &ev->name)) != TB_OK ||
        (rc = dup_opt(origin_uuid, &ev->origin_uuid)) != TB_OK)
        return rc;
    ev->wire.name = ev->name;
    ev->wire.level = type->level;
    ev->wire.origin_uuid = ev->origin_uuid;
    if (type->level != TB_LEVEL_SERVICE &&
        (rc = dup_opt(a->tenant_uuid, &ev->tenant_uuid)) != TB_OK)
        return rc;
    ev->wire.tenant_uuid = ev->tenant_uuid;
    if (type->level == TB_LEVEL_USER && (rc = dup_opt(a->user_uuid, &ev->user_uuid)) != TB_OK)
        return rc;
    ev->wire.user_uuid = ev->user_uuid;
    if (type->level == TB_LEVEL_MULTI_USER && a->user_uuids) {
        if (!(ev->user_uuids = calloc(a->n_user_uuids + 1, sizeof(char *))))
            return TB_ENOMEM;
        for (size_t i = 0; i < a->n_user_uuids; i++, ev->n_user_uuids++)
            if ((rc = dup_opt(a->user_uuids[i], &ev->user_uuids[i])) != TB_OK)
                return rc;
        ev->wire.user_uuids = (const char *const *)ev->user_uuids;
        ev->wire.n_user_uuids = ev->n_user_uuids;
    }
    return TB_OK;
}

/* The extra fields' values, looked up in `fields` then `content` and
 * deep-copied: later changes by the caller cannot alter an event already
 * built (and maybe queued). A name listed twice counts once. */
static tb_err copy_extras(tb_event *ev, const char *const *names, const struct lookup *lk)
{
    size_t n = 0;
    for (const char *const *f = names; f && *f; f++)
        n++;
    if (!n)
        return TB_OK;
    if (!(ev->extra = calloc(n, sizeof(*ev->extra))))
        return TB_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const json_t *v = lk->fields ? json_object_get(lk->fields, names[i]) : NULL;
        bool repeat = false;
        for (size_t k = 0; k < ev->n_extra && !repeat; k++)
            repeat = strcmp(ev->extra[k].key, names[i]) == 0;
        if (repeat)
            continue;
        if (!v && lk->content)
            v = json_object_get(lk->content, names[i]);
        if (!v)
            return TB_ENOFIELD;
        tb_wire_field *x = &ev->extra[ev->n_extra];
        if (!(x->key = strdup(names[i])))
            return TB_ENOMEM;
        x->value.kind = TB_VALUE_JSON;
        if (!(x->value.u.json = json_deep_copy(v))) {
            free((char *)x->key);
            return TB_ENOMEM;
        }
        ev->n_extra++;
    }
    ev->wire.extra = ev->extra;
    ev->wire.n_extra = ev->n_extra;
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
    if (args->fields && !json_is_object(args->fields))
        return TB_EINVAL;
    ev = calloc(1, sizeof *ev);
    if (!ev)
        return TB_ENOMEM;
    /* The codec's checks (name, level, addressing, UTF-8) come first: a
     * format naming {tenant_uuid} must not hide a missing tenant. */
    ev->wire = (tb_wire_event){
        .name = type->name, .level = type->level, .tenant_uuid = args->tenant_uuid,
        .user_uuid = args->user_uuid, .user_uuids = args->user_uuids,
        .n_user_uuids = args->n_user_uuids, .origin_uuid = origin_uuid,
    };
    if ((rc = tb_wire_check(&ev->wire)) != TB_OK)
        goto fail;
    ev->wire = (tb_wire_event){0};
    if ((rc = copy_addressing(ev, type, args, origin_uuid)) != TB_OK)
        goto fail;

    lk = (struct lookup){
        .tenant_uuid = args->tenant_uuid,
        .user_uuid = args->user_uuid,
        .fields = args->fields,
        .content = json_is_object(args->content) ? args->content : NULL,
    };
    rc = TB_OK;
    if (type->routing_key_fmt)
        rc = format_key(type->routing_key_fmt, &lk, &ev->routing_key);
    if (rc == TB_OK && type->acl_fmt) {
        rc = format_key(type->acl_fmt, &lk, &ev->required_acl);
        ev->wire.acl_set = true;
    }
    if (rc != TB_OK)
        goto fail;
    ev->wire.routing_key = ev->routing_key;
    ev->wire.required_acl = ev->required_acl;
    if ((rc = copy_extras(ev, type->extra_fields, &lk)) != TB_OK)
        goto fail;

    rc = TB_ENOMEM;
    ev->content = args->content ? json_deep_copy(args->content) : json_object();
    if (!ev->content)
        goto fail;
    ev->data = (tb_value){.kind = TB_VALUE_JSON, .u.json = ev->content};
    ev->wire.data = &ev->data;
    if (args->timestamp) {
        rc = TB_EINVAL;
        if (strlen(args->timestamp) >= sizeof ev->timestamp)
            goto fail;
        strcpy(ev->timestamp, args->timestamp);
    } else {
        tb_timestamp_now(ev->timestamp);
    }
    ev->wire.timestamp = ev->timestamp;
    if (!(ev->headers = json_object()) || !(ev->body = json_object()))
        goto fail;
    if ((rc = tb_wire_encode(&ev->wire, &json_sink, ev)) != TB_OK)
        goto fail;
    /* The ACL the event carries, for tb_event_required_acl(). */
    if (!ev->wire.acl_set) {
        rc = TB_ENOMEM;
        const json_t *acl = json_object_get(ev->headers, "required_acl");
        if (!(ev->required_acl = strdup(json_string_value(acl))))
            goto fail;
    }
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
    json_decref(ev->content);
    for (size_t i = 0; i < ev->n_extra; i++) {
        free((char *)ev->extra[i].key);
        json_decref((json_t *)ev->extra[i].value.u.json);
    }
    free(ev->extra);
    free_strs(ev->user_uuids, ev->n_user_uuids);
    free(ev->user_uuid);
    free(ev->tenant_uuid);
    free(ev->origin_uuid);
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
    return ev ? tb_wire_routing_key(&ev->wire) : NULL;
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

const tb_wire_event *tb_event_wire(const tb_event *ev)
{
    return ev ? &ev->wire : NULL;
}

tb_err tb_event_set_required_acl(tb_event *ev, const char *acl)
{
    char *copy = NULL;
    json_t *v;

    if (!ev)
        return TB_EINVAL;
    if (acl) {
        if (!tb__ws_utf8_valid((const uint8_t *)acl, strlen(acl)))
            return TB_EINVAL;
        if (!(copy = strdup(acl)))
            return TB_ENOMEM;
        if (!(v = json_string_nocheck(acl))) {
            free(copy);
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
    ev->wire.acl_set = true;
    ev->wire.required_acl = copy;
    return TB_OK;
}
