/* Authentication backends (DESIGN.md §4): who a token is, and whether it is
 * still valid. Implementations: auth_file.c (tokens file), auth_wazo.c (wazo-auth).
 *
 * Callbacks always run on the calling worker's loop thread, either from
 * inside the call (a backend that answers at once, like the file backend)
 * or later; callers must accept both. A backend never blocks the loop. */
#ifndef TBD_AUTH_H
#define TBD_AUTH_H

#include <stdbool.h>

#include "auth/token.h"

struct tbd_worker;
struct tbd_config;

enum {
    TBD_AUTH_OK = 0,
    TBD_AUTH_INVALID = -1,     /* unknown, revoked, expired, or lacking the scope */
    TBD_AUTH_UNAVAILABLE = -2, /* the auth server could not be asked */
};

/* status TBD_AUTH_OK => tok is a new ref the callee owns; else tok NULL. */
typedef void (*tbd_auth_cb)(void *arg, int status, tbd_token *tok);

typedef struct tbd_auth tbd_auth;

typedef struct tbd_auth_ops {
    const char *name;
    /* Looks a token up (validity and expiry included). */
    void (*lookup)(tbd_auth *a, struct tbd_worker *w, const char *token, tbd_auth_cb cb, void *arg);
    /* Re-checks a token a session already holds (expiry strategies): must
     * ask the source of truth, not a cache. cb gets TBD_AUTH_OK with either
     * a fresh token (new ref) or NULL (still valid, nothing new known). */
    void (*check)(tbd_auth *a, struct tbd_worker *w, const char *token, tbd_auth_cb cb, void *arg);
    /* The master tenant uuid, or NULL while unknown. The string stays valid
     * until the backend is freed. */
    const char *(*master_tenant)(tbd_auth *a);
    /* SIGHUP: re-read what can be re-read. 0 or -1 (old data kept, logged). */
    int (*reload)(tbd_auth *a);
    bool (*ready)(tbd_auth *a);
    /* Optional (NULL: never). True while the master tenant is unknown and
     * the backend's attempt to learn it has not failed yet (wazo-auth's
     * service login at start-up): a new session waits for its outcome,
     * bounded by tenbus.bus_wait_timeout, instead of a 4002. Any thread. */
    bool (*master_pending)(tbd_auth *a);
    void (*free)(tbd_auth *a);
} tbd_auth_ops;

struct tbd_auth {
    const tbd_auth_ops *ops;
};

/* The file backend. NULL on error (logged). */
tbd_auth *tbd_auth_file_new(const struct tbd_config *cfg);
/* The wazo-auth backend (REST, its own thread). NULL on error (logged). Must
 * be freed after the worker threads are joined and before the workers are
 * freed: freeing answers pending callbacks through tbd_worker_call. */
tbd_auth *tbd_auth_wazo_new(const struct tbd_config *cfg);

#endif
