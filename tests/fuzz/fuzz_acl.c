/* The ACL matcher (lib/acl.c), against an independent oracle: each entry
 * translated to an anchored POSIX extended regex, the way wazo-auth builds
 * its patterns (`*` = [^.#]*, `#` = .*, reserved words as alternations).
 *
 * The same list compiled without uuids, matched with them (tb_acl_grants_as),
 * must agree.
 *
 * Input lines: 1) flags (byte 0: bit 0 = a user uuid, bit 1 = a session
 * uuid, taken from lines 2 and 3 if set), then the required string, then
 * one entry per line. */
#include <regex.h>
#include <stdbool.h>

#include <tenbus/acl.h>

#include "fuzz.h"

#define MAX_ENTRIES 16
#define ORACLE_MAX 96   /* lengths up to which the regex oracle is consulted */

static void re_put(char **re, size_t *len, size_t *cap, const char *s, size_t n)
{
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *re = realloc(*re, *cap);
        if (!*re)
            abort();
    }
    memcpy(*re + *len, s, n);
    *len += n;
    (*re)[*len] = '\0';
}

static void re_lit(char **re, size_t *len, size_t *cap, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (strchr(".[]{}()\\*+?^$|", s[i]))
            re_put(re, len, cap, "\\", 1);
        re_put(re, len, cap, s + i, 1);
    }
}

/* The regex for one entry (without its '!'). Caller frees. */
static char *entry_regex(const char *e, const char *user, const char *session)
{
    char *re = NULL;
    size_t len = 0, cap = 0;
    re_put(&re, &len, &cap, "^", 1);
    for (const char *w = e;;) {
        const char *dot = strchr(w, '.');
        size_t wl = dot ? (size_t)(dot - w) : strlen(w);
        const char *alt = NULL;
        if (wl == 2 && memcmp(w, "me", 2) == 0)
            alt = user;
        else if (wl == 10 && memcmp(w, "my_session", 10) == 0)
            alt = session;
        else if (wl == 4 && memcmp(w, "edit", 4) == 0)
            alt = "update";
        if (alt) {
            re_put(&re, &len, &cap, "(", 1);
            re_lit(&re, &len, &cap, w, wl);
            re_put(&re, &len, &cap, "|", 1);
            re_lit(&re, &len, &cap, alt, strlen(alt));
            re_put(&re, &len, &cap, ")", 1);
        } else {
            for (size_t i = 0; i < wl; i++) {
                if (w[i] == '*')
                    re_put(&re, &len, &cap, "[^.#]*", 6);
                else if (w[i] == '#')
                    re_put(&re, &len, &cap, ".*", 2);
                else
                    re_lit(&re, &len, &cap, w + i, 1);
            }
        }
        if (!dot)
            break;
        re_put(&re, &len, &cap, "\\.", 2);
        w = dot + 1;
    }
    re_put(&re, &len, &cap, "$", 1);
    return re;
}

static bool oracle_match(const char *entry, const char *req, const char *user, const char *session)
{
    char *src = entry_regex(entry, user, session);
    regex_t re;
    FUZZ_CHECK(regcomp(&re, src, REG_EXTENDED | REG_NOSUB) == 0);
    bool m = regexec(&re, req, 0, NULL, 0) == 0;
    regfree(&re);
    free(src);
    return m;
}

static bool oracle(char **entries, size_t n, const char *req, const char *user, const char *session)
{
    bool pos = false;
    for (size_t i = 0; i < n; i++) {
        bool neg = entries[i][0] == '!';
        bool m = oracle_match(entries[i] + neg, req, user, session);
        if (m && neg)
            return false;
        pos = pos || (m && !neg);
    }
    return pos;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = { data, size };
    char *flags = fuzz_line(&in);
    if (!flags)
        return 0;
    char *user = (flags[0] & 1) ? fuzz_line(&in) : NULL;
    char *session = (flags[0] & 2) ? fuzz_line(&in) : NULL;
    char *req = fuzz_line(&in);
    char *entries[MAX_ENTRIES + 2];
    size_t n = 0;
    while (n < MAX_ENTRIES && (entries[n] = fuzz_line(&in)))
        n++;
    if (!req)
        goto out;

    tb_acl *acl = tb_acl_new((const char *const *)entries, n, user, session);
    FUZZ_CHECK(acl != NULL);
    bool g = tb_acl_grants(acl, req);
    FUZZ_CHECK(tb_acl_check((const char *const *)entries, n, req, user, session) == g);
    FUZZ_CHECK(tb_acl_grants(acl, NULL));
    /* Compiled without uuids and bound at match time (a list shared by
     * several tokens): the same verdict. */
    tb_acl *shared = tb_acl_new((const char *const *)entries, n, NULL, NULL);
    FUZZ_CHECK(shared != NULL);
    FUZZ_CHECK(tb_acl_grants_as(shared, req, user, session) == g);
    tb_acl_free(shared);

    bool small = strlen(req) <= ORACLE_MAX && (!user || strlen(user) <= ORACLE_MAX) &&
                 (!session || strlen(session) <= ORACLE_MAX);
    for (size_t i = 0; i < n && small; i++)
        small = strlen(entries[i]) <= ORACLE_MAX;
    if (small)
        FUZZ_CHECK(oracle(entries, n, req, user, session) == g);

    /* Denying the literal required string itself always wins. */
    if (!strpbrk(req, "*#")) {
        size_t rl = strlen(req);
        char *neg = malloc(rl + 2);
        if (!neg)
            abort();
        neg[0] = '!';
        memcpy(neg + 1, req, rl + 1);
        entries[n] = neg;
        tb_acl *less = tb_acl_new((const char *const *)entries, n + 1, user, session);
        FUZZ_CHECK(less);
        FUZZ_CHECK(!tb_acl_grants(less, req));
        tb_acl_free(less);
        free(neg);
    }
    tb_acl_free(acl);
out:
    for (size_t i = 0; i < n; i++)
        free(entries[i]);
    free(req);
    free(user);
    free(session);
    free(flags);
    return 0;
}
