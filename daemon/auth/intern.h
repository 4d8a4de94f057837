/* Interned auth data (DESIGN.md §2, §4): what many tokens carry alike is
 * stored once, with a reference count, instead of once per token.
 *
 * - ACL lists. wazo-auth gives every user of a policy the same list (dozens
 *   of entries); a list is interned by its entries, in order, with its
 *   compiled form. It is compiled without uuids: `me` and `my_session` are
 *   bound at match time (tb_acl_grants_as), so one list serves every user.
 * - Strings: tenant uuids and purposes.
 *
 * Threads. The tables are process-wide and guarded by one mutex: tokens are
 * built on the wazo-auth thread or the main thread (tokens file) and
 * released on whatever worker drops the last reference. Interning and
 * releasing take the mutex (once per token built or freed, never per event);
 * reading an interned object needs no lock: it is immutable until its last
 * reference is released, and a holder keeps it alive. Tables live as long
 * as the process; an object leaves its table with its last reference. */
#ifndef TBD_INTERN_H
#define TBD_INTERN_H

#include <stddef.h>
#include <tenbus/acl.h>

typedef struct tbd_acl_list {
    size_t n;                  /* entries, as given (duplicates kept) */
    const char *const *entries;
    const tb_acl *compiled;    /* without uuids: match with tb_acl_grants_as */
} tbd_acl_list;

/* The interned list of these n entries (in this order), as a new reference.
 * NULL on ENOMEM, or if entries (with n > 0) or one of them is NULL. */
const tbd_acl_list *tbd_acl_list_intern(const char *const *entries, size_t n);
/* Drops a reference (NULL: no-op); the last one frees the list. */
void tbd_acl_list_release(const tbd_acl_list *l);

/* The interned copy of s, as a new reference (NULL: NULL). NULL on ENOMEM. */
const char *tbd_str_intern(const char *s);
/* Drops a reference to an interned string (NULL: no-op). */
void tbd_str_release(const char *s);

/* Distinct lists and strings held now (tests, diagnostics). */
void tbd_intern_counts(size_t *n_lists, size_t *n_strs);

#endif
