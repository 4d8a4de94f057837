/* The wire codec (see tenbus/wire.h): DESIGN.md §1's header rules, written
 * once, and the JSON text sink. Every publisher of tenbus goes through
 * tb_wire_encode: tb_event_new (event.c), both shapes of tenbusd's
 * POST /api/events, and the RabbitMQ publisher (wire_amqp.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tenbus/event.h"
#include "tenbus/wire.h"
#include "ws_frame.h"   /* tb__ws_utf8_valid */

#define USER_PREFIX "user_uuid:"
#define USER_PREFIX_LEN (sizeof(USER_PREFIX) - 1)
#define SMALL_USERS 16    /* distinct-user check without malloc up to this many */
#define SMALL_KEY 256     /* generated strings built on the stack up to this size */

/* ---- checks ---------------------------------------------------------------- */

static bool nonempty(const char *s)
{
    return s && *s;
}

static bool utf8(const char *s)
{
    return !s || tb__ws_utf8_valid((const uint8_t *)s, strlen(s));
}

/* The generated headers' names, by tb_wire_hdr: the only place they are
 * spelled. */
static const char *const hdr_names[] = {
    [TB_HDR_NAME] = "name",
    [TB_HDR_ORIGIN_UUID] = "origin_uuid",
    [TB_HDR_TIMESTAMP] = "timestamp",
    [TB_HDR_REQUIRED_ACCESS] = "required_access",
    [TB_HDR_REQUIRED_ACL] = "required_acl",
    [TB_HDR_TENANT_UUID] = "tenant_uuid",
};
#define HDR(k) hdr_names[TB_HDR_##k]

tb_wire_hdr tb_wire_header_kind(const char *key)
{
    if (!key)
        return TB_HDR_EXTRA;
    for (int k = TB_HDR_NAME; k <= TB_HDR_TENANT_UUID; k++)
        if (strcmp(key, hdr_names[k]) == 0)
            return (tb_wire_hdr)k;
    if (strncmp(key, USER_PREFIX, USER_PREFIX_LEN) == 0)
        return TB_HDR_USER;
    return TB_HDR_EXTRA;
}

/* Extra headers may not stand in for generated ones: letting content set
 * tenant_uuid or user_uuid:* would let it re-address the event. */
bool tb_wire_reserved_key(const char *key)
{
    return tb_wire_header_kind(key) != TB_HDR_EXTRA || (key && strcmp(key, "data") == 0);
}

static tb_err check_value(const tb_value *v, bool raw_ok)
{
    switch (v->kind) {
    case TB_VALUE_NULL:
    case TB_VALUE_BOOL:
    case TB_VALUE_INT:
    case TB_VALUE_REAL:
        return TB_OK;
    case TB_VALUE_STRING:
        return (!v->u.str.len || (v->u.str.s && !memchr(v->u.str.s, 0, v->u.str.len) &&
                                  tb__ws_utf8_valid((const uint8_t *)v->u.str.s, v->u.str.len)))
                   ? TB_OK : TB_EINVAL;
    case TB_VALUE_JSON:
        return v->u.json ? TB_OK : TB_EINVAL;
    case TB_VALUE_RAW:
        return raw_ok && v->u.str.s ? TB_OK : TB_EINVAL;
    }
    return TB_EINVAL;
}

tb_err tb_wire_check(const tb_wire_event *ev)
{
    if (!ev)
        return TB_EINVAL;
    if (!nonempty(ev->name))
        return TB_ENONAME;
    if ((unsigned)ev->level > TB_LEVEL_MULTI_USER)
        return TB_EINVAL;
    if (ev->level != TB_LEVEL_SERVICE && !nonempty(ev->tenant_uuid))
        return TB_ENOTENANT;
    if (ev->level == TB_LEVEL_USER && !nonempty(ev->user_uuid))
        return TB_ENOUSER;
    if (ev->level == TB_LEVEL_MULTI_USER) {
        /* NULL is "not a list" even when n is 0; an empty list is an event
         * for nobody, which is allowed. */
        if (!ev->user_uuids)
            return TB_ENOUSERS;
        for (size_t i = 0; i < ev->n_user_uuids; i++)
            if (!nonempty(ev->user_uuids[i]))
                return TB_ENOUSERS;
        for (size_t i = 0; i < ev->n_user_uuids; i++)
            if (!utf8(ev->user_uuids[i]))
                return TB_EINVAL;
    }
    if (!utf8(ev->name) || !utf8(ev->routing_key) || !utf8(ev->origin_uuid) ||
        !utf8(ev->timestamp) || (ev->acl_set && !utf8(ev->required_acl)) ||
        (ev->level != TB_LEVEL_SERVICE && !utf8(ev->tenant_uuid)) ||
        (ev->level == TB_LEVEL_USER && !utf8(ev->user_uuid)))
        return TB_EINVAL;
    if (ev->n_extra && !ev->extra)
        return TB_EINVAL;
    for (size_t i = 0; i < ev->n_extra; i++) {
        const char *k = ev->extra[i].key;
        if (!nonempty(k) || !utf8(k) || tb_wire_reserved_key(k) ||
            check_value(&ev->extra[i].value, false) != TB_OK)
            return TB_EINVAL;
        for (size_t j = 0; j < i; j++)
            if (strcmp(ev->extra[j].key, k) == 0)
                return TB_EINVAL;
    }
    if (ev->data && (ev->data->kind != TB_VALUE_JSON && ev->data->kind != TB_VALUE_RAW))
        return TB_EINVAL;
    if (ev->data && check_value(ev->data, true) != TB_OK)
        return TB_EINVAL;
    return TB_OK;
}

const char *tb_wire_routing_key(const tb_wire_event *ev)
{
    return ev->routing_key ? ev->routing_key : ev->name;
}

/* ---- the walk -------------------------------------------------------------- */

/* "<prefix><s>" into buf (size `cap`) or a new allocation (*heap). */
static const char *join(const char *prefix, const char *s, char *buf, size_t cap, char **heap,
                        size_t *len)
{
    size_t p = strlen(prefix), n = strlen(s);
    char *d = p + n + 1 <= cap ? buf : (*heap = malloc(p + n + 1));
    if (!d)
        return NULL;
    memcpy(d, prefix, p);
    memcpy(d + p, s, n + 1);
    *len = p + n;
    return d;
}

static tb_err put_str(const tb_wire_sink *sk, void *ctx, const char *key, const char *s)
{
    tb_value v = {.kind = TB_VALUE_NULL};
    if (s)
        v = tb_value_string(s, strlen(s));
    return sk->header(ctx, key, strlen(key), &v);
}

static tb_err put_joined(const tb_wire_sink *sk, void *ctx, const char *key, const char *prefix,
                         const char *s)
{
    char buf[SMALL_KEY], *heap = NULL;
    size_t len;
    const char *j = join(prefix, s, buf, sizeof buf, &heap, &len);
    if (!j)
        return TB_ENOMEM;
    tb_value v = tb_value_string(j, len);
    tb_err rc = sk->header(ctx, key, strlen(key), &v);
    free(heap);
    return rc;
}

static tb_err put_user_flag(const tb_wire_sink *sk, void *ctx, const char *uuid)
{
    static const tb_value yes = {.kind = TB_VALUE_BOOL, .u.b = true};
    char buf[SMALL_KEY], *heap = NULL;
    size_t len;
    const char *key = join(USER_PREFIX, uuid, buf, sizeof buf, &heap, &len);
    if (!key)
        return TB_ENOMEM;
    tb_err rc = sk->header(ctx, key, len, &yes);
    free(heap);
    return rc;
}

typedef struct user_ent {
    const char *s;
    size_t i;
} user_ent;

static int by_string_then_index(const void *a, const void *b)
{
    const user_ent *x = a, *y = b;
    int c = strcmp(x->s, y->s);
    return c ? c : x->i < y->i ? -1 : x->i > y->i;
}

/* The multi-user flags: each distinct user once, at its first appearance
 * (a header set holds each key once). */
static tb_err put_users(const tb_wire_sink *sk, void *ctx, const char *const *u, size_t n)
{
    if (n <= SMALL_USERS) {
        for (size_t i = 0; i < n; i++) {
            bool seen = false;
            for (size_t k = 0; k < i && !seen; k++)
                seen = strcmp(u[k], u[i]) == 0;
            tb_err rc = seen ? TB_OK : put_user_flag(sk, ctx, u[i]);
            if (rc != TB_OK)
                return rc;
        }
        return TB_OK;
    }
    /* Many users: sorted (string, index) pairs find the repeats in
     * O(n log n); of equal strings, the lowest index is kept. */
    user_ent *e = malloc(n * sizeof(*e));
    bool *dup = calloc(n, sizeof(*dup));
    tb_err rc = TB_ENOMEM;
    if (!e || !dup)
        goto out;
    for (size_t i = 0; i < n; i++)
        e[i] = (user_ent){u[i], i};
    qsort(e, n, sizeof(*e), by_string_then_index);
    for (size_t i = 1; i < n; i++)
        if (strcmp(e[i].s, e[i - 1].s) == 0)
            dup[e[i].i] = true;
    rc = TB_OK;
    for (size_t i = 0; i < n && rc == TB_OK; i++)
        if (!dup[i])
            rc = put_user_flag(sk, ctx, u[i]);
out:
    free(e);
    free(dup);
    return rc;
}

tb_err tb_wire_encode(const tb_wire_event *ev, const tb_wire_sink *sk, void *ctx)
{
    tb_err rc = tb_wire_check(ev);
    if (rc != TB_OK)
        return rc;
    if (!sk || !sk->header || !sk->data)
        return TB_EINVAL;
    char ts[TB_TIMESTAMP_SIZE];
    const char *timestamp = ev->timestamp;
    if (!timestamp) {
        tb_timestamp_now(ts);
        timestamp = ts;
    }
    if ((rc = put_str(sk, ctx, HDR(NAME), ev->name)) != TB_OK ||
        (rc = put_str(sk, ctx, HDR(ORIGIN_UUID), ev->origin_uuid)) != TB_OK ||
        (rc = put_str(sk, ctx, HDR(TIMESTAMP), timestamp)) != TB_OK ||
        (rc = put_joined(sk, ctx, HDR(REQUIRED_ACCESS), "event.", ev->name)) != TB_OK)
        return rc;
    /* required_acl is deprecated in wazo but what gateways check (§2). */
    if (ev->acl_set)
        rc = put_str(sk, ctx, HDR(REQUIRED_ACL), ev->required_acl);
    else
        rc = put_joined(sk, ctx, HDR(REQUIRED_ACL), "events.", tb_wire_routing_key(ev));
    if (rc != TB_OK)
        return rc;
    if (ev->level != TB_LEVEL_SERVICE &&
        (rc = put_str(sk, ctx, HDR(TENANT_UUID), ev->tenant_uuid)) != TB_OK)
        return rc;
    switch (ev->level) {
    case TB_LEVEL_TENANT:
        rc = put_user_flag(sk, ctx, "*");
        break;
    case TB_LEVEL_USER:
        rc = put_user_flag(sk, ctx, ev->user_uuid);
        break;
    case TB_LEVEL_MULTI_USER:
        rc = put_users(sk, ctx, ev->user_uuids, ev->n_user_uuids);
        break;
    case TB_LEVEL_SERVICE:
        break;
    }
    for (size_t i = 0; i < ev->n_extra && rc == TB_OK; i++)
        rc = sk->header(ctx, ev->extra[i].key, strlen(ev->extra[i].key), &ev->extra[i].value);
    if (rc != TB_OK)
        return rc;
    static const tb_value empty = {.kind = TB_VALUE_RAW, .u.str = {"{}", 2}};
    return sk->data(ctx, ev->data ? ev->data : &empty);
}

/* ---- JSON text --------------------------------------------------------------- */

static void put(tb_wire_text *t, const void *s, size_t n)
{
    if (t->oom || n == 0)
        return;
    if (t->len + n + 1 > t->cap) {
        size_t cap = t->cap ? t->cap : 512;
        while (cap < t->len + n + 1)
            cap *= 2;
        char *p = realloc(t->p, cap);
        if (!p) {
            t->oom = true;
            return;
        }
        t->p = p;
        t->cap = cap;
    }
    memcpy(t->p + t->len, s, n);
    t->len += n;
    t->p[t->len] = '\0';
}

void tb_wire_text_put(tb_wire_text *t, const void *s, size_t n)
{
    put(t, s, n);
}

static void putc1(tb_wire_text *t, char c)
{
    put(t, &c, 1);
}

void tb_wire_text_put_string(tb_wire_text *t, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t start = 0;
    putc1(t, '"');
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        put(t, s + start, i - start);
        start = i + 1;
        char esc[6] = {'\\', 0};
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        case '\n': esc[1] = 'n'; break;
        case '\r': esc[1] = 'r'; break;
        case '\t': esc[1] = 't'; break;
        default:
            memcpy(esc, "\\u00", 4);
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            put(t, esc, 6);
            continue;
        }
        put(t, esc, 2);
    }
    put(t, s + start, n - start);
    putc1(t, '"');
}

static int dump_cb(const char *buf, size_t size, void *data)
{
    put(data, buf, size);
    return 0;
}

void tb_wire_text_put_value(tb_wire_text *t, const tb_value *v)
{
    char num[32];
    switch (v->kind) {
    case TB_VALUE_NULL:
        put(t, "null", 4);
        return;
    case TB_VALUE_BOOL:
        put(t, v->u.b ? "true" : "false", v->u.b ? 4 : 5);
        return;
    case TB_VALUE_INT:
        put(t, num, (size_t)snprintf(num, sizeof num, "%lld", (long long)v->u.i));
        return;
    case TB_VALUE_REAL: {
        /* As jansson writes a real, through jansson itself. */
        json_t *r = json_real(v->u.r);
        if (!r || json_dump_callback(r, dump_cb, t, JSON_ENCODE_ANY | JSON_COMPACT) < 0)
            t->oom = true;
        json_decref(r);
        return;
    }
    case TB_VALUE_STRING:
        tb_wire_text_put_string(t, v->u.str.s, v->u.str.len);
        return;
    case TB_VALUE_RAW:
        put(t, v->u.str.s, v->u.str.len);
        return;
    case TB_VALUE_JSON:
        if (json_dump_callback(v->u.json, dump_cb, t, JSON_ENCODE_ANY | JSON_COMPACT) < 0)
            t->oom = true;
        return;
    }
}

static void member(tb_wire_text *t, const char *key, size_t key_len)
{
    putc1(t, t->members++ ? ',' : '{');
    tb_wire_text_put_string(t, key, key_len);
    putc1(t, ':');
}

static tb_err text_header(void *ctx, const char *key, size_t key_len, const tb_value *v)
{
    tb_wire_text *t = ctx;
    member(t, key, key_len);
    tb_wire_text_put_value(t, v);
    return t->oom ? TB_ENOMEM : TB_OK;
}

static tb_err text_data(void *ctx, const tb_value *v)
{
    tb_wire_text *t = ctx;
    member(t, "data", 4);
    tb_wire_text_put_value(t, v);
    putc1(t, '}');
    return t->oom ? TB_ENOMEM : TB_OK;
}

const tb_wire_sink tb_wire_text_sink = {.header = text_header, .data = text_data};

void tb_wire_text_reset(tb_wire_text *t)
{
    t->len = 0;
    t->members = 0;
    t->oom = false;
    if (t->p)
        t->p[0] = '\0';
}

void tb_wire_text_free(tb_wire_text *t)
{
    free(t->p);
    *t = (tb_wire_text){0};
}

tb_err tb_wire_body_text(const tb_wire_event *ev, tb_wire_text *out)
{
    tb_wire_text_reset(out);
    return tb_wire_encode(ev, &tb_wire_text_sink, out);
}
