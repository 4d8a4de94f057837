/* Interned ACL lists and strings (see intern.h).
 *
 * A list's key is its entries laid end to end, each with its NUL: two lists
 * have the same key exactly when they have the same entries in the same
 * order (an entry cannot hold a NUL). One allocation per list holds the
 * record, the entry pointers and the key they point into. */
#include "auth/intern.h"

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

struct acl_rec {
    tbd_acl_list pub;          /* first: a tbd_acl_list * is a struct acl_rec * */
    size_t refs;               /* under `lock` */
    size_t keylen;
    char *key;                 /* into this allocation */
    UT_hash_handle hh;
};

struct str_rec {
    size_t refs;               /* under `lock` */
    UT_hash_handle hh;
    char s[];
};

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static struct acl_rec *lists;
static struct str_rec *strs;

/* ---- ACL lists ------------------------------------------------------------ */

/* A record holding the entries (not compiled, not counted), or NULL. */
static struct acl_rec *acl__build(const char *const *entries, size_t n)
{
    size_t keylen = 0;
    for (size_t i = 0; i < n; i++) {
        if (!entries[i])
            return NULL;
        keylen += strlen(entries[i]) + 1;
    }
    struct acl_rec *r = malloc(sizeof(*r) + n * sizeof(char *) + keylen);
    if (!r)
        return NULL;
    memset(r, 0, sizeof(*r));
    const char **ptrs = (const char **)(r + 1);
    char *p = r->key = (char *)(ptrs + n);
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(entries[i]) + 1;
        memcpy(p, entries[i], len);
        ptrs[i] = p;
        p += len;
    }
    r->keylen = keylen;
    r->pub.n = n;
    r->pub.entries = ptrs;
    return r;
}

const tbd_acl_list *tbd_acl_list_intern(const char *const *entries, size_t n)
{
    if (n && !entries)
        return NULL;
    struct acl_rec *cand = acl__build(entries, n), *r;
    if (!cand)
        return NULL;
    pthread_mutex_lock(&lock);
    HASH_FIND(hh, lists, cand->key, cand->keylen, r);
    if (r) {
        r->refs++;
        pthread_mutex_unlock(&lock);
        free(cand);
        return &r->pub;
    }
    /* New: compiled under the lock, so one list is never compiled twice
     * (new lists are rare; lookups of known ones are not held up long). */
    cand->pub.compiled = tb_acl_new(cand->pub.entries, n, NULL, NULL);
    if (!cand->pub.compiled) {
        pthread_mutex_unlock(&lock);
        free(cand);
        return NULL;
    }
    cand->refs = 1;
    HASH_ADD_KEYPTR(hh, lists, cand->key, cand->keylen, cand);
    pthread_mutex_unlock(&lock);
    return &cand->pub;
}

void tbd_acl_list_release(const tbd_acl_list *l)
{
    if (!l)
        return;
    struct acl_rec *r = (struct acl_rec *)(void *)(uintptr_t)l;
    pthread_mutex_lock(&lock);
    bool last = --r->refs == 0;
    if (last)
        HASH_DEL(lists, r);
    pthread_mutex_unlock(&lock);
    if (last) {
        tb_acl_free((tb_acl *)(uintptr_t)r->pub.compiled);
        free(r);
    }
}

/* ---- strings -------------------------------------------------------------- */

const char *tbd_str_intern(const char *s)
{
    if (!s)
        return NULL;
    size_t len = strlen(s);
    struct str_rec *r;
    pthread_mutex_lock(&lock);
    HASH_FIND(hh, strs, s, len, r);
    if (r) {
        r->refs++;
    } else if ((r = malloc(sizeof(*r) + len + 1))) {
        memset(r, 0, sizeof(*r));
        memcpy(r->s, s, len + 1);
        r->refs = 1;
        HASH_ADD_KEYPTR(hh, strs, r->s, len, r);
    }
    pthread_mutex_unlock(&lock);
    return r ? r->s : NULL;
}

void tbd_str_release(const char *s)
{
    if (!s)
        return;
    struct str_rec *r = (struct str_rec *)(void *)(uintptr_t)(s - offsetof(struct str_rec, s));
    pthread_mutex_lock(&lock);
    bool last = --r->refs == 0;
    if (last)
        HASH_DEL(strs, r);
    pthread_mutex_unlock(&lock);
    if (last)
        free(r);
}

/* ---- both ----------------------------------------------------------------- */

void tbd_intern_counts(size_t *n_lists, size_t *n_strs)
{
    pthread_mutex_lock(&lock);
    *n_lists = HASH_COUNT(lists);
    *n_strs = HASH_COUNT(strs);
    pthread_mutex_unlock(&lock);
}
