/* POST /api/events without a DOM (see api_fast.h for what it takes and
 * what it leaves to the general path).
 *
 * Why not jansson here: the general path parses the body into a tree and
 * builds each event from it (tb_event_new, which deep-copies the content
 * and keeps a jansson view). Here yajl streams the body once; strings and
 * the compact re-emission of `data` go to one growing arena per request, and
 * each event ends as a tb_wire_event pointing into it, which the bus encodes
 * (tenbus/wire.h: the one place DESIGN.md §1's rules are written).
 *
 * Equivalence with the general path (jansson's json_loadb): yajl is laxer
 * than jansson in places (UTF-8, \v and \f as whitespace, \u0000 and
 * surrogate escapes, number ranges, a string left open after the value).
 * json_scan.h's checks close those gaps, the same ones the AMQP consumer
 * uses: tbd_json_prescan on the whole body first, tbd_json_number_ok on
 * each number. Here a string holding NUL is declined too, as is nesting
 * deeper than MAX_DEPTH and anything after the top-level value. `data` is
 * passed on as written (compacted), duplicate keys included: see
 * tenbus/wire.h on bodies. */
#include "http/api_fast.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "catalogue/catalogue.h"
#include "route/json_scan.h"

#define MAX_DEPTH 512      /* jansson's own limit is 2048 */

/* ---- arena: one growing text; things in it are named by offset ---------- */

typedef tb_wire_text arena;

static void put(arena *a, const void *s, size_t n)
{
    tb_wire_text_put(a, s, n);
}

static void putc1(arena *a, char c)
{
    tb_wire_text_put(a, &c, 1);
}

/* A JSON string, quoted and escaped as the codec writes them. */
static void put_jstr(arena *a, const char *s, size_t n)
{
    tb_wire_text_put_string(a, s, n);
}

/* ---- per-request parse state ------------------------------------------- */

#define NONE ((size_t)-1)

/* The members of one event object, as offsets of NUL-terminated strings in
 * the arena (NONE: absent or null). */
typedef struct fev {
    size_t name, level, tenant, user, rkey, acl;
    bool acl_given;           /* required_acl present: string (acl) or null */
    bool users_given;         /* user_uuids is a list */
    size_t users_first, n_users; /* a run of user offsets in fast.uoffs */
    size_t data, data_len;    /* compact JSON of data; NONE: absent */
} fev;

/* An event that passed the checks, with what it resolved to. */
typedef struct fev_done {
    fev e;
    tb_level level;
} fev_done;

typedef enum fkey {
    K_SKIP, K_NAME, K_LEVEL, K_TENANT, K_USER, K_USERS, K_RKEY, K_ACL, K_DATA, K_NULL_ONLY,
} fkey;

typedef struct fast {
    const tbd_api_ctx *ctx;
    arena a;                  /* strings and data of the current request */
    size_t *uoffs;
    size_t n_uoffs, cap_uoffs;
    fev_done *evs;            /* the request's events, checked */
    size_t n_evs, cap_evs;
    const char **uscratch;    /* one event's users, for its checks */
    size_t cap_uscratch;
    int depth;                /* containers open */
    int ev_depth;             /* depth inside an event object (1 or 2), 0 outside */
    bool batch, seen_top, top_done;
    fkey key;                 /* member whose value is being read */
    fev ev;
    /* Per open container inside data: is it an object, has it had a member. */
    bool is_map[MAX_DEPTH + 1], first[MAX_DEPTH + 1];
} fast;

static void ev_reset(fev *e)
{
    *e = (fev){.name = NONE, .level = NONE, .tenant = NONE, .user = NONE, .rkey = NONE,
               .acl = NONE, .data = NONE};
}

static size_t put_cstr(fast *f, const unsigned char *s, size_t n)
{
    size_t off = f->a.len;
    put(&f->a, s, n);
    putc1(&f->a, '\0');
    return off;
}

static const char *at(const fast *f, size_t off)
{
    return off == NONE ? NULL : f->a.p + off;
}

/* Inside `data` (the value of K_DATA, at any depth): before a value, the
 * separator its container needs. */
static bool in_data(const fast *f)
{
    return f->ev_depth && f->key == K_DATA && f->depth >= f->ev_depth;
}

static void data_sep(fast *f)
{
    if (f->depth == f->ev_depth) {
        f->ev.data = f->a.len;  /* data's value starts (a repeated member restarts it) */
        return;
    }
    if (!f->is_map[f->depth]) {
        if (!f->first[f->depth])
            putc1(&f->a, ',');
        f->first[f->depth] = false;
    }
}

/* After a value: if it was data itself, it is complete. */
static void data_done(fast *f)
{
    if (f->depth == f->ev_depth) {
        f->ev.data_len = f->a.len - f->ev.data;
        f->key = K_SKIP;
    }
}

static int build_event(fast *f);

/* A scalar at event level: the value of f->key. */
static int member_scalar(fast *f, bool is_null, const unsigned char *s, size_t n, bool is_str)
{
    size_t *slot = NULL;
    switch (f->key) {
    case K_NAME: slot = &f->ev.name; break;
    case K_LEVEL: slot = &f->ev.level; break;
    case K_TENANT: slot = &f->ev.tenant; break;
    case K_USER: slot = &f->ev.user; break;
    case K_RKEY: slot = &f->ev.rkey; break;
    case K_ACL:
        if (!is_null && !is_str)
            return 0;
        f->ev.acl_given = true;
        f->ev.acl = is_null ? NONE : put_cstr(f, s, n);
        return 1;
    case K_USERS:
        if (!is_null)
            return 0;
        f->ev.users_given = false;
        f->ev.n_users = 0;
        return 1;
    case K_NULL_ONLY:
        return is_null;
    case K_SKIP:
    case K_DATA:
        return 1;
    }
    if (is_null) {
        *slot = NONE;
        return 1;
    }
    if (!is_str)
        return 0;
    *slot = put_cstr(f, s, n);
    return 1;
}

/* A scalar anywhere: `raw` is its JSON text (null, literals, numbers),
 * `s` a string's decoded bytes. */
static int scalar(fast *f, bool is_null, const char *raw, size_t raw_len, const unsigned char *s,
                  size_t n, bool is_str)
{
    if (f->depth == 0 || (f->batch && f->depth == 1))
        return 0;                       /* top level or batch element: not an object */
    if (in_data(f)) {
        data_sep(f);
        if (is_str)
            put_jstr(&f->a, (const char *)s, n);
        else
            put(&f->a, raw, raw_len);
        data_done(f);
        return !f->a.oom;
    }
    if (f->depth == f->ev_depth)
        return member_scalar(f, is_null, s, n, is_str);
    if (f->key == K_USERS && f->depth == f->ev_depth + 1) {
        if (!is_str)
            return 0;
        if (f->n_uoffs == f->cap_uoffs) {
            size_t cap = f->cap_uoffs ? f->cap_uoffs * 2 : 64;
            size_t *u = realloc(f->uoffs, cap * sizeof(*u));
            if (!u)
                return 0;
            f->uoffs = u;
            f->cap_uoffs = cap;
        }
        f->uoffs[f->n_uoffs++] = put_cstr(f, s, n);
        f->ev.n_users++;
        return 1;
    }
    return 1;                           /* inside an ignored member */
}

static int cb_null(void *ctx)
{
    return scalar(ctx, true, "null", 4, NULL, 0, false);
}

static int cb_bool(void *ctx, int v)
{
    return scalar(ctx, false, v ? "true" : "false", v ? 4 : 5, NULL, 0, false);
}

/* Numbers are passed on as written, once checked to be numbers jansson
 * would take (json_scan.h). */
static int cb_number(void *ctx, const char *s, size_t n)
{
    if (tbd_json_number_ok(s, n) != 1)
        return 0;
    return scalar(ctx, false, s, n, NULL, 0, false);
}

static int cb_string(void *ctx, const unsigned char *s, size_t n)
{
    if (memchr(s, '\0', n))
        return 0;
    return scalar(ctx, false, NULL, 0, s, n, true);
}

static int open_container(fast *f, bool map)
{
    if (f->depth >= MAX_DEPTH)
        return 0;
    if (f->depth == 0) {
        if (f->seen_top)
            return 0;
        f->seen_top = true;
        f->batch = !map;
        if (map) {
            ev_reset(&f->ev);
            f->ev_depth = 1;
        }
        f->depth++;
        return 1;
    }
    if (f->batch && f->depth == 1) {
        if (!map)
            return 0;
        ev_reset(&f->ev);
        f->ev_depth = 2;
        f->depth++;
        return 1;
    }
    if (in_data(f)) {
        data_sep(f);
        putc1(&f->a, map ? '{' : '[');
        f->depth++;
        f->is_map[f->depth] = map;
        f->first[f->depth] = true;
        return !f->a.oom;
    }
    if (f->depth == f->ev_depth) {
        if (f->key == K_USERS && !map) {
            f->ev.users_given = true;
            f->ev.users_first = f->n_uoffs;
            f->ev.n_users = 0;
        } else if (f->key != K_SKIP) {
            return 0;                   /* a container where a string or null belongs */
        }
    } else if (f->key == K_USERS) {
        return 0;                       /* user_uuids holds strings only */
    }
    f->depth++;
    return 1;
}

static int close_container(fast *f, bool map)
{
    if (in_data(f) && f->depth > f->ev_depth) {
        putc1(&f->a, map ? '}' : ']');
        f->depth--;
        data_done(f);
        return !f->a.oom;
    }
    f->depth--;
    if (map && f->depth == f->ev_depth - 1) {
        f->ev_depth = 0;
        if (build_event(f) < 0)
            return 0;
    }
    if (f->depth == 0) {
        /* The top-level value is complete: stop here, and let the caller
         * check that only whitespace follows. (yajl 2.1 reports a parse
         * complete even when an unfinished token trails the value, such as
         * an unterminated string.) */
        f->top_done = true;
        return 0;
    }
    return 1;
}

static int cb_start_map(void *ctx) { return open_container(ctx, true); }
static int cb_end_map(void *ctx) { return close_container(ctx, true); }
static int cb_start_array(void *ctx) { return open_container(ctx, false); }
static int cb_end_array(void *ctx) { return close_container(ctx, false); }

static int cb_map_key(void *ctx, const unsigned char *k, size_t n)
{
    fast *f = ctx;
    if (memchr(k, '\0', n))
        return 0;
    if (in_data(f) && f->depth > f->ev_depth) {
        if (!f->first[f->depth])
            putc1(&f->a, ',');
        f->first[f->depth] = false;
        put_jstr(&f->a, (const char *)k, n);
        putc1(&f->a, ':');
        return !f->a.oom;
    }
    if (f->depth != f->ev_depth)
        return 1;                       /* a key inside an ignored member */
    static const struct { const char *name; fkey key; } members[] = {
        {"name", K_NAME}, {"level", K_LEVEL}, {"tenant_uuid", K_TENANT},
        {"user_uuid", K_USER}, {"user_uuids", K_USERS}, {"routing_key", K_RKEY},
        {"required_acl", K_ACL}, {"data", K_DATA},
        /* Only the general path handles these, unless null. */
        {"headers", K_NULL_ONLY}, {"routing_key_fmt", K_NULL_ONLY},
    };
    f->key = K_SKIP;
    for (size_t i = 0; i < sizeof(members) / sizeof(members[0]); i++)
        if (strlen(members[i].name) == n && memcmp(members[i].name, k, n) == 0)
            f->key = members[i].key;
    return 1;
}

static const yajl_callbacks callbacks = {
    .yajl_null = cb_null, .yajl_boolean = cb_bool, .yajl_number = cb_number,
    .yajl_string = cb_string, .yajl_start_map = cb_start_map, .yajl_map_key = cb_map_key,
    .yajl_end_map = cb_end_map, .yajl_start_array = cb_start_array,
    .yajl_end_array = cb_end_array,
};

/* ---- one event: the general path's checks, the codec's ------------------ */

static int build_event(fast *f)
{
    const fev *e = &f->ev;
    const char *name = at(f, e->name), *level_s = at(f, e->level), *tenant = at(f, e->tenant);
    const char *user = at(f, e->user), *rkey = at(f, e->rkey);
    /* The general path's checks; its answers when they fail. */
    tbd_api_err err;
    tb_level level;
    if (!name || f->a.oom ||
        tbd_api_event_level(level_s, e->users_given, tenant, user, rkey, NULL, &level, &err) < 0 ||
        tbd_api_may_publish(f->ctx, name, level, tenant, &err) < 0 ||
        !tbd_catalogue_accepts(f->ctx->catalogue, name, level, e->data != NONE ? f->a.p + e->data : NULL,
                               e->data_len))
        return -1;
    if (e->n_users > f->cap_uscratch) {
        size_t cap = e->n_users * 2;
        const char **u = realloc(f->uscratch, cap * sizeof(*u));
        if (!u)
            return -1;
        f->uscratch = u;
        f->cap_uscratch = cap;
    }
    for (size_t i = 0; i < e->n_users; i++)
        f->uscratch[i] = at(f, f->uoffs[e->users_first + i]);
    /* The codec's checks (addressing), on the event as it will be built. */
    tb_wire_event w = {
        .name = name, .level = level, .tenant_uuid = tenant, .user_uuid = user,
        .user_uuids = e->users_given ? f->uscratch : NULL, .n_user_uuids = e->n_users,
        .routing_key = rkey, .acl_set = e->acl_given, .required_acl = at(f, e->acl),
    };
    if (tb_wire_check(&w) != TB_OK)
        return -1;
    if (f->n_evs == f->cap_evs) {
        size_t cap = f->cap_evs ? f->cap_evs * 2 : 16;
        fev_done *v = realloc(f->evs, cap * sizeof(*v));
        if (!v)
            return -1;
        f->evs = v;
        f->cap_evs = cap;
    }
    f->evs[f->n_evs++] = (fev_done){.e = *e, .level = level};
    return 0;
}

/* ---- entry -------------------------------------------------------------- */

void tbd_api_batch_free(tbd_api_batch *b)
{
    free(b->ev);
    free(b->data);
    free(b->users);
    free(b->arena);
    *b = (tbd_api_batch){0};
}

/* Points the batch's events into the arena, now that it will not move. */
static int resolve(fast *f, tbd_api_batch *out)
{
    size_t n = f->n_evs;
    out->ev = calloc(n ? n : 1, sizeof(*out->ev));
    out->data = calloc(n ? n : 1, sizeof(*out->data));
    out->users = calloc(f->n_uoffs ? f->n_uoffs : 1, sizeof(*out->users));
    if (!out->ev || !out->data || !out->users)
        return -1;
    for (size_t i = 0; i < f->n_uoffs; i++)
        out->users[i] = at(f, f->uoffs[i]);
    const char *ts = f->ctx->timestamp ? f->ctx->timestamp : out->ts;
    if (!f->ctx->timestamp)
        tb_timestamp_now(out->ts);
    for (size_t i = 0; i < n; i++) {
        const fev *e = &f->evs[i].e;
        tb_level level = f->evs[i].level;
        tb_wire_event *w = &out->ev[i];
        *w = (tb_wire_event){
            .name = at(f, e->name), .level = level, .routing_key = at(f, e->rkey),
            .acl_set = e->acl_given, .required_acl = at(f, e->acl),
            .origin_uuid = f->ctx->stack_uuid, .timestamp = ts,
        };
        if (level != TB_LEVEL_SERVICE)
            w->tenant_uuid = at(f, e->tenant);
        if (level == TB_LEVEL_USER)
            w->user_uuid = at(f, e->user);
        if (level == TB_LEVEL_MULTI_USER) {
            w->user_uuids = out->users + e->users_first;
            w->n_user_uuids = e->n_users;
        }
        if (e->data != NONE) {
            out->data[i] = (tb_value){.kind = TB_VALUE_RAW, .u.str = {f->a.p + e->data, e->data_len}};
            w->data = &out->data[i];
        }
    }
    out->n = n;
    out->arena = f->a.p;
    f->a = (arena){0};
    return 0;
}

int tbd_api_fast_build(const tbd_api_ctx *ctx, const char *body, size_t len, tbd_api_batch *out)
{
    *out = (tbd_api_batch){0};
    if (!body || len == 0 || !tbd_json_prescan(body, len))
        return -1;
    fast *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    f->ctx = ctx;
    int rc = -1;
    yajl_handle h = yajl_alloc(&callbacks, NULL, f);
    if (h)
        yajl_config(h, yajl_dont_validate_strings, 1);
    if (h && yajl_parse(h, (const unsigned char *)body, len) == yajl_status_client_canceled &&
        f->top_done && !f->a.oom) {
        rc = 0;
        for (size_t i = yajl_get_bytes_consumed(h); i < len && rc == 0; i++)
            if (!strchr(" \t\r\n", body[i]) || !body[i])
                rc = -1;
    }
    if (h)
        yajl_free(h);
    if (rc == 0 && resolve(f, out) < 0) {
        tbd_api_batch_free(out);
        rc = -1;
    }
    tb_wire_text_free(&f->a);
    free(f->uoffs);
    free(f->evs);
    free(f->uscratch);
    free(f);
    return rc;
}
