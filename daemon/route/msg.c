/* Messages and the one reading of a header set (see msg.h). */
#include "route/msg.h"

#include <stdlib.h>
#include <string.h>
#include <tenbus/wire.h>

#define USER_PREFIX "user_uuid:"
#define USER_PREFIX_LEN (sizeof(USER_PREFIX) - 1)

static const char V2_PREFIX[] = "{\"op\":\"event\",\"code\":0,\"data\":";

void tbd_msg_unref(tbd_msg *m)
{
    if (!m || atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
        return;
    tbd_buf_unref(m->v1);
    tbd_buf_unref(m->v2);
    free(m);
}

/* ---- builder ---- */

void tbd_msg_builder_init(tbd_msg_builder *b, const char *stack_uuid)
{
    b->stack_uuid = stack_uuid;
    b->name = b->origin = b->acl = b->tenant = (tbd_hslot){0};
    b->idx = 0;
    b->users = b->small_users;
    b->n_users = 0;
    b->cap_users = TBD_MSGB_SMALL_USERS;
    b->arena = b->small;
    b->alen = 0;
    b->acap = sizeof(b->small);
    b->oom = false;
}

void tbd_msg_builder_free(tbd_msg_builder *b)
{
    if (b->users != b->small_users)
        free(b->users);
    if (b->arena != b->small)
        free(b->arena);
    b->users = b->small_users;
    b->arena = b->small;
}

/* Copies s into the arena; its offset (strings are read once finished). */
static size_t keep(tbd_msg_builder *b, const char *s, size_t n)
{
    if (b->alen + n > b->acap) {
        size_t cap = b->acap * 2;
        while (cap < b->alen + n)
            cap *= 2;
        char *p = b->arena == b->small ? malloc(cap) : realloc(b->arena, cap);
        if (!p) {
            b->oom = true;
            return 0;
        }
        if (b->arena == b->small)
            memcpy(p, b->small, b->alen);
        b->arena = p;
        b->acap = cap;
    }
    size_t off = b->alen;
    if (n)
        memcpy(b->arena + off, s, n);
    b->alen += n;
    return off;
}

static bool key_is(const char *k, size_t n, const char *lit)
{
    return strlen(lit) == n && memcmp(k, lit, n) == 0;
}

static void set_slot(tbd_msg_builder *b, tbd_hslot *slot, tbd_hv kind, const char *s, size_t n)
{
    slot->kind = kind;
    slot->len = 0;
    if (kind == TBD_HV_STRING) {
        slot->off = keep(b, s, n);
        slot->len = n;
    }
}

void tbd_msg_builder_header(tbd_msg_builder *b, const char *key, size_t key_len, tbd_hv kind,
                            const char *s, size_t len)
{
    size_t idx = b->idx++;
    if (key_is(key, key_len, "name"))
        set_slot(b, &b->name, kind, s, len);
    else if (key_is(key, key_len, "origin_uuid"))
        set_slot(b, &b->origin, kind, s, len);
    else if (key_is(key, key_len, "required_acl"))
        set_slot(b, &b->acl, kind, s, len);
    else if (key_is(key, key_len, "tenant_uuid"))
        set_slot(b, &b->tenant, kind, s, len);
    else if (key_len >= USER_PREFIX_LEN && memcmp(key, USER_PREFIX, USER_PREFIX_LEN) == 0) {
        if (b->n_users == b->cap_users) {
            size_t cap = b->cap_users * 2;
            tbd_ucand *v = b->users == b->small_users ? malloc(cap * sizeof(*v))
                                                      : realloc(b->users, cap * sizeof(*v));
            if (!v) {
                b->oom = true;
                return;
            }
            if (b->users == b->small_users)
                memcpy(v, b->small_users, sizeof(b->small_users));
            b->users = v;
            b->cap_users = cap;
        }
        size_t n = key_len - USER_PREFIX_LEN;
        b->users[b->n_users++] = (tbd_ucand){
            .off = keep(b, key + USER_PREFIX_LEN, n), .len = n, .idx = idx,
            .is_true = kind == TBD_HV_TRUE,
        };
    }
}

bool tbd_msg_builder_has_name(const tbd_msg_builder *b)
{
    return b->name.kind == TBD_HV_STRING;
}

static _Thread_local const tbd_msg_builder *sort_b;   /* qsort has no context argument */

static int by_uuid_then_idx(const void *pa, const void *pb)
{
    const tbd_ucand *x = pa, *y = pb;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = n ? memcmp(sort_b->arena + x->off, sort_b->arena + y->off, n) : 0;
    if (c)
        return c;
    if (x->len != y->len)
        return x->len < y->len ? -1 : 1;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static int by_idx(const void *pa, const void *pb)
{
    const tbd_ucand *x = pa, *y = pb;
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

static bool same_uuid(const tbd_msg_builder *b, const tbd_ucand *x, const tbd_ucand *y)
{
    return x->len == y->len && (!x->len || memcmp(b->arena + x->off, b->arena + y->off, x->len) == 0);
}

static bool repeats(const tbd_msg_builder *b)
{
    for (size_t i = 1; i < b->n_users; i++)
        for (size_t k = 0; k < i; k++)
            if (same_uuid(b, &b->users[i], &b->users[k]))
                return true;
    return false;
}

/* Reduces the candidates to the users whose key ends up true: one per
 * uuid, the last entry's value, at the place of the first entry. `*` is
 * taken out into *all. */
static void settle_users(tbd_msg_builder *b, bool *all)
{
    /* Generated and JSON-fed header sets never repeat a key: skip the sort. */
    bool sort = b->n_users > 1 && (b->n_users > TBD_MSGB_SMALL_USERS || repeats(b));
    if (sort) {
        sort_b = b;
        qsort(b->users, b->n_users, sizeof(*b->users), by_uuid_then_idx);
    }
    size_t w = 0;
    for (size_t r = 0; r < b->n_users;) {
        size_t first = b->users[r].idx, end = r + 1;
        while (sort && end < b->n_users && same_uuid(b, &b->users[end], &b->users[r]))
            end++;
        tbd_ucand last = b->users[end - 1];
        r = end;
        if (!last.is_true)
            continue;
        if (last.len == 1 && b->arena[last.off] == '*') {
            *all = true;
            continue;
        }
        last.idx = first;
        b->users[w++] = last;
    }
    b->n_users = w;
    if (sort && w > 1)
        qsort(b->users, w, sizeof(*b->users), by_idx);
}

/* Copies n bytes and a NUL to *p, advancing it; returns the copy. */
static const char *put(char **p, const char *s, size_t n)
{
    char *d = *p;
    if (n)
        memcpy(d, s, n);
    d[n] = '\0';
    *p += n + 1;
    return d;
}

tbd_msg *tbd_msg_builder_finish(tbd_msg_builder *b, const char *body_name, size_t body_name_len,
                                const char *body, size_t body_len)
{
    if (b->oom)
        return NULL;
    bool all = false;
    settle_users(b, &all);
    const char *name = body_name;
    size_t name_len = body_name_len;
    if (b->name.kind == TBD_HV_STRING) {
        name = b->arena + b->name.off;
        name_len = b->name.len;
    }
    bool acl_str = b->acl.kind == TBD_HV_STRING, tenant_str = b->tenant.kind == TBD_HV_STRING;

    /* One block: the message, the user pointer array, then the strings. */
    size_t strs = (name ? name_len + 1 : 0) + (acl_str ? b->acl.len + 1 : 0) +
                  (tenant_str ? b->tenant.len + 1 : 0);
    for (size_t i = 0; i < b->n_users; i++)
        strs += b->users[i].len + 1;
    size_t arr = b->n_users * sizeof(char *);
    tbd_msg *m = malloc(sizeof(*m) + arr + strs);
    if (!m)
        return NULL;
    memset(m, 0, sizeof(*m));
    atomic_init(&m->refs, 1);
    m->user_uuids = b->n_users ? (const char **)(m + 1) : NULL;
    char *p = (char *)(m + 1) + arr;
    if (name)
        m->name = put(&p, name, name_len);
    if (acl_str)
        m->required_acl = put(&p, b->arena + b->acl.off, b->acl.len);
    if (tenant_str)
        m->tenant_uuid = put(&p, b->arena + b->tenant.off, b->tenant.len);
    for (size_t i = 0; i < b->n_users; i++)
        m->user_uuids[i] = put(&p, b->arena + b->users[i].off, b->users[i].len);
    m->n_users = b->n_users;
    m->all_users = all;
    m->has_acl = acl_str || b->acl.kind == TBD_HV_NULL;
    m->origin_ok = b->origin.kind == TBD_HV_STRING && b->stack_uuid &&
                   b->origin.len == strlen(b->stack_uuid) &&
                   memcmp(b->arena + b->origin.off, b->stack_uuid, b->origin.len) == 0;

    m->v1 = tbd_buf_text3(body, body_len, NULL, 0, NULL, 0);
    m->v2 = tbd_buf_text3(V2_PREFIX, sizeof(V2_PREFIX) - 1, body, body_len, "}", 1);
    if (!m->v1 || !m->v2) {
        tbd_msg_unref(m);
        return NULL;
    }
    return m;
}

/* ---- from the codec ---- */

typedef struct wire_ctx {
    tbd_msg_builder b;
    tb_wire_text *text;
} wire_ctx;

static tb_err wire_header(void *ctx, const char *key, size_t key_len, const tb_value *v)
{
    wire_ctx *w = ctx;
    tb_err rc = tb_wire_text_sink.header(w->text, key, key_len, v);
    tbd_hv kind = v->kind == TB_VALUE_STRING ? TBD_HV_STRING
                : v->kind == TB_VALUE_NULL ? TBD_HV_NULL
                : v->kind == TB_VALUE_BOOL && v->u.b ? TBD_HV_TRUE : TBD_HV_OTHER;
    if (v->kind == TB_VALUE_JSON)
        kind = json_is_string(v->u.json) ? TBD_HV_STRING : json_is_null(v->u.json) ? TBD_HV_NULL
             : json_is_true(v->u.json) ? TBD_HV_TRUE : TBD_HV_OTHER;
    if (kind == TBD_HV_STRING && v->kind == TB_VALUE_JSON)
        tbd_msg_builder_header(&w->b, key, key_len, kind, json_string_value(v->u.json),
                               json_string_length(v->u.json));
    else
        tbd_msg_builder_header(&w->b, key, key_len, kind, v->u.str.s, v->u.str.len);
    return rc != TB_OK ? rc : w->b.oom ? TB_ENOMEM : TB_OK;
}

static tb_err wire_data(void *ctx, const tb_value *v)
{
    wire_ctx *w = ctx;
    return tb_wire_text_sink.data(w->text, v);
}

static const tb_wire_sink msg_sink = {.header = wire_header, .data = wire_data};

tbd_msg *tbd_msg_from_wire(const tb_wire_event *ev, const char *stack_uuid, tb_wire_text *text,
                           int *err)
{
    wire_ctx w;   /* not zeroed: the builder's init sets what it reads */
    w.text = text;
    tbd_msg_builder_init(&w.b, stack_uuid);
    tb_wire_text_reset(text);
    tb_err rc = tb_wire_encode(ev, &msg_sink, &w);
    tbd_msg *m = NULL;
    if (rc == TB_OK && !(m = tbd_msg_builder_finish(&w.b, NULL, 0, text->p, text->len)))
        rc = TB_ENOMEM;
    tbd_msg_builder_free(&w.b);
    *err = rc;
    return m;
}

/* ---- from a JSON header object ---- */

static const char *string_of(const json_t *v)
{
    return json_is_string(v) ? json_string_value(v) : NULL;
}

tbd_msg *tbd_msg_new(const json_t *headers, const char *body, size_t body_len,
                     const json_t *body_obj, const char *stack_uuid)
{
    if (!json_is_object(headers))
        return NULL;
    tbd_msg_builder b;
    tbd_msg_builder_init(&b, stack_uuid);
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)headers, key, v) {
        tbd_hv kind = json_is_string(v) ? TBD_HV_STRING : json_is_null(v) ? TBD_HV_NULL
                    : json_is_true(v) ? TBD_HV_TRUE : TBD_HV_OTHER;
        tbd_msg_builder_header(&b, key, strlen(key), kind, json_string_value(v),
                               json_string_length(v));
    }
    const char *bname = json_is_object(body_obj) ? string_of(json_object_get(body_obj, "name")) : NULL;
    tbd_msg *m = tbd_msg_builder_finish(&b, bname, bname ? strlen(bname) : 0, body, body_len);
    tbd_msg_builder_free(&b);
    return m;
}
