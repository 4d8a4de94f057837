/* ACL matching (DESIGN.md §2), with wazo-auth's semantics but no regex engine.
 *
 * Each entry is compiled once into a token list: literal runs (a literal may
 * have two spellings, for the reserved words), `*` and `#`. Matching runs the
 * tokens over the required string as a set of reachable positions (a DP over
 * (token, position)), so the cost is O(tokens × length × literal length)
 * whatever the pattern: `#.#.#.#` against a long string cannot backtrack
 * exponentially as a naive matcher would.
 *
 * The words `me` and `my_session` compile to a literal that also accepts a
 * uuid given at match time (tb_acl_grants_as), so one compiled list can serve
 * every token that carries it, whoever its user and session are; tb_acl_grants
 * passes the uuids tb_acl_new was given.
 *
 * A compiled tb_acl is never written after tb_acl_new() returns, so any number
 * of threads may call tb_acl_grants() on it concurrently. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "tenbus/acl.h"

enum tok_kind { TOK_LIT, TOK_STAR, TOK_HASH };

/* What a reserved word also stands for at match time. */
enum tok_bind { BIND_NONE, BIND_USER, BIND_SESSION, BIND_COUNT };

/* TOK_LIT matches any one of its `nalt` spellings (1, or 2 for `edit`), and
 * with `bind` also the uuid of that name given to the match (if any). The
 * strings are not NUL-terminated views into the entry's text or static
 * storage. */
struct tok {
    enum tok_kind kind;
    unsigned nalt;
    enum tok_bind bind;
    const char *alt[2];
    size_t len[2];
};

/* The uuids `me` and `my_session` stand for during one match (NULL: none). */
struct binding {
    const char *s[BIND_COUNT];
    size_t len[BIND_COUNT];
};

struct entry {
    bool negative;
    size_t ntok;
    struct tok *tok;
    char *text; /* the pattern without its '!'; literal tokens point into it */
};

struct tb_acl {
    char *user_uuid;    /* what `me` stands for, or NULL */
    char *session_uuid; /* what `my_session` stands for, or NULL */
    size_t n;
    struct entry *entries;
};

/* Below this many bytes of required string the two position sets live on the stack. */
#define ACL_STACK_POSITIONS 256

static void entry_fini(struct entry *e)
{
    free(e->tok);
    free(e->text);
}

static void push_lit(struct entry *e, const char *s, size_t len)
{
    struct tok *t = &e->tok[e->ntok++];
    t->kind = TOK_LIT;
    t->nalt = 1;
    t->bind = BIND_NONE;
    t->alt[0] = s;
    t->len[0] = len;
}

/* `**` ≡ `*`, and `*#` ≡ `#*` ≡ `##` ≡ `#`: collapsing adjacent wildcards
 * keeps the token list short without changing what the entry matches. */
static void push_wild(struct entry *e, enum tok_kind kind)
{
    struct tok *prev = e->ntok ? &e->tok[e->ntok - 1] : NULL;

    if (prev && prev->kind != TOK_LIT) {
        if (kind == TOK_HASH)
            prev->kind = TOK_HASH;
        return;
    }
    e->tok[e->ntok].kind = kind;
    e->tok[e->ntok].nalt = 0;
    e->tok[e->ntok].bind = BIND_NONE;
    e->ntok++;
}

/* Whether `word` is reserved: `me` / `my_session` (bound at match time, *bind
 * set) or `edit` (*alt = "update"). Only a whole dot-separated word counts:
 * `me` in `meeting` or `me*` is literal text. */
static bool reserved_word(const char *word, size_t len, enum tok_bind *bind, const char **alt)
{
    *bind = BIND_NONE;
    *alt = NULL;
    if (len == 2 && memcmp(word, "me", 2) == 0)
        *bind = BIND_USER;
    else if (len == 10 && memcmp(word, "my_session", 10) == 0)
        *bind = BIND_SESSION;
    else if (len == 4 && memcmp(word, "edit", 4) == 0)
        *alt = "update";
    return *bind != BIND_NONE || *alt;
}

static bool entry_compile(const char *src, struct entry *e)
{
    size_t len, i, run_start = 0, run_len = 0;
    const char *t;

    memset(e, 0, sizeof *e);
    e->negative = src[0] == '!';
    if (e->negative)
        src++;
    e->text = strdup(src);
    len = strlen(src);
    /* Every character yields at most one token (a reserved word yields one
     * for several), so len + 1 slots always suffice. */
    e->tok = calloc(len + 1, sizeof *e->tok);
    if (!e->text || !e->tok) {
        entry_fini(e);
        return false;
    }
    t = e->text;

#define FLUSH_RUN()                                        \
    do {                                                   \
        if (run_len)                                       \
            push_lit(e, t + run_start, run_len);           \
        run_len = 0;                                       \
    } while (0)

    for (i = 0; i <= len;) {
        size_t w = i, wlen;
        const char *alt;
        enum tok_bind bind;

        while (w < len && t[w] != '.')
            w++;
        wlen = w - i;
        if (reserved_word(t + i, wlen, &bind, &alt)) {
            struct tok *r;
            FLUSH_RUN();
            push_lit(e, t + i, wlen);
            r = &e->tok[e->ntok - 1];
            r->bind = bind;
            if (alt) {
                r->nalt = 2;
                r->alt[1] = alt;
                r->len[1] = strlen(alt);
            }
        } else {
            for (size_t k = i; k < w; k++) {
                if (t[k] == '*' || t[k] == '#') {
                    FLUSH_RUN();
                    push_wild(e, t[k] == '*' ? TOK_STAR : TOK_HASH);
                } else {
                    if (!run_len)
                        run_start = k;
                    run_len++;
                }
            }
        }
        if (w == len)
            break;
        /* The separating dot is literal; it joins the current run. */
        if (!run_len)
            run_start = w;
        run_len++;
        i = w + 1;
    }
    FLUSH_RUN();
#undef FLUSH_RUN
    /* len + 1 slots were a bound; keep what is used (a list is kept for the
     * life of every token that carries it). */
    if (e->ntok && e->ntok < len + 1) {
        struct tok *fit = realloc(e->tok, e->ntok * sizeof *e->tok);
        if (fit)
            e->tok = fit;
    }
    return true;
}

tb_acl *tb_acl_new(const char *const *entries, size_t n, const char *user_uuid,
                   const char *session_uuid)
{
    tb_acl *acl;

    if (n && !entries)
        return NULL;
    acl = calloc(1, sizeof *acl);
    if (!acl)
        return NULL;
    if ((user_uuid && !(acl->user_uuid = strdup(user_uuid))) ||
        (session_uuid && !(acl->session_uuid = strdup(session_uuid))) ||
        (n && !(acl->entries = calloc(n, sizeof *acl->entries)))) {
        tb_acl_free(acl);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (!entries[i]) /* tolerated: an absent entry grants nothing */
            continue;
        if (!entry_compile(entries[i], &acl->entries[acl->n])) {
            tb_acl_free(acl);
            return NULL;
        }
        acl->n++;
    }
    return acl;
}

void tb_acl_free(tb_acl *acl)
{
    if (!acl)
        return;
    for (size_t i = 0; i < acl->n; i++)
        entry_fini(&acl->entries[i]);
    free(acl->entries);
    free(acl->user_uuid);
    free(acl->session_uuid);
    free(acl);
}

/* Runs `e` over s[0..n). `cur` and `nxt` are scratch arrays of n + 1 bytes:
 * after token k, cur[p] says whether tokens 0..k can match exactly s[0..p). */
static bool entry_matches(const struct entry *e, const struct binding *b, const char *s,
                          size_t n, uint8_t *cur, uint8_t *nxt)
{
    size_t lo = 0; /* lowest reachable position; nothing below it is set in cur */

    memset(cur, 0, n + 1);
    cur[0] = 1;
    for (size_t k = 0; k < e->ntok; k++) {
        const struct tok *t = &e->tok[k];
        size_t newlo = SIZE_MAX;
        uint8_t *swap;

        memset(nxt, 0, n + 1);
        switch (t->kind) {
        case TOK_LIT: {
            const char *bound = b->s[t->bind]; /* NULL for BIND_NONE */
            for (size_t p = lo; p <= n; p++) {
                if (!cur[p])
                    continue;
                for (unsigned a = 0; a <= t->nalt; a++) {
                    const char *lit = a < t->nalt ? t->alt[a] : bound;
                    size_t l = a < t->nalt ? t->len[a] : b->len[t->bind];
                    if (lit && l <= n - p && memcmp(s + p, lit, l) == 0) {
                        nxt[p + l] = 1;
                        if (p + l < newlo)
                            newlo = p + l;
                    }
                }
            }
            break;
        }
        case TOK_STAR: {
            /* Reachable at p: some reachable q <= p with no '.' or '#' in s[q..p). */
            bool run = false;
            for (size_t p = lo; p <= n; p++) {
                if (cur[p])
                    run = true;
                else if (run && (s[p - 1] == '.' || s[p - 1] == '#'))
                    run = false;
                if (run) {
                    nxt[p] = 1;
                    if (newlo == SIZE_MAX)
                        newlo = p;
                }
            }
            break;
        }
        case TOK_HASH:
            /* cur[lo] is set, so every position from lo on is reachable. */
            memset(nxt + lo, 1, n + 1 - lo);
            newlo = lo;
            break;
        }
        if (newlo == SIZE_MAX)
            return false;
        lo = newlo;
        swap = cur;
        cur = nxt;
        nxt = swap;
    }
    return cur[n] != 0;
}

bool tb_acl_grants(const tb_acl *acl, const char *required)
{
    return tb_acl_grants_as(acl, required, acl ? acl->user_uuid : NULL,
                            acl ? acl->session_uuid : NULL);
}

bool tb_acl_grants_as(const tb_acl *acl, const char *required, const char *user_uuid,
                      const char *session_uuid)
{
    uint8_t stackbuf[2 * (ACL_STACK_POSITIONS + 1)];
    uint8_t *buf = stackbuf;
    bool granted = false;
    struct binding b = { .s = { NULL, user_uuid, session_uuid },
                         .len = { 0, user_uuid ? strlen(user_uuid) : 0,
                                  session_uuid ? strlen(session_uuid) : 0 } };
    size_t n;

    if (!required)
        return true;
    if (!acl || !acl->n)
        return false;
    n = strlen(required);
    if (n > ACL_STACK_POSITIONS) {
        buf = malloc(2 * (n + 1));
        if (!buf) /* fail closed: denying is always safe */
            return false;
    }
    for (size_t i = 0; i < acl->n; i++) {
        const struct entry *e = &acl->entries[i];
        if (e->negative && entry_matches(e, &b, required, n, buf, buf + n + 1)) {
            granted = false;
            goto out;
        }
    }
    for (size_t i = 0; i < acl->n && !granted; i++) {
        const struct entry *e = &acl->entries[i];
        if (!e->negative)
            granted = entry_matches(e, &b, required, n, buf, buf + n + 1);
    }
out:
    if (buf != stackbuf)
        free(buf);
    return granted;
}

bool tb_acl_check(const char *const *entries, size_t n, const char *required,
                  const char *user_uuid, const char *session_uuid)
{
    tb_acl *acl;
    bool granted;

    if (!required)
        return true;
    acl = tb_acl_new(entries, n, user_uuid, session_uuid);
    granted = tb_acl_grants(acl, required); /* NULL acl (ENOMEM) denies */
    tb_acl_free(acl);
    return granted;
}
