/* ACL matching, compatible with wazo-auth's access check (DESIGN.md §2).
 *
 * An ACL entry is a dot-separated pattern: `*` matches any run of characters
 * other than `.` and `#` (one word, possibly empty); `#` matches any run of
 * characters; everything else is literal. An entry starting with `!` is
 * negative: any negative match denies. The word `me` also matches the token's
 * user uuid, `my_session` its session uuid, and `edit` also matches `update`.
 * A pattern must match the whole required string. A NULL required ACL is
 * always granted. */
#ifndef TENBUS_ACL_H
#define TENBUS_ACL_H

#include "tenbus/tenbus.h" /* TB_EXTERN, tb_err: lets this header stand alone */

#include <stdbool.h>
#include <stddef.h>

typedef struct tb_acl tb_acl; /* compiled, immutable once built: shareable across threads */

/* Compiles `n` entries (NULL entries are skipped). `user_uuid` / `session_uuid`
 * (may be NULL: the word is then only literal) are what `me` / `my_session`
 * stand for; they are copied. Returns NULL on ENOMEM or entries NULL with n > 0. */
TB_EXTERN tb_acl *tb_acl_new(const char *const *entries, size_t n,
                             const char *user_uuid, const char *session_uuid);
TB_EXTERN void tb_acl_free(tb_acl *acl);

/* True if `acl` grants `required` (NULL required => true; NULL acl => only NULL required).
 * Time is O(strlen(required) × entry length) per entry, never exponential.
 * Strings over 256 bytes need a scratch allocation; if it fails, denies. */
TB_EXTERN bool tb_acl_grants(const tb_acl *acl, const char *required);

/* tb_acl_grants with `me` / `my_session` standing for these uuids (NULL: the
 * word is only literal) instead of those tb_acl_new was given. One list
 * compiled without uuids can so be shared by every token that carries it. */
TB_EXTERN bool tb_acl_grants_as(const tb_acl *acl, const char *required,
                                const char *user_uuid, const char *session_uuid);

/* One-shot helper over raw entries (compiles, checks, frees). */
TB_EXTERN bool tb_acl_check(const char *const *entries, size_t n, const char *required,
                            const char *user_uuid, const char *session_uuid);

#endif
