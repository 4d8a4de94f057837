/* ACL matcher (lib/acl.c): a table of wazo-auth access checks, then the
 * cases a table cannot express (NULL handling, missing uuids, uuids bound at
 * match time, long and pathological inputs, concurrent readers). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "tenbus/tenbus.h"

#define U "11111111-2222-3333-4444-555555555555"
#define S "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"
#define MAX_ENTRIES 4

struct acl_case {
    const char *entries[MAX_ENTRIES]; /* NULL-terminated within the array */
    const char *required;
    bool granted;
};

/* Every row is checked with `me` = U and `my_session` = S. */
static const struct acl_case cases[] = {
    /* DESIGN.md §2 examples */
    {{"foo.bar.#"}, "foo.bar.toto", true},
    {{"foo.bar.#"}, "foo.bar.toto.tata", true},
    {{"foo.bar.#"}, "foo.bar", false},
    {{"foo.*.*"}, "foo.bar.toto", true},
    {{"foo.*.*"}, "foo.bar.toto.tata", false},
    {{"foo.#.me"}, "foo.bar." U, true},
    /* whole-string match: no prefix, no suffix, case-sensitive */
    {{"foo.bar"}, "foo.bar", true},
    {{"foo.bar"}, "foo.bar.baz", false},
    {{"foo.bar"}, "foo", false},
    {{"foo.bar"}, "xfoo.bar", false},
    {{"foo.bar"}, "FOO.bar", false},
    {{"websocketd"}, "websocketd", true},
    /* `#`: any run, across dots, possibly empty */
    {{"foo.bar.#"}, "foo.bar.", true},
    {{"foo.#.bar"}, "foo.bar", false},
    {{"foo.#.bar"}, "foo..bar", true},
    {{"foo.#.bar"}, "foo.a.b.c.bar", true},
    {{"#"}, "", true},
    {{"#"}, "any.thing#at*all", true},
    {{"foo.#"}, "foo.a#b", true},
    /* `*`: one word, possibly empty, stops at '.' and '#' */
    {{"foo.*.*"}, "foo..", true},
    {{"foo.*.bar"}, "foo..bar", true},
    {{"foo.*"}, "foo", false},
    {{"foo.*"}, "foo.a#b", false},
    {{"*"}, "", true},
    {{"*"}, "a.b", false},
    {{"*.*"}, "a", false},
    {{"a.b*c"}, "a.bxyzc", true},
    {{"a.b*c"}, "a.bc", true},
    {{"a.b*c"}, "a.bx.c", false},
    {{"a.**.c"}, "a.xy.c", true},
    {{"a.*#"}, "a.x.y", true},
    /* `me`: the user uuid, or the literal word, only as a whole word */
    {{"foo.#.me"}, "foo.bar.me", true},
    {{"foo.me"}, "foo." U, true},
    {{"foo.me"}, "foo.me", true},
    {{"foo.me"}, "foo.22222222-2222-3333-4444-555555555555", false},
    {{"foo.me.bar"}, "foo." U ".bar", true},
    {{"me"}, U, true},
    {{"foo.meeting"}, "foo.meeting", true},
    {{"foo.meeting"}, "foo." U "eting", false},
    {{"me*.x"}, U ".x", false},
    {{"me*.x"}, "meow.x", true},
    {{"foo." U}, "foo.me", false},
    /* `my_session` */
    {{"foo.my_session"}, "foo." S, true},
    {{"foo.my_session"}, "foo.my_session", true},
    {{"foo.my_session"}, "foo." U, false},
    {{"foo.me"}, "foo." S, false},
    /* `edit` also `update`, but not the other way round */
    {{"users.edit"}, "users.update", true},
    {{"users.edit"}, "users.edit", true},
    {{"users.update"}, "users.edit", false},
    {{"users.editor"}, "users.updateor", false},
    {{"foo.edit.me"}, "foo.update." U, true},
    /* negative entries win whatever the positives say, in any order */
    {{"foo.#", "!foo.secret.#"}, "foo.secret.x", false},
    {{"!foo.secret.#", "foo.#"}, "foo.secret.x", false},
    {{"!foo.secret.#", "foo.#"}, "foo.public", true},
    {{"!foo.*", "foo.#"}, "foo.bar", false},
    {{"!foo.*", "foo.#"}, "foo.bar.baz", true},
    {{"!#", "#"}, "anything", false},
    {{"!me.#", "#"}, U ".x", false},
    {{"!me.#", "#"}, "other.x", true},
    {{"!foo.bar"}, "foo.bar", false},
    {{"!foo.bar"}, "other", false}, /* negatives never grant on their own */
    {{"!", "#"}, "", false},       /* "!" alone denies exactly the empty string */
    {{"!", "#"}, "x", true},
    /* several positives: any one suffices */
    {{"a.b", "c.#", "d.*"}, "c.x.y", true},
    {{"a.b", "c.#", "d.*"}, "d.x.y", false},
    /* empty entry matches only the empty string */
    {{""}, "", true},
    {{""}, "x", false},
    /* typical Wazo ACLs */
    {{"events.#"}, "events.chatd.users." U ".rooms.created", true},
    {{"events.users.me.#"}, "events.users." U ".chat", true},
    {{"events.users.me.#"}, "events.users.someone.chat", false},
};

static void test_acl_table(void **state)
{
    size_t failures = 0;

    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct acl_case *c = &cases[i];
        size_t n = 0;
        tb_acl *acl;
        bool got;

        while (n < MAX_ENTRIES && c->entries[n])
            n++;
        acl = tb_acl_new(c->entries, n, U, S);
        assert_non_null(acl);
        got = tb_acl_grants(acl, c->required);
        if (got != c->granted) {
            print_error("row %zu: [%s%s%s] vs \"%s\": got %d, want %d\n", i, c->entries[0],
                        n > 1 ? ", " : "", n > 1 ? c->entries[1] : "", c->required, got,
                        c->granted);
            failures++;
        }
        /* the one-shot helper must agree with the compiled form */
        assert_int_equal(tb_acl_check(c->entries, n, c->required, U, S), got);
        tb_acl_free(acl);
        /* and so must a list compiled without uuids, bound at match time */
        acl = tb_acl_new(c->entries, n, NULL, NULL);
        assert_non_null(acl);
        assert_int_equal(tb_acl_grants_as(acl, c->required, U, S), got);
        tb_acl_free(acl);
    }
    assert_int_equal(failures, 0);
}

static void test_null_required_always_granted(void **state)
{
    const char *entries[] = {"!#"};
    tb_acl *acl = tb_acl_new(entries, 1, U, S);
    tb_acl *empty = tb_acl_new(NULL, 0, NULL, NULL);

    (void)state;
    assert_non_null(acl);
    assert_non_null(empty);
    assert_true(tb_acl_grants(acl, NULL));
    assert_true(tb_acl_grants(empty, NULL));
    assert_true(tb_acl_grants(NULL, NULL));
    assert_true(tb_acl_check(NULL, 0, NULL, NULL, NULL));
    tb_acl_free(acl);
    tb_acl_free(empty);
}

static void test_empty_and_null_acl_deny(void **state)
{
    tb_acl *empty = tb_acl_new(NULL, 0, U, S);
    const char *only_null[] = {NULL};
    tb_acl *nulls = tb_acl_new(only_null, 1, U, S);

    (void)state;
    assert_non_null(empty);
    assert_non_null(nulls);
    assert_false(tb_acl_grants(empty, "foo"));
    assert_false(tb_acl_grants(empty, ""));
    assert_false(tb_acl_grants(nulls, "foo"));
    assert_false(tb_acl_grants(NULL, "foo"));
    assert_false(tb_acl_check(NULL, 0, "foo", U, S));
    assert_null(tb_acl_new(NULL, 3, U, S)); /* n entries promised, none given */
    tb_acl_free(empty);
    tb_acl_free(nulls);
    tb_acl_free(NULL);
}

static void test_reserved_words_without_uuids_are_literal(void **state)
{
    const char *entries[] = {"foo.me", "bar.my_session"};
    tb_acl *acl = tb_acl_new(entries, 2, NULL, NULL);

    (void)state;
    assert_non_null(acl);
    assert_true(tb_acl_grants(acl, "foo.me"));
    assert_true(tb_acl_grants(acl, "bar.my_session"));
    assert_false(tb_acl_grants(acl, "foo."));
    assert_false(tb_acl_grants(acl, "foo." U));
    tb_acl_free(acl);
}

static void test_uuids_are_copied(void **state)
{
    char user[] = U;
    const char *entries[] = {"foo.me"};
    tb_acl *acl = tb_acl_new(entries, 1, user, NULL);

    (void)state;
    memset(user, 'x', sizeof user - 1);
    assert_true(tb_acl_grants(acl, "foo." U));
    tb_acl_free(acl);
}

static char *repeat(const char *unit, size_t times, const char *tail)
{
    size_t ul = strlen(unit), tl = strlen(tail);
    char *s = malloc(ul * times + tl + 1);

    assert_non_null(s);
    for (size_t i = 0; i < times; i++)
        memcpy(s + i * ul, unit, ul);
    memcpy(s + ul * times, tail, tl + 1);
    return s;
}

/* Longer than the matcher's on-stack scratch space: exercises the heap path. */
static void test_long_required(void **state)
{
    char *word = repeat("a", 5000, "");
    char *dotted = repeat("a.", 2500, "end");
    char *req = malloc(strlen(word) + 5);
    const char *entries[] = {"foo.*", "bar.#.end"};
    tb_acl *acl = tb_acl_new(entries, 2, U, S);

    (void)state;
    assert_non_null(req);
    sprintf(req, "foo.%s", word);
    assert_true(tb_acl_grants(acl, req));
    req[100] = '.';
    assert_false(tb_acl_grants(acl, req));
    free(req);
    req = malloc(strlen(dotted) + 5);
    assert_non_null(req);
    sprintf(req, "bar.%s", dotted);
    assert_true(tb_acl_grants(acl, req));
    tb_acl_free(acl);
    free(req);
    free(dotted);
    free(word);
}

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* A backtracking matcher takes exponential time on these; ours must answer
 * (correctly) in well under a second even under sanitizers. */
static void test_pathological_patterns_are_fast(void **state)
{
    char *hashes = repeat("#.", 30, "x");   /* #.#.#. ... .#.x */
    char *stars = repeat("*a", 30, "b");    /* *a*a ... *ab */
    char *dots = repeat("a.", 20000, "y");  /* never ends with x */
    char *as = repeat("a", 40000, "");      /* never ends with b */
    const char *entries[] = {hashes, stars};
    tb_acl *acl = tb_acl_new(entries, 2, U, S);
    double t0 = now_s();

    (void)state;
    assert_non_null(acl);
    assert_false(tb_acl_grants(acl, dots));
    assert_false(tb_acl_grants(acl, as));
    dots[strlen(dots) - 1] = 'x';
    assert_true(tb_acl_grants(acl, dots));
    assert_true(now_s() - t0 < 2.0);
    tb_acl_free(acl);
    free(hashes);
    free(stars);
    free(dots);
    free(as);
}

/* One list compiled without uuids serves several tokens: `me` and
 * `my_session` stand for the uuids of the match, and only for them. */
#define U2 "99999999-2222-3333-4444-555555555555"
static void test_uuids_bound_at_match_time(void **state)
{
    const char *entries[] = {"events.users.me.#", "tokens.my_session.read", "!secret.me",
                             "secret.#"};
    tb_acl *shared = tb_acl_new(entries, 4, NULL, NULL);
    tb_acl *bound = tb_acl_new(entries, 4, U, S);

    (void)state;
    assert_non_null(shared);
    assert_non_null(bound);
    assert_true(tb_acl_grants_as(shared, "events.users." U ".chat", U, S));
    assert_false(tb_acl_grants_as(shared, "events.users." U ".chat", U2, S));
    assert_true(tb_acl_grants_as(shared, "events.users." U2 ".chat", U2, S));
    assert_true(tb_acl_grants_as(shared, "tokens." S ".read", U, S));
    assert_false(tb_acl_grants_as(shared, "tokens." S ".read", U, U2));
    /* a negative entry with `me` denies only that user */
    assert_false(tb_acl_grants_as(shared, "secret." U, U, S));
    assert_true(tb_acl_grants_as(shared, "secret." U, U2, S));
    /* the literal words always match; NULL uuids leave only them */
    assert_true(tb_acl_grants_as(shared, "events.users.me.chat", U2, S));
    assert_true(tb_acl_grants_as(shared, "tokens.my_session.read", NULL, NULL));
    assert_false(tb_acl_grants_as(shared, "events.users." U ".chat", NULL, NULL));
    assert_false(tb_acl_grants(shared, "events.users." U ".chat"));
    /* _as overrides the uuids given at compile time */
    assert_true(tb_acl_grants(bound, "events.users." U ".chat"));
    assert_false(tb_acl_grants_as(bound, "events.users." U ".chat", U2, S));
    assert_true(tb_acl_grants_as(bound, "events.users." U2 ".chat", U2, S));
    /* `edit` still means `update` too */
    const char *edit[] = {"confd.users.me.edit"};
    tb_acl *e = tb_acl_new(edit, 1, NULL, NULL);
    assert_non_null(e);
    assert_true(tb_acl_grants_as(e, "confd.users." U ".update", U, S));
    assert_true(tb_acl_grants_as(e, "confd.users.me.edit", U, S));
    assert_false(tb_acl_grants_as(e, "confd.users." U ".delete", U, S));
    tb_acl_free(e);
    tb_acl_free(shared);
    tb_acl_free(bound);
}

struct reader {
    const tb_acl *acl;
    int wrong;
};

static void *read_many(void *arg)
{
    struct reader *r = arg;

    for (int i = 0; i < 2000; i++) {
        if (!tb_acl_grants(r->acl, "events.users." U ".x") ||
            tb_acl_grants(r->acl, "events.secret.x") || !tb_acl_grants(r->acl, "foo." S))
            r->wrong++;
    }
    return NULL;
}

static void test_concurrent_readers(void **state)
{
    const char *entries[] = {"events.users.me.#", "!events.secret.#", "events.#",
                             "foo.my_session"};
    tb_acl *acl = tb_acl_new(entries, 4, U, S);
    pthread_t th[4];
    struct reader r[4];

    (void)state;
    assert_non_null(acl);
    for (int i = 0; i < 4; i++) {
        r[i] = (struct reader){.acl = acl};
        assert_int_equal(pthread_create(&th[i], NULL, read_many, &r[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        assert_int_equal(pthread_join(th[i], NULL), 0);
        assert_int_equal(r[i].wrong, 0);
    }
    tb_acl_free(acl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_acl_table),
        cmocka_unit_test(test_null_required_always_granted),
        cmocka_unit_test(test_empty_and_null_acl_deny),
        cmocka_unit_test(test_reserved_words_without_uuids_are_literal),
        cmocka_unit_test(test_uuids_are_copied),
        cmocka_unit_test(test_long_required),
        cmocka_unit_test(test_uuids_bound_at_match_time),
        cmocka_unit_test(test_pathological_patterns_are_fast),
        cmocka_unit_test(test_concurrent_readers),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
