/* AMQP delivery -> message without a DOM (see amqp_msg.h).
 *
 * The headers: tbd_msg_new reads five things from the JSON object that
 * tbd_amqp_table_to_json makes of the table: the `name`, `origin_uuid`,
 * `required_acl`, `tenant_uuid` members, and which `user_uuid:<u>` members
 * are true. Here each top-level entry is classified as that conversion would
 * turn it (header_value: keep it in step with value_to_json in amqp_json.c)
 * and the object's rules are applied by hand: an entry the conversion leaves
 * out does not count, and of several entries with one key the last one that
 * is kept wins. */
#include "amqp_msg.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws_frame.h"   /* ws__utf8_valid: RFC 3629, as strict as jansson's check */

#define USER_PREFIX "user_uuid:"
#define USER_PREFIX_LEN (sizeof(USER_PREFIX) - 1)
#define SMALL_USERS 16      /* user headers handled without malloc */
#define SMALL_SCRATCH 1024  /* bytes of routing strings handled without malloc */

const char *tbd_amqp_verdict_reason(tbd_amqp_verdict v)
{
    switch (v) {
    case TBD_AMQP_OK:              return "ok";
    case TBD_AMQP_BODY_NOT_JSON:   return "body_not_json";
    case TBD_AMQP_BODY_NOT_OBJECT: return "body_not_object";
    case TBD_AMQP_NO_NAME:         return "no_name";
    case TBD_AMQP_ENOMEM:          return "enomem";
    }
    return "unknown";
}

/* ---- one header value, as the JSON conversion would see it ---- */

typedef enum hv_kind {
    HV_LEFT_OUT,   /* the conversion drops the entry: it does not count */
    HV_STRING,
    HV_NULL,
    HV_TRUE,
    HV_OTHER,      /* false, a number, an object, an array */
} hv_kind;

typedef struct hval {
    hv_kind kind;
    bool is_u64;          /* HV_STRING: the decimal text of u64 (above INT64_MAX) */
    uint64_t u64;
    amqp_bytes_t str;     /* HV_STRING otherwise: valid UTF-8 without NUL */
} hval;

/* bytes_to_string's test (amqp_json.c): valid UTF-8 and no NUL. */
static bool clean_bytes(const void *p, size_t n)
{
    return !n || (!memchr(p, 0, n) && ws__utf8_valid(p, n));
}

static hv_kind finite_or_out(double d)
{
    return isfinite(d) ? HV_OTHER : HV_LEFT_OUT;   /* NaN/inf: no JSON form */
}

static hv_kind header_value(const amqp_field_value_t *v, hval *out)
{
    out->is_u64 = false;
    switch (v->kind) {
    case AMQP_FIELD_KIND_BOOLEAN:
        return v->value.boolean ? HV_TRUE : HV_OTHER;
    case AMQP_FIELD_KIND_I8:
    case AMQP_FIELD_KIND_U8:
    case AMQP_FIELD_KIND_I16:
    case AMQP_FIELD_KIND_U16:
    case AMQP_FIELD_KIND_I32:
    case AMQP_FIELD_KIND_U32:
    case AMQP_FIELD_KIND_I64:
        return HV_OTHER;
    case AMQP_FIELD_KIND_U64:
    case AMQP_FIELD_KIND_TIMESTAMP:
        /* Above INT64_MAX the conversion writes the number as a string. */
        if (v->value.u64 <= (uint64_t)INT64_MAX)
            return HV_OTHER;
        out->is_u64 = true;
        out->u64 = v->value.u64;
        return HV_STRING;
    case AMQP_FIELD_KIND_F32:
        return finite_or_out(v->value.f32);
    case AMQP_FIELD_KIND_F64:
        return finite_or_out(v->value.f64);
    case AMQP_FIELD_KIND_DECIMAL:
        return finite_or_out(v->value.decimal.value / pow(10.0, v->value.decimal.decimals));
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES:
        if (!clean_bytes(v->value.bytes.bytes, v->value.bytes.len))
            return HV_LEFT_OUT;
        out->str = v->value.bytes;
        return HV_STRING;
    case AMQP_FIELD_KIND_VOID:
        return HV_NULL;
    case AMQP_FIELD_KIND_TABLE:
    case AMQP_FIELD_KIND_ARRAY:
        /* At the top level they are never too deep: always an object/array. */
        return HV_OTHER;
    default:
        return HV_LEFT_OUT;
    }
}

/* Sets *slot from the entry's value unless the conversion would leave it out. */
static void take(hval *slot, const amqp_field_value_t *v)
{
    hval h;
    h.kind = header_value(v, &h);
    if (h.kind != HV_LEFT_OUT)
        *slot = h;
}

/* The text of an HV_STRING: `num` (21 bytes) holds a u64's digits. */
static amqp_bytes_t hval_text(const hval *h, char num[21])
{
    if (!h->is_u64)
        return h->str;
    int n = snprintf(num, 21, "%llu", (unsigned long long)h->u64);
    return (amqp_bytes_t){.len = (size_t)n, .bytes = num};
}

static bool key_is(amqp_bytes_t k, const char *lit)
{
    size_t n = strlen(lit);
    return k.len == n && memcmp(k.bytes, lit, n) == 0;
}

/* ---- user_uuid:<u> headers ---- */

typedef struct ucand {
    const char *uuid;     /* the key after the prefix (not NUL-terminated) */
    size_t len;
    size_t idx;           /* entry index: order of appearance */
    bool is_true;
} ucand;

typedef struct users {
    ucand *v;
    size_t n, cap;
    ucand small[SMALL_USERS];
} users;

static int users_add(users *u, const ucand *c)
{
    if (u->n == u->cap) {
        size_t cap = u->cap * 2;
        ucand *v = u->v == u->small ? malloc(cap * sizeof(*v)) : realloc(u->v, cap * sizeof(*v));
        if (!v)
            return -1;
        if (u->v == u->small)
            memcpy(v, u->small, sizeof(u->small));
        u->v = v;
        u->cap = cap;
    }
    u->v[u->n++] = *c;
    return 0;
}

static int by_uuid_then_idx(const void *a, const void *b)
{
    const ucand *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = n ? memcmp(x->uuid, y->uuid, n) : 0;
    if (c)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static bool same_uuid(const ucand *x, const ucand *y)
{
    return x->len == y->len && (!x->len || memcmp(x->uuid, y->uuid, x->len) == 0);
}

static int by_idx(const void *a, const void *b)
{
    const ucand *x = a, *y = b;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

/* Reduces the candidates to the users whose key ends up true, as the JSON
 * object would hold them: one member per key, the last entry's value, at
 * the place of the first entry (jansson keeps a replaced member's place).
 * `*` is taken out into *all. Leaves the users in u->v[0..u->n). */
static void users_settle(users *u, bool *all)
{
    if (u->n > 1)
        qsort(u->v, u->n, sizeof(*u->v), by_uuid_then_idx);
    size_t w = 0;
    for (size_t r = 0; r < u->n;) {
        size_t first = u->v[r].idx, end = r + 1;
        while (end < u->n && same_uuid(&u->v[end], &u->v[r]))
            end++;
        ucand last = u->v[end - 1];
        r = end;
        if (!last.is_true)
            continue;
        if (last.len == 1 && last.uuid[0] == '*') {
            *all = true;
            continue;
        }
        last.idx = first;
        u->v[w++] = last;
    }
    u->n = w;
    if (w > 1)
        qsort(u->v, w, sizeof(*u->v), by_idx);
}

/* ---- the routing headers of a table ---- */

typedef struct route_headers {
    hval name, origin, acl, tenant;
    users users;
    bool all_users;
} route_headers;

static int read_headers(const amqp_table_t *t, route_headers *h)
{
    for (int i = 0; t && i < t->num_entries; i++) {
        const amqp_table_entry_t *e = &t->entries[i];
        if (key_is(e->key, "name"))
            take(&h->name, &e->value);
        else if (key_is(e->key, "origin_uuid"))
            take(&h->origin, &e->value);
        else if (key_is(e->key, "required_acl"))
            take(&h->acl, &e->value);
        else if (key_is(e->key, "tenant_uuid"))
            take(&h->tenant, &e->value);
        else if (e->key.len >= USER_PREFIX_LEN &&
                 memcmp(e->key.bytes, USER_PREFIX, USER_PREFIX_LEN) == 0) {
            ucand c = {.uuid = (const char *)e->key.bytes + USER_PREFIX_LEN,
                       .len = e->key.len - USER_PREFIX_LEN, .idx = (size_t)i};
            hval v;
            hv_kind k = header_value(&e->value, &v);
            /* A key that is not clean UTF-8 is left out like its value. */
            if (k == HV_LEFT_OUT || !clean_bytes(c.uuid, c.len))
                continue;
            c.is_true = k == HV_TRUE;
            if (users_add(&h->users, &c) < 0)
                return -1;
        }
    }
    users_settle(&h->users, &h->all_users);
    return 0;
}

/* ---- assembling the message ---- */

/* Copies n bytes and a NUL to *p, advancing it; returns the copy. */
static const char *put(char **p, const void *s, size_t n)
{
    char *d = *p;
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    *p += n + 1;
    return d;
}

/* tbd_msg_new_fields wants C strings: the routing strings are copied, NUL
 * terminated, into a scratch buffer (on the stack unless they are large). */
static tbd_msg *build(const route_headers *h, amqp_bytes_t name, const char *body,
                      size_t body_len, const char *stack_uuid)
{
    char acl_num[21], tenant_num[21], origin_num[21];
    amqp_bytes_t acl = {0}, tenant = {0};
    if (h->acl.kind == HV_STRING)
        acl = hval_text(&h->acl, acl_num);
    if (h->tenant.kind == HV_STRING)
        tenant = hval_text(&h->tenant, tenant_num);
    size_t need = name.len + 1 + acl.len + 1 + tenant.len + 1;
    for (size_t i = 0; i < h->users.n; i++)
        need += h->users.v[i].len + 1;

    char small[SMALL_SCRATCH];
    const char *small_users[SMALL_USERS];
    char *scratch = need <= sizeof(small) ? small : malloc(need);
    const char **uu = h->users.n <= SMALL_USERS ? small_users : malloc(h->users.n * sizeof(*uu));
    tbd_msg *m = NULL;
    if (!scratch || !uu)
        goto out;

    char *p = scratch;
    tbd_msg_fields f = {0};
    f.name = put(&p, name.bytes, name.len);
    if (h->origin.kind == HV_STRING && stack_uuid) {
        amqp_bytes_t o = hval_text(&h->origin, origin_num);
        f.origin_ok = o.len == strlen(stack_uuid) && memcmp(o.bytes, stack_uuid, o.len) == 0;
    }
    /* A required_acl of another type than string/null is treated as absent
     * (msg.c): it cannot be checked, so the event must not reach anyone. */
    f.has_acl = h->acl.kind == HV_STRING || h->acl.kind == HV_NULL;
    if (h->acl.kind == HV_STRING)
        f.required_acl = put(&p, acl.bytes, acl.len);
    if (h->tenant.kind == HV_STRING)
        f.tenant_uuid = put(&p, tenant.bytes, tenant.len);
    f.all_users = h->all_users;
    for (size_t i = 0; i < h->users.n; i++)
        uu[i] = put(&p, h->users.v[i].uuid, h->users.v[i].len);
    f.user_uuids = uu;
    f.n_users = h->users.n;
    m = tbd_msg_new_fields(&f, body, body_len);
out:
    if (scratch != small)
        free(scratch);
    if (uu != small_users)
        free(uu);
    return m;
}

tbd_amqp_verdict tbd_amqp_msg_decode(tbd_json_scanner *scan, const amqp_table_t *headers,
                                     const char *body, size_t body_len,
                                     const char *stack_uuid, tbd_msg **out)
{
    *out = NULL;
    const char *bname;
    size_t bname_len;
    switch (tbd_json_scan(scan, body, body_len, &bname, &bname_len)) {
    case TBD_JSON_INVALID:    return TBD_AMQP_BODY_NOT_JSON;
    case TBD_JSON_NOT_OBJECT: return TBD_AMQP_BODY_NOT_OBJECT;
    case TBD_JSON_ENOMEM:     return TBD_AMQP_ENOMEM;
    case TBD_JSON_OBJECT:     break;
    }

    route_headers h = {0};
    h.users.v = h.users.small;
    h.users.cap = SMALL_USERS;
    tbd_amqp_verdict rc = TBD_AMQP_ENOMEM;
    if (read_headers(headers, &h) < 0)
        goto out;
    /* The header's name if it is a string, else the body's. */
    char num[21];
    amqp_bytes_t name = {.len = bname_len, .bytes = (void *)bname};
    bool have_name = bname != NULL;
    if (h.name.kind == HV_STRING) {
        name = hval_text(&h.name, num);
        have_name = true;
    }
    rc = TBD_AMQP_NO_NAME;
    if (!have_name)
        goto out;
    rc = (*out = build(&h, name, body, body_len, stack_uuid)) ? TBD_AMQP_OK : TBD_AMQP_ENOMEM;
out:
    if (h.users.v != h.users.small)
        free(h.users.v);
    return rc;
}
