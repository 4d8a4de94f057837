/* Interned ACL lists and strings (daemon/auth/intern.c), and the tokens that
 * share them (daemon/auth/token.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "auth/intern.h"
#include "auth/token.h"

#define T1 "11111111-1111-4111-8111-111111111111"
#define T2 "22222222-2222-4222-8222-222222222222"

static const char *const POLICY[] = {"websocketd", "events.users.me.#", "!events.secret.#",
                                     "tokens.my_session.read", "confd.users.me.edit"};
#define NPOLICY (sizeof POLICY / sizeof POLICY[0])

static size_t n_lists(void)
{
    size_t l, s;
    tbd_intern_counts(&l, &s);
    return l;
}

static size_t n_strs(void)
{
    size_t l, s;
    tbd_intern_counts(&l, &s);
    return s;
}

static void test_same_list_is_shared(void **state)
{
    (void)state;
    size_t before = n_lists();
    /* equal contents, different storage */
    char copy[NPOLICY][64];
    const char *ptrs[NPOLICY];
    for (size_t i = 0; i < NPOLICY; i++) {
        snprintf(copy[i], sizeof copy[i], "%s", POLICY[i]);
        ptrs[i] = copy[i];
    }
    const tbd_acl_list *a = tbd_acl_list_intern(POLICY, NPOLICY);
    const tbd_acl_list *b = tbd_acl_list_intern(ptrs, NPOLICY);
    assert_non_null(a);
    assert_ptr_equal(a, b);
    assert_int_equal(n_lists(), before + 1);
    assert_int_equal(a->n, NPOLICY);
    for (size_t i = 0; i < NPOLICY; i++) {
        assert_string_equal(a->entries[i], POLICY[i]);
        assert_ptr_not_equal(a->entries[i], POLICY[i]); /* its own copy */
    }
    assert_non_null(a->compiled);
    /* one release leaves it to the other holder */
    tbd_acl_list_release(b);
    assert_int_equal(n_lists(), before + 1);
    assert_string_equal(a->entries[1], "events.users.me.#");
    assert_true(tb_acl_grants_as(a->compiled, "events.users.U.x", "U", NULL));
    /* the last release frees it: interning again builds a new one */
    tbd_acl_list_release(a);
    assert_int_equal(n_lists(), before);
    tbd_acl_list_release(NULL);
}

static void test_order_and_entries_make_the_list(void **state)
{
    (void)state;
    size_t before = n_lists();
    const char *ab[] = {"a.b", "c.d"}, *ba[] = {"c.d", "a.b"}, *abx[] = {"a.b", "c.d", "x"};
    /* same bytes laid end to end without the boundaries */
    const char *joined[] = {"a.bc.d"}, *split[] = {"a.", "bc.d"};
    const char *dup[] = {"a.b", "a.b"}, *one[] = {"a.b"};
    const tbd_acl_list *l[] = {
        tbd_acl_list_intern(ab, 2),     tbd_acl_list_intern(ba, 2),
        tbd_acl_list_intern(abx, 3),    tbd_acl_list_intern(abx, 2), /* == ab */
        tbd_acl_list_intern(joined, 1), tbd_acl_list_intern(split, 2),
        tbd_acl_list_intern(dup, 2),    tbd_acl_list_intern(one, 1),
        tbd_acl_list_intern(NULL, 0),   tbd_acl_list_intern(one, 0), /* == empty */
    };
    size_t n = sizeof l / sizeof l[0];
    for (size_t i = 0; i < n; i++)
        assert_non_null(l[i]);
    assert_ptr_equal(l[0], l[3]);
    assert_ptr_equal(l[8], l[9]);
    assert_int_equal(l[8]->n, 0);
    assert_false(tb_acl_grants_as(l[8]->compiled, "a.b", NULL, NULL));
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            if (!((i == 0 && j == 3) || (i == 8 && j == 9)))
                assert_ptr_not_equal(l[i], l[j]);
    assert_int_equal(n_lists(), before + 8);
    for (size_t i = 0; i < n; i++)
        tbd_acl_list_release(l[i]);
    assert_int_equal(n_lists(), before);
    /* refused: entries missing */
    const char *hole[] = {"a", NULL};
    assert_null(tbd_acl_list_intern(NULL, 2));
    assert_null(tbd_acl_list_intern(hole, 2));
    assert_int_equal(n_lists(), before);
}

static void test_strings(void **state)
{
    (void)state;
    size_t before = n_strs();
    char buf[64];
    snprintf(buf, sizeof buf, "%s", T1);
    const char *a = tbd_str_intern(T1), *b = tbd_str_intern(buf), *c = tbd_str_intern(T2);
    assert_ptr_equal(a, b);
    assert_ptr_not_equal(a, buf);
    assert_ptr_not_equal(a, c);
    assert_string_equal(a, T1);
    assert_string_equal(c, T2);
    assert_int_equal(n_strs(), before + 2);
    tbd_str_release(a);
    assert_string_equal(b, T1);
    tbd_str_release(b);
    tbd_str_release(c);
    assert_int_equal(n_strs(), before);
    assert_null(tbd_str_intern(NULL));
    tbd_str_release(NULL);
}

static tbd_token *make(const char *id, const char *user, const char *session, const char *tenant,
                       const char *const *acl, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(acl[i]));
    json_t *o = json_pack("{s:s, s:s?, s:o, s:{s:s?, s:s, s:s}}", "token", id, "session_uuid",
                          session, "acl", a, "metadata", "uuid", user, "tenant_uuid", tenant,
                          "purpose", "user");
    assert_non_null(o);
    char err[256] = "";
    tbd_token *t = tbd_token_from_json(o, err, sizeof err);
    if (!t)
        fail_msg("%s", err);
    json_decref(o);
    return t;
}

/* Tokens of one policy share its list and their tenant, and still match
 * `me` / `my_session` as themselves; the last token gone frees them. */
static void test_tokens_share_and_match_as_themselves(void **state)
{
    (void)state;
    size_t lists = n_lists(), strs = n_strs();
    tbd_token *u1 = make("tok-1", "user-1", "sess-1", T1, POLICY, NPOLICY);
    tbd_token *u2 = make("tok-2", "user-2", "sess-2", T1, POLICY, NPOLICY);
    tbd_token *other = make("tok-3", "user-3", NULL, T2, POLICY, 2);
    assert_ptr_equal(u1->acl, u2->acl);
    assert_ptr_equal(u1->tenant_uuid, u2->tenant_uuid);
    assert_ptr_equal(u1->purpose, other->purpose);
    assert_ptr_not_equal(u1->acl, other->acl);
    assert_int_equal(n_lists(), lists + 2);
    assert_int_equal(n_strs(), strs + 3); /* T1, T2, "user" */
    assert_string_equal(u1->token, "tok-1");
    assert_string_equal(u1->user_uuid, "user-1");
    assert_string_equal(u1->session_uuid, "sess-1");
    assert_null(other->session_uuid);

    assert_true(tbd_token_grants(u1, "events.users.user-1.chat"));
    assert_false(tbd_token_grants(u1, "events.users.user-2.chat"));
    assert_true(tbd_token_grants(u2, "events.users.user-2.chat"));
    assert_true(tbd_token_grants(u1, "tokens.sess-1.read"));
    assert_false(tbd_token_grants(u2, "tokens.sess-1.read"));
    assert_true(tbd_token_grants(u2, "confd.users.user-2.update"));
    assert_false(tbd_token_grants(u2, "events.secret.x"));
    assert_false(tbd_token_grants(other, "tokens.my_session.read")); /* not in its 2 */
    assert_true(tbd_token_grants(other, "events.users.user-3.x"));
    assert_true(tbd_token_grants(other, NULL));

    /* A renewal for the same user: a new token object, the same list. */
    tbd_token *r1 = make("tok-1b", "user-1", "sess-1b", T1, POLICY, NPOLICY);
    assert_ptr_equal(r1->acl, u1->acl);
    assert_true(tbd_token_grants(r1, "tokens.sess-1b.read"));
    assert_false(tbd_token_grants(r1, "tokens.sess-1.read"));
    tbd_token_unref(u1);
    assert_true(tbd_token_grants(u2, "events.users.user-2.chat"));
    tbd_token_unref(u2);
    tbd_token_unref(r1);
    tbd_token_unref(other);
    assert_int_equal(n_lists(), lists);
    assert_int_equal(n_strs(), strs);
}

/* Threads building and dropping tokens of a few policies, and matching,
 * all at once (tokens are built on the auth thread and freed on workers):
 * every verdict right, nothing left over (ASan: no leak, no use after free;
 * TSan-clean by construction: one mutex). */
#define THREADS 4
#define ROUNDS 2000

struct worker {
    int id, wrong;
};

static void *churn(void *arg)
{
    struct worker *w = arg;
    char id[32], user[32], req[64];
    const char *p1[] = {"websocketd", "events.users.me.#"};
    const char *p2[] = {"websocketd", "!events.users.me.#", "events.#"};
    for (int i = 0; i < ROUNDS; i++) {
        snprintf(id, sizeof id, "t%d-%d", w->id, i);
        snprintf(user, sizeof user, "u%d-%d", w->id, i);
        bool first = (i + w->id) % 2 == 0;
        tbd_token *t = make(id, user, NULL, i % 3 ? T1 : T2, first ? p1 : p2, first ? 2 : 3);
        snprintf(req, sizeof req, "events.users.%s.x", user);
        if (tbd_token_grants(t, req) != first || !tbd_token_grants(t, "websocketd"))
            w->wrong++;
        tbd_token_unref(t);
    }
    return NULL;
}

static void test_concurrent_intern_and_release(void **state)
{
    (void)state;
    size_t lists = n_lists(), strs = n_strs();
    pthread_t th[THREADS];
    struct worker w[THREADS];
    for (int i = 0; i < THREADS; i++) {
        w[i] = (struct worker){.id = i};
        assert_int_equal(pthread_create(&th[i], NULL, churn, &w[i]), 0);
    }
    for (int i = 0; i < THREADS; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(w[i].wrong, 0);
    }
    assert_int_equal(n_lists(), lists);
    assert_int_equal(n_strs(), strs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_same_list_is_shared),
        cmocka_unit_test(test_order_and_entries_make_the_list),
        cmocka_unit_test(test_strings),
        cmocka_unit_test(test_tokens_share_and_match_as_themselves),
        cmocka_unit_test(test_concurrent_intern_and_release),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
