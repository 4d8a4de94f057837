/* POST /api/events without a DOM (see api_fast.h for what it takes and
 * what it leaves to the general path).
 *
 * Why not jansson here: the general path parses the body into a tree, builds
 * each event as two more trees (tb_event_new: headers, then body with a deep
 * copy of data), serializes the body and reads the routing fields back out:
 * some 90 allocations per event, 38% of the daemon's CPU in the unicast
 * benchmark (bench/README.md). Here yajl streams the body once; strings and
 * the compact re-emission of `data` go to one growing arena per request,
 * and each event ends as one tbd_msg (three allocations).
 *
 * Equivalence with the general path (jansson's json_loadb): yajl is laxer
 * than jansson in places (UTF-8, \v and \f as whitespace, \u0000 and
 * surrogate escapes, number ranges, a string left open after the value).
 * json_scan.h's checks close those gaps, the same ones the AMQP consumer
 * uses: tbd_json_prescan on the whole body first, tbd_json_number_ok on
 * each number. Here a string holding NUL is declined too, as is nesting
 * deeper than MAX_DEPTH and anything after the top-level value. One
 * difference is kept on purpose: a `data` object with a duplicated key is
 * passed on as it came, where jansson keeps the last value only (the same
 * JSON to any reader that takes the last value, as JSON.parse and Python
 * do). */
#include "http/api_fast.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "json_scan.h"

#define MAX_DEPTH 512      /* jansson's own limit is 2048 */
#define MAX_USERS 64       /* more: declined (duplicates are checked pairwise) */

/* ---- arena: one growing buffer; things in it are named by offset ---------- */

typedef struct arena {
    char *p;
    size_t len, cap;
    bool oom;
} arena;

static void put(arena *a, const void *s, size_t n)
{
    if (a->oom || n == 0)
        return;
    if (a->len + n > a->cap) {
        size_t cap = a->cap ? a->cap : 1024;
        while (cap < a->len + n)
            cap *= 2;
        char *p = realloc(a->p, cap);
        if (!p) {
            a->oom = true;
            return;
        }
        a->p = p;
        a->cap = cap;
    }
    memcpy(a->p + a->len, s, n);
    a->len += n;
}

static void putc1(arena *a, char c)
{
    if (a->len < a->cap)
        a->p[a->len++] = c;
    else
        put(a, &c, 1);
}

static void puts0(arena *a, const char *s)
{
    put(a, s, strlen(s));
}

/* The inside of a JSON string, escaped as jansson writes it (UTF-8 kept,
 * control characters escaped, '/' not). `s` is valid UTF-8 without NUL. */
static void put_esc(arena *a, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        put(a, s + start, i - start);
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
            put(a, esc, 6);
            continue;
        }
        put(a, esc, 2);
    }
    put(a, s + start, n - start);
}

static void put_jstr(arena *a, const char *s, size_t n)
{
    putc1(a, '"');
    put_esc(a, s, n);
    putc1(a, '"');
}

/* "<pre><s escaped>", where pre needs no escaping. */
static void put_jstr_pre(arena *a, const char *pre, const char *s)
{
    putc1(a, '"');
    puts0(a, pre);
    put_esc(a, s, strlen(s));
    putc1(a, '"');
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

typedef enum fkey {
    K_SKIP, K_NAME, K_LEVEL, K_TENANT, K_USER, K_USERS, K_RKEY, K_ACL, K_DATA, K_NULL_ONLY,
} fkey;

typedef struct fast {
    const tbd_api_ctx *ctx;
    arena a;                  /* strings and data of the current request */
    arena body;               /* one event's bus body, reused */
    arena acl;                /* one event's default required ACL, reused */
    size_t *uoffs;
    size_t n_uoffs, cap_uoffs;
    tbd_msg **msgs;
    size_t n_msgs, cap_msgs;
    char ts[TB_TIMESTAMP_SIZE]; /* one timestamp for the request's events */
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
        return f->ev.n_users <= MAX_USERS;
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

/* ---- one event: the checks of api.c's build_event, then its body ------- */

static bool nonempty(const char *s)
{
    return s && *s;
}

static void put_member(arena *b, const char *key, const char *value)
{
    putc1(b, ',');
    put_jstr(b, key, strlen(key));
    putc1(b, ':');
    if (value)
        put_jstr(b, value, strlen(value));
    else
        puts0(b, "null");
}

static int build_event(fast *f)
{
    const fev *e = &f->ev;
    const char *name = at(f, e->name), *level_s = at(f, e->level), *tenant = at(f, e->tenant);
    const char *user = at(f, e->user), *rkey = at(f, e->rkey);
    /* The general path's checks; its answers when they fail. */
    tbd_api_err err;
    tb_level level;
    if (!nonempty(name) || f->a.oom ||
        tbd_api_event_level(level_s, e->users_given, tenant, user, rkey, NULL, &level, &err) < 0 ||
        tbd_api_may_publish(f->ctx, name, level, tenant, &err) < 0)
        return -1;
    /* tb_event_new's addressing rule. */
    if ((level != TB_LEVEL_SERVICE && !nonempty(tenant)) || (level == TB_LEVEL_USER && !nonempty(user)))
        return -1;

    /* Users named by the event, without repeats (a header object has each
     * key once). */
    const char *users[MAX_USERS];
    size_t n_users = 0;
    /* A user named "*" makes the header user_uuid:*, which means every user
     * of the tenant: the general path's business. */
    if (level == TB_LEVEL_USER) {
        if (strcmp(user, "*") == 0)
            return -1;
        users[n_users++] = user;
    }
    if (level == TB_LEVEL_MULTI_USER) {
        for (size_t i = 0; i < e->n_users; i++) {
            const char *u = at(f, f->uoffs[e->users_first + i]);
            if (!*u || strcmp(u, "*") == 0)
                return -1;
            bool seen = false;
            for (size_t k = 0; k < n_users && !seen; k++)
                seen = strcmp(users[k], u) == 0;
            if (!seen)
                users[n_users++] = u;
        }
    }

    /* The bus body, in tb_event_new's member order: name, origin_uuid,
     * timestamp, required_access, required_acl, tenant_uuid, user flags,
     * data. */
    arena *b = &f->body;
    b->len = 0;
    puts0(b, "{\"name\":");
    put_jstr(b, name, strlen(name));
    put_member(b, "origin_uuid", f->ctx->stack_uuid);
    put_member(b, "timestamp", f->ts);
    puts0(b, ",\"required_access\":");
    put_jstr_pre(b, "event.", name);
    /* The default ACL is events.<routing key>, the key being the literal
     * one or the name. */
    const char *acl_of = rkey ? rkey : name;
    if (e->acl_given) {
        put_member(b, "required_acl", at(f, e->acl));
    } else {
        puts0(b, ",\"required_acl\":");
        put_jstr_pre(b, "events.", acl_of);
    }
    if (level != TB_LEVEL_SERVICE)
        put_member(b, "tenant_uuid", tenant);
    if (level == TB_LEVEL_TENANT)
        puts0(b, ",\"user_uuid:*\":true");
    for (size_t i = 0; i < n_users; i++) {
        putc1(b, ',');
        put_jstr_pre(b, "user_uuid:", users[i]);
        puts0(b, ":true");
    }
    puts0(b, ",\"data\":");
    if (e->data != NONE)
        put(b, f->a.p + e->data, e->data_len);
    else
        puts0(b, "{}");
    putc1(b, '}');
    if (b->oom)
        return -1;

    /* The message keeps the ACL unescaped. */
    const char *acl = at(f, e->acl);
    if (!e->acl_given) {
        f->acl.len = 0;
        puts0(&f->acl, "events.");
        puts0(&f->acl, acl_of);
        putc1(&f->acl, '\0');
        if (f->acl.oom)
            return -1;
        acl = f->acl.p;
    }
    tbd_msg_fields mf = {
        .name = name, .origin_ok = f->ctx->stack_uuid != NULL, .has_acl = true,
        .required_acl = acl, .tenant_uuid = level != TB_LEVEL_SERVICE ? tenant : NULL,
        .all_users = level == TB_LEVEL_TENANT, .user_uuids = users, .n_users = n_users,
    };
    tbd_msg *m = tbd_msg_new_fields(&mf, b->p, b->len);
    if (!m)
        return -1;
    if (f->n_msgs == f->cap_msgs) {
        size_t cap = f->cap_msgs ? f->cap_msgs * 2 : 16;
        tbd_msg **nm = realloc(f->msgs, cap * sizeof(*nm));
        if (!nm) {
            tbd_msg_unref(m);
            return -1;
        }
        f->msgs = nm;
        f->cap_msgs = cap;
    }
    f->msgs[f->n_msgs++] = m;
    return 0;
}

/* ---- entry -------------------------------------------------------------- */

void tbd_api_fast_free(tbd_msg **m, size_t n)
{
    for (size_t i = 0; m && i < n; i++)
        tbd_msg_unref(m[i]);
    free(m);
}

int tbd_api_fast_build(const tbd_api_ctx *ctx, const char *body, size_t len, tbd_msg ***out,
                       size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!body || len == 0 || !tbd_json_prescan(body, len))
        return -1;
    fast *f = calloc(1, sizeof(*f));
    if (!f)
        return -1;
    f->ctx = ctx;
    tb_timestamp_now(f->ts);
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
    if (rc == 0) {
        *out = f->msgs ? f->msgs : calloc(1, sizeof(*f->msgs));
        *n = f->n_msgs;
        if (!*out)
            rc = -1;
    } else {
        tbd_api_fast_free(f->msgs, f->n_msgs);
    }
    free(f->a.p);
    free(f->body.p);
    free(f->acl.p);
    free(f->uoffs);
    free(f);
    return rc;
}
