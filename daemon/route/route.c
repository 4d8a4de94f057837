/* The per-worker session index (DESIGN.md §2, §7): routing an event costs
 * O(candidate recipients), never O(sessions).
 *
 * Every authenticated session is in exactly one list, chosen by its role:
 *   masters            master-tenant tokens: candidates for every event;
 *   tenant->admins     tenant admins and purposes external_api / internal:
 *                      candidates for every event of their tenant;
 *   tenant->users      plain users: candidates for their tenant's
 *                      `user_uuid:*` events; also in tenant->byuser[uuid]
 *                      for events naming them.
 * So no session is a candidate twice for one event, and a session outside
 * the event's tenant is never even looked at (master tenant aside). The
 * remaining per-session checks (session started, subscription, ACL) run only on
 * candidates.
 *
 * ACL verdicts are cached per session: each worker interns the required
 * ACL strings it routes (an id per distinct string), and a session keeps
 * the verdicts of the last two ids it was asked about. Events of one kind
 * share their required ACL, so a broadcast costs one ACL match per session
 * only the first time. The table is bounded: past TBD_ACL_NAMES_MAX
 * distinct strings it is emptied and a generation counter invalidates every
 * session's cache. A token change clears the session's cache. */
#include <stdlib.h>
#include <string.h>
#include <uthash.h>
#include <utlist.h>

#include "route/route.h"
#include "core/server.h"
#include "core/stats.h"
#include "core/worker.h"
#include "net/conn.h"

struct tbd_user {
    char *uuid;
    tbd_conn *conns;           /* linked through uprev/unext */
    UT_hash_handle hh;
};

struct tbd_tenant {
    char *uuid;
    tbd_conn *admins, *users;  /* linked through iprev/inext */
    tbd_user *byuser;
    size_t n;
    UT_hash_handle hh;
};

#define TBD_ACL_NAMES_MAX 65536

struct tbd_acl_name {
    char *acl;
    uint32_t id;
    UT_hash_handle hh;
};

static void acl_names_clear(tbd_worker *w)
{
    struct tbd_acl_name *a, *t;
    HASH_ITER(hh, w->acl_names, a, t) {
        HASH_DEL(w->acl_names, a);
        free(a->acl);
        free(a);
    }
    w->acl_names_n = 0;
}

/* The worker-local id of a required ACL string; 0 if it cannot be interned
 * (ENOMEM: the verdict is then computed without the cache). */
static uint32_t acl_name_id(tbd_worker *w, const char *acl)
{
    struct tbd_acl_name *a;
    HASH_FIND_STR(w->acl_names, acl, a);
    if (a)
        return a->id;
    if (w->acl_names_n >= TBD_ACL_NAMES_MAX) {
        acl_names_clear(w);
        w->acl_gen++;
    }
    if (!(a = malloc(sizeof(*a))) || !(a->acl = strdup(acl))) {
        free(a);
        return 0;
    }
    a->id = ++w->acl_names_n;
    HASH_ADD_KEYPTR(hh, w->acl_names, a->acl, strlen(a->acl), a);
    return a->id;
}

static bool acl_granted(tbd_worker *w, tbd_conn *c, const char *acl, uint32_t id)
{
    if (!acl)
        return true;
    if (id && c->acl_gen == w->acl_gen) {
        for (int i = 0; i < 2; i++)
            if (c->acl_id[i] == id)
                return (c->acl_ok >> i) & 1;
    } else if (id) {
        c->acl_gen = w->acl_gen;
        c->acl_id[0] = c->acl_id[1] = 0;
    }
    bool ok = tbd_token_grants(c->tok, acl);
    if (id) {
        int i = c->acl_next;
        c->acl_next ^= 1;
        c->acl_id[i] = id;
        c->acl_ok = (uint8_t)((c->acl_ok & ~(1u << i)) | ((unsigned)ok << i));
    }
    return ok;
}

static tbd_role role_of(tbd_server *srv, const tbd_token *t)
{
    const char *master = tbd_server_master_tenant(srv);
    if (master && t->tenant_uuid && strcmp(master, t->tenant_uuid) == 0)
        return TBD_ROLE_MASTER;
    if (t->admin)
        return TBD_ROLE_ADMIN;
    if (t->purpose && (strcmp(t->purpose, "external_api") == 0 || strcmp(t->purpose, "internal") == 0))
        return TBD_ROLE_ADMIN;
    return TBD_ROLE_USER;
}

static tbd_tenant *tenant_get(tbd_worker *w, const char *uuid)
{
    tbd_tenant *t;
    HASH_FIND_STR(w->tenants, uuid, t);
    if (t)
        return t;
    if (!(t = calloc(1, sizeof(*t))) || !(t->uuid = strdup(uuid))) {
        free(t);
        return NULL;
    }
    HASH_ADD_KEYPTR(hh, w->tenants, t->uuid, strlen(t->uuid), t);
    return t;
}

static tbd_user *user_get(tbd_tenant *t, const char *uuid)
{
    tbd_user *u;
    HASH_FIND_STR(t->byuser, uuid, u);
    if (u)
        return u;
    if (!(u = calloc(1, sizeof(*u))) || !(u->uuid = strdup(uuid))) {
        free(u);
        return NULL;
    }
    HASH_ADD_KEYPTR(hh, t->byuser, u->uuid, strlen(u->uuid), u);
    return u;
}

/* Adds an authenticated session; on ENOMEM it stays out of the index and so
 * receives nothing (never something it should not). */
void tbd_route_add(tbd_worker *w, tbd_conn *c)
{
    if (c->indexed || !c->tok)
        return;
    c->acl_id[0] = c->acl_id[1] = 0; /* a new token: verdicts start over */
    tbd_role role = role_of(w->srv, c->tok);
    if (role == TBD_ROLE_MASTER) {
        DL_APPEND2(w->masters, c, iprev, inext);
    } else {
        if (!c->tok->tenant_uuid)
            return;
        tbd_tenant *t = tenant_get(w, c->tok->tenant_uuid);
        if (!t)
            return;
        if (role == TBD_ROLE_ADMIN) {
            DL_APPEND2(t->admins, c, iprev, inext);
        } else {
            if (c->tok->user_uuid) {
                tbd_user *u = user_get(t, c->tok->user_uuid);
                if (!u)
                    return;
                DL_APPEND2(u->conns, c, uprev, unext);
                c->user = u;
            }
            DL_APPEND2(t->users, c, iprev, inext);
        }
        t->n++;
        c->tenant = t;
    }
    c->role = (uint8_t)role;
    c->indexed = true;
}

void tbd_route_del(tbd_worker *w, tbd_conn *c)
{
    if (!c->indexed)
        return;
    if (c->role == TBD_ROLE_MASTER) {
        DL_DELETE2(w->masters, c, iprev, inext);
    } else {
        tbd_tenant *t = c->tenant;
        if (c->role == TBD_ROLE_ADMIN) {
            DL_DELETE2(t->admins, c, iprev, inext);
        } else {
            DL_DELETE2(t->users, c, iprev, inext);
            tbd_user *u = c->user;
            if (u) {
                DL_DELETE2(u->conns, c, uprev, unext);
                if (!u->conns) {
                    HASH_DEL(t->byuser, u);
                    free(u->uuid);
                    free(u);
                }
            }
        }
        if (--t->n == 0) {
            HASH_DEL(w->tenants, t);
            free(t->uuid);
            free(t);
        }
    }
    c->tenant = NULL;
    c->user = NULL;
    c->role = TBD_ROLE_NONE;
    c->indexed = false;
}

static bool subscribed(const tbd_conn *c, const char *name)
{
    if (c->star)
        return true;
    for (uint16_t i = 0; i < c->n_subs; i++)
        if (strcmp(c->subs[i], name) == 0)
            return true;
    return false;
}

static void consider(tbd_worker *w, tbd_conn *c, tbd_msg *m, uint32_t acl_id)
{
    /* STARTED implies the WebSocket phase: leaving it ends the session. */
    if (c->sess != TBD_SESS_STARTED || m->seq <= c->start_seq || !subscribed(c, m->name))
        return;
    if (!acl_granted(w, c, m->required_acl, acl_id))
        return;
    if (tbd_conn_send(c, tbd_buf_ref(c->version == 1 ? m->v1 : m->v2)) == 0) {
        c->n_delivered++;
        TBD_STAT_INC(w, TBD_ST_DELIVERIES);
    }
}

/* tbd_conn_send never unlinks a session (a slow consumer is only marked, and
 * closed at flush time), so the lists are stable while an event is routed. */
#define VISIT(head, field) do { \
        tbd_conn *c_, *n_; \
        for (c_ = (head); c_; c_ = n_) { n_ = c_->field; consider(w, c_, m, acl_id); } \
    } while (0)

void tbd_route_msg(tbd_worker *w, tbd_msg *m)
{
    TBD_STAT_INC(w, TBD_ST_EVENTS_ROUTED);
    if (!tbd_msg_deliverable(m))
        return;
    uint32_t acl_id = m->required_acl ? acl_name_id(w, m->required_acl) : 0;
    VISIT(w->masters, inext);
    if (!m->tenant_uuid)
        return;
    tbd_tenant *t;
    HASH_FIND_STR(w->tenants, m->tenant_uuid, t);
    if (!t)
        return;
    VISIT(t->admins, inext);
    if (m->all_users) {
        VISIT(t->users, inext);
        return;
    }
    for (size_t i = 0; i < m->n_users; i++) {
        tbd_user *u;
        HASH_FIND_STR(t->byuser, m->user_uuids[i], u);
        if (u)
            VISIT(u->conns, unext);
    }
}

void tbd_route_free(tbd_worker *w)
{
    tbd_tenant *t, *tt;
    HASH_ITER(hh, w->tenants, t, tt) {
        tbd_user *u, *ut;
        HASH_ITER(hh, t->byuser, u, ut) {
            HASH_DEL(t->byuser, u);
            free(u->uuid);
            free(u);
        }
        HASH_DEL(w->tenants, t);
        free(t->uuid);
        free(t);
    }
    w->masters = NULL;
    acl_names_clear(w);
}
