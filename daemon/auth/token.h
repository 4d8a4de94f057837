/* A validated token: what a session is authenticated as (DESIGN.md §2).
 * Immutable once built, reference-counted (atomic): shared by sessions on
 * several worker threads and by the auth backend's cache.
 *
 * Compact: the id, session and user uuids live in the token's own
 * allocation; the tenant uuid, the purpose and the ACL list are interned
 * (auth/intern.h), shared with every token that carries the same. A token
 * holds one reference to each and drops them when freed, on whichever
 * thread drops its last reference. */
#ifndef TBD_TOKEN_H
#define TBD_TOKEN_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <tenbus/tenbus.h>

#include "auth/intern.h"

typedef struct tbd_token {
    atomic_int refs;         /* use tbd_token_ref/unref */
    bool admin;              /* metadata.admin */
    double expires_at;       /* unix time (utc_expires_at); 0 = never expires */
    const char *token;       /* the token id (never logged) */
    const char *session_uuid;/* may be NULL */
    const char *user_uuid;   /* metadata.uuid, may be NULL */
    const char *tenant_uuid; /* metadata.tenant_uuid, interned */
    const char *purpose;     /* metadata.purpose, interned, may be NULL */
    const tbd_acl_list *acl; /* interned; `me`/`my_session` bound when matching */
    char text[];             /* token, session_uuid, user_uuid, each NUL-ended */
} tbd_token;

/* Builds a token from a wazo-auth token object: {token, session_uuid, acl[],
 * metadata{uuid, tenant_uuid, purpose, admin}, utc_expires_at (ISO 8601 UTC,
 * or null / absent = never)} — the `data` of GET /0.1/token/{id}, and the
 * format of each entry of the tokens file. Also accepts `expires_at` when
 * `utc_expires_at` is absent. Returns a new ref, or NULL with err filled
 * (naming the missing/mistyped field). `obj` is a json_t* (borrowed). */
struct json_t;
tbd_token *tbd_token_from_json(const struct json_t *obj, char *err, size_t errlen);

tbd_token *tbd_token_ref(tbd_token *t);
void tbd_token_unref(tbd_token *t);

/* True if the token's ACL grants `acl` (NULL => true). */
bool tbd_token_grants(const tbd_token *t, const char *acl);

/* True if the token has an expiry and `now` (unix time) is at or past it. */
bool tbd_token_expired(const tbd_token *t, double now);

/* Parses ISO 8601 ("2026-11-25T16:49:04.123456+00:00", "...Z", or no zone = UTC)
 * into unix time. Returns 0 or -1. */
int tbd_parse_iso8601(const char *s, double *out);

#endif
