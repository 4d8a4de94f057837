/* The routing index (daemon/route.c), the code that enforces tenant
 * isolation, without a server: a worker with real sessions (tokens, the
 * file auth backend for the master tenant) and real messages (msg.c), each
 * routed event checked against DESIGN.md §2 written out again here.
 *
 * Table-driven: every session of the table is indexed at once, and every
 * event of the cross product role x level x tenant x addressed user x ACL
 * is routed; the recipients must be exactly those the rules name. Then the
 * gates (start, subscription, origin, required_acl header) and re-indexing
 * on token renewal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/server.h"
#include "core/worker.h"
#include "net/conn.h"
#include "route/route.h"
#include "auth/token.h"
#include "tmpfiles.h"

#define STACK "51ac0000-0000-4000-8000-000000000001"
#define MASTER "a0000000-0000-4000-8000-00000000000a"
#define TA "7a000000-0000-4000-8000-0000000000a1"
#define TB "7b000000-0000-4000-8000-0000000000b1"
#define U1 "u1000000-0000-4000-8000-000000000001"
#define U2 "u2000000-0000-4000-8000-000000000002"
#define UM "u3000000-0000-4000-8000-00000000000m"

typedef enum { R_MASTER, R_ADMIN, R_EXTERNAL_API, R_INTERNAL, R_USER } role;

/* One session of the table. */
typedef struct sess {
    role role;
    const char *tenant, *user;
    tbd_conn *c;
} sess;

static sess table[] = {
    {R_MASTER, MASTER, UM, NULL},
    {R_ADMIN, TA, "ad-a", NULL},
    {R_EXTERNAL_API, TA, "ext-a", NULL},
    {R_INTERNAL, TA, "int-a", NULL},
    {R_USER, TA, U1, NULL},
    {R_USER, TA, U2, NULL},
    {R_USER, TA, U1, NULL},          /* a second session of the same user */
    {R_ADMIN, TB, "ad-b", NULL},
    {R_USER, TB, U1, NULL},          /* the same user uuid in another tenant */
    {R_USER, TB, U2, NULL},
};
#define N_SESS (sizeof(table) / sizeof(table[0]))

typedef struct fixture {
    tf_dir dir;
    tbd_config cfg;
    tbd_server srv;
    tbd_worker w;
} fixture;

static tbd_token *make_token(role r, const char *tenant, const char *user)
{
    json_t *o = json_pack("{s:s,s:s,s:[s,s],s:{s:s,s:s,s:b}}", "token", "t", "session_uuid", "s",
                          "acl", "websocketd", "events.chat.#", "metadata", "uuid", user,
                          "tenant_uuid", tenant, "admin", r == R_ADMIN);
    if (r == R_EXTERNAL_API || r == R_INTERNAL)
        json_object_set_new(json_object_get(o, "metadata"), "purpose",
                            json_string(r == R_INTERNAL ? "internal" : "external_api"));
    char err[128];
    tbd_token *t = tbd_token_from_json(o, err, sizeof err);
    json_decref(o);
    assert_non_null(t);
    return t;
}

static tbd_conn *make_conn(fixture *f, tbd_token *tok)
{
    tbd_conn *c = calloc(1, sizeof(*c));
    assert_non_null(c);
    c->w = &f->w;
    c->state = TBD_CONN_WS;
    c->version = 2;
    c->sess = TBD_SESS_STARTED;
    c->star = true;
    c->tok = tok;
    return c;
}

/* Frames queued since the last call (and forgets them). */
static uint32_t take_frames(fixture *f, tbd_conn *c)
{
    uint32_t n = c->q_len;
    for (uint32_t i = 0; i < c->q_len; i++)
        tbd_buf_unref(c->q[(c->q_head + i) % c->q_cap]);
    c->q_len = 0;
    c->q_head = 0;
    c->q_bytes = 0;
    c->dirty = false;
    f->w.dirty = NULL;
    return n;
}

static void drain_all(fixture *f)
{
    for (size_t i = 0; i < N_SESS; i++)
        take_frames(f, table[i].c);
}

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof(*f));
    assert_non_null(f);
    assert_int_equal(tf_init(&f->dir), 0);
    f->cfg.tokens_file = strdup(tf_write(&f->dir, "tokens.yml", "tokens: []\n"));
    f->cfg.master_tenant_uuid = strdup(MASTER);
    f->cfg.uuid = strdup(STACK);
    f->srv.cfg = &f->cfg;
    f->srv.auth = tbd_auth_file_new(&f->cfg);
    assert_non_null(f->srv.auth);
    f->w.srv = &f->srv;
    for (size_t i = 0; i < N_SESS; i++) {
        table[i].c = make_conn(f, make_token(table[i].role, table[i].tenant, table[i].user));
        tbd_route_add(&f->w, table[i].c);
        assert_true(table[i].c->indexed);
    }
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    for (size_t i = 0; i < N_SESS; i++) {
        tbd_conn *c = table[i].c;
        tbd_route_del(&f->w, c);
        take_frames(f, c);
        free(c->q);
        tbd_token_unref(c->tok);
        free(c);
    }
    /* The last session out of a tenant took the tenant with it. */
    assert_null(f->w.tenants);
    assert_null(f->w.masters);
    tbd_route_free(&f->w);
    f->srv.auth->ops->free(f->srv.auth);
    free(f->cfg.tokens_file);
    free(f->cfg.master_tenant_uuid);
    free(f->cfg.uuid);
    tf_cleanup(&f->dir);
    free(f);
    return 0;
}

/* ---- events ---- */

typedef enum { L_SERVICE, L_TENANT, L_USER, L_MULTI } level;
typedef enum { A_GRANTED, A_DENIED, A_NULL } aclk;

typedef struct event {
    level level;
    const char *tenant;     /* NULL for service */
    const char *users[3];   /* user / multi-user */
    aclk acl;
} event;

static tbd_msg *make_msg(const event *e, const char *origin, bool with_acl, uint64_t seq)
{
    json_t *h = json_pack("{s:s,s:s}", "name", "chat_message", "origin_uuid", origin);
    if (with_acl)
        json_object_set_new(h, "required_acl", e->acl == A_NULL ? json_null()
                                               : json_string(e->acl == A_GRANTED ? "events.chat.x"
                                                                                 : "events.secret"));
    if (e->tenant)
        json_object_set_new(h, "tenant_uuid", json_string(e->tenant));
    if (e->level == L_TENANT)
        json_object_set_new(h, "user_uuid:*", json_true());
    for (int i = 0; i < 3 && e->users[i]; i++) {
        char key[64];
        snprintf(key, sizeof key, "user_uuid:%s", e->users[i]);
        json_object_set_new(h, key, json_true());
    }
    static const char body[] = "{\"name\":\"chat_message\"}";
    tbd_msg *m = tbd_msg_new(h, body, sizeof body - 1, NULL, STACK);
    json_decref(h);
    assert_non_null(m);
    m->seq = seq;
    return m;
}

/* DESIGN.md §2, rules 5 and 6, for a started session subscribed to `*`. */
static bool should_receive(const sess *s, const event *e)
{
    if (e->acl == A_DENIED)
        return false;
    if (s->role == R_MASTER)
        return true;
    if (!e->tenant || strcmp(e->tenant, s->tenant) != 0)
        return false;
    if (s->role != R_USER)
        return true;
    if (e->level == L_TENANT)
        return true;
    for (int i = 0; i < 3 && e->users[i]; i++)
        if (strcmp(e->users[i], s->user) == 0)
            return true;
    return false;
}

static void expect_recipients(fixture *f, const event *e, tbd_msg *m)
{
    tbd_route_msg(&f->w, m);
    for (size_t i = 0; i < N_SESS; i++) {
        uint32_t got = take_frames(f, table[i].c);
        bool want = should_receive(&table[i], e);
        if (got != (want ? 1u : 0u))
            fail_msg("session %zu (role %d tenant %s user %s): got %u frames, want %d; event "
                     "level %d tenant %s users %s,%s acl %d", i, table[i].role, table[i].tenant,
                     table[i].user, got, want, e->level, e->tenant ? e->tenant : "-",
                     e->users[0] ? e->users[0] : "-", e->users[1] ? e->users[1] : "-", e->acl);
    }
}

static void cross_product(void **state)
{
    fixture *f = *state;
    static const char *const tenants[] = {TA, TB, MASTER, "7c000000-0000-4000-8000-0000000000c1"};
    static const char *const addressed[][2] = {
        {U1, NULL}, {U2, NULL}, {UM, NULL}, {"nobody", NULL}, {U1, U2}, {"nobody", U2},
    };
    uint64_t seq = 1, routed = 0, delivered = 0;
    for (int a = A_GRANTED; a <= A_NULL; a++) {
        event svc = {L_SERVICE, NULL, {NULL}, (aclk)a};
        tbd_msg *m = make_msg(&svc, STACK, true, seq++);
        expect_recipients(f, &svc, m);
        tbd_msg_unref(m);
        routed++;
        for (size_t t = 0; t < sizeof tenants / sizeof *tenants; t++) {
            event ten = {L_TENANT, tenants[t], {NULL}, (aclk)a};
            m = make_msg(&ten, STACK, true, seq++);
            expect_recipients(f, &ten, m);
            tbd_msg_unref(m);
            routed++;
            for (size_t u = 0; u < sizeof addressed / sizeof *addressed; u++) {
                event ev = {addressed[u][1] ? L_MULTI : L_USER, tenants[t],
                            {addressed[u][0], addressed[u][1], NULL}, (aclk)a};
                m = make_msg(&ev, STACK, true, seq++);
                expect_recipients(f, &ev, m);
                tbd_msg_unref(m);
                routed++;
                for (size_t i = 0; i < N_SESS; i++)
                    delivered += should_receive(&table[i], &ev);
            }
        }
    }
    assert_int_equal(routed, 3 * (1 + 4 * 7));
    assert_true(delivered > 0);
}

/* Rules 1 to 4: the gates before the role rules. */
static void gates(void **state)
{
    fixture *f = *state;
    sess *user = &table[4], *master = &table[0];
    event ev = {L_USER, TA, {U1, NULL, NULL}, A_NULL};
    tbd_msg *m;

    /* Not started: nothing. Started after the event was dispatched: nothing. */
    user->c->sess = TBD_SESS_OPEN;
    m = make_msg(&ev, STACK, true, 100);
    tbd_route_msg(&f->w, m);
    assert_int_equal(take_frames(f, user->c), 0);
    user->c->sess = TBD_SESS_STARTED;
    user->c->start_seq = 100;
    tbd_route_msg(&f->w, m);
    assert_int_equal(take_frames(f, user->c), 0);
    tbd_msg_unref(m);
    m = make_msg(&ev, STACK, true, 101);
    tbd_route_msg(&f->w, m);
    assert_int_equal(take_frames(f, user->c), 1);
    tbd_msg_unref(m);
    user->c->start_seq = 0;

    /* Subscribed to another name only: nothing; to this name: delivered. */
    char *other = "other_event", *mine = "chat_message";
    user->c->star = false;
    user->c->subs = &other;
    user->c->n_subs = 1;
    m = make_msg(&ev, STACK, true, 102);
    tbd_route_msg(&f->w, m);
    assert_int_equal(take_frames(f, user->c), 0);
    user->c->subs = &mine;
    tbd_route_msg(&f->w, m);
    assert_int_equal(take_frames(f, user->c), 1);
    tbd_msg_unref(m);
    user->c->subs = NULL;
    user->c->n_subs = 0;
    user->c->star = true;

    /* Another stack's event, or one without a required_acl header: nobody,
     * not even the master tenant. */
    drain_all(f);
    m = make_msg(&ev, "0ther000-0000-4000-8000-000000000000", true, 103);
    tbd_route_msg(&f->w, m);
    for (size_t i = 0; i < N_SESS; i++)
        assert_int_equal(take_frames(f, table[i].c), 0);
    tbd_msg_unref(m);
    m = make_msg(&ev, STACK, false, 104);
    tbd_route_msg(&f->w, m);
    for (size_t i = 0; i < N_SESS; i++)
        assert_int_equal(take_frames(f, table[i].c), 0);
    tbd_msg_unref(m);

    /* A version 1 session gets the v1 frame. */
    master->c->version = 1;
    m = make_msg(&ev, STACK, true, 105);
    tbd_route_msg(&f->w, m);
    assert_int_equal(master->c->q_len, 1);
    assert_ptr_equal(master->c->q[master->c->q_head], m->v1);
    drain_all(f);
    tbd_msg_unref(m);
    master->c->version = 2;
}

/* A renewed token may change tenant, user and role: the session is taken
 * out of the index and put back under the new token (session.c does
 * del + add), and routes by the new one only. */
static void renewal_reindexes(void **state)
{
    fixture *f = *state;
    sess *s = &table[5];   /* user U2 of tenant A */
    event for_a = {L_USER, TA, {U2, NULL, NULL}, A_GRANTED};
    event for_b = {L_USER, TB, {U1, NULL, NULL}, A_GRANTED};
    event tenant_b = {L_TENANT, TB, {NULL}, A_GRANTED};
    tbd_msg *ma = make_msg(&for_a, STACK, true, 200), *mb = make_msg(&for_b, STACK, true, 201);
    tbd_msg *mt = make_msg(&tenant_b, STACK, true, 202);

    tbd_route_msg(&f->w, ma);
    assert_int_equal(take_frames(f, s->c), 1);
    drain_all(f);

    /* Renewed as user U1 of tenant B. */
    tbd_route_del(&f->w, s->c);
    assert_false(s->c->indexed);
    tbd_token_unref(s->c->tok);
    s->c->tok = make_token(R_USER, TB, U1);
    tbd_route_add(&f->w, s->c);
    tbd_route_msg(&f->w, ma);
    assert_int_equal(take_frames(f, s->c), 0);      /* never its old tenant again */
    tbd_route_msg(&f->w, mb);
    assert_int_equal(take_frames(f, s->c), 1);

    /* Renewed as an admin of tenant B: every event of B, not only its own. */
    tbd_route_del(&f->w, s->c);
    tbd_token_unref(s->c->tok);
    s->c->tok = make_token(R_ADMIN, TB, U1);
    tbd_route_add(&f->w, s->c);
    event other_user_b = {L_USER, TB, {U2, NULL, NULL}, A_GRANTED};
    tbd_msg *mo = make_msg(&other_user_b, STACK, true, 203);
    tbd_route_msg(&f->w, mo);
    assert_int_equal(take_frames(f, s->c), 1);
    tbd_route_msg(&f->w, mt);
    assert_int_equal(take_frames(f, s->c), 1);

    /* Renewed as a master-tenant token: even another tenant's events. */
    tbd_route_del(&f->w, s->c);
    tbd_token_unref(s->c->tok);
    s->c->tok = make_token(R_USER, MASTER, UM);
    tbd_route_add(&f->w, s->c);
    tbd_route_msg(&f->w, ma);
    assert_int_equal(take_frames(f, s->c), 1);

    /* Back to what the table says, for the other tests. */
    tbd_route_del(&f->w, s->c);
    tbd_token_unref(s->c->tok);
    s->c->tok = make_token(s->role, s->tenant, s->user);
    tbd_route_add(&f->w, s->c);
    drain_all(f);
    tbd_msg_unref(ma);
    tbd_msg_unref(mb);
    tbd_msg_unref(mt);
    tbd_msg_unref(mo);
}

/* The last session of a tenant leaving removes the tenant; an event for it
 * then reaches nobody (and nothing is left to leak). */
static void last_session_leaves(void **state)
{
    fixture *f = *state;
    sess *ad = &table[7], *u1 = &table[8], *u2 = &table[9];   /* every session of TB */
    tbd_route_del(&f->w, ad->c);
    tbd_route_del(&f->w, u1->c);
    tbd_route_del(&f->w, u2->c);
    tbd_route_del(&f->w, u2->c);   /* twice: harmless */
    event ev = {L_TENANT, TB, {NULL}, A_NULL};
    tbd_msg *m = make_msg(&ev, STACK, true, 300);
    tbd_route_msg(&f->w, m);
    assert_int_equal(take_frames(f, ad->c) + take_frames(f, u1->c) + take_frames(f, u2->c), 0);
    assert_int_equal(take_frames(f, table[0].c), 1);   /* the master tenant still does */
    drain_all(f);
    tbd_msg_unref(m);
    tbd_route_add(&f->w, ad->c);
    tbd_route_add(&f->w, u1->c);
    tbd_route_add(&f->w, u2->c);
}

/* A session whose token has no tenant, outside the master tenant, is left
 * out of the index: it receives nothing. */
static void no_tenant_no_index(void **state)
{
    fixture *f = *state;
    json_t *o = json_pack("{s:s,s:s,s:[s],s:{s:s}}", "token", "t", "session_uuid", "s", "acl",
                          "#", "metadata", "uuid", U1);
    char err[128];
    tbd_token *tok = tbd_token_from_json(o, err, sizeof err);
    json_decref(o);
    if (!tok)
        return;   /* refused at parse time: equally safe */
    tbd_conn *c = make_conn(f, tok);
    tbd_route_add(&f->w, c);
    assert_false(c->indexed);
    event ev = {L_TENANT, TA, {NULL}, A_NULL};
    tbd_msg *m = make_msg(&ev, STACK, true, 400);
    tbd_route_msg(&f->w, m);
    assert_int_equal(take_frames(f, c), 0);
    drain_all(f);
    tbd_msg_unref(m);
    free(c->q);
    tbd_token_unref(tok);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cross_product),
        cmocka_unit_test(gates),
        cmocka_unit_test(renewal_reindexes),
        cmocka_unit_test(last_session_leaves),
        cmocka_unit_test(no_tenant_no_index),
        cmocka_unit_test(cross_product),   /* again, after the index was churned */
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
