/* The `file` auth backend's data: a JSON or YAML file of tokens.
 *
 *   tokens:
 *     - token: demo-alice
 *       session_uuid: ...
 *       acl: [websocketd, "events.#"]
 *       utc_expires_at: null        # or "2030-01-01T00:00:00+00:00"
 *       metadata: {uuid: ..., tenant_uuid: ..., purpose: user, admin: false}
 *
 * (A top-level list of token objects is accepted too.) */
#ifndef TBD_TOKENS_FILE_H
#define TBD_TOKENS_FILE_H

#include <stddef.h>
#include "auth/token.h"

typedef struct tbd_token_set tbd_token_set; /* immutable, refcounted: hash token id -> tbd_token */

/* Parses the file. Returns a new set, or NULL with err naming file:line and the
 * problem (duplicate token ids are an error). */
tbd_token_set *tbd_token_set_load(const char *path, char *err, size_t errlen);
tbd_token_set *tbd_token_set_ref(tbd_token_set *s);
void tbd_token_set_unref(tbd_token_set *s);
size_t tbd_token_set_count(const tbd_token_set *s);

/* Returns a new ref to the token with this id, or NULL. */
tbd_token *tbd_token_set_find(const tbd_token_set *s, const char *id);

#endif
