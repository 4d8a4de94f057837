/* The HTTP API's request validation, apart from any connection: a parsed
 * body and who sends it in, events or a refusal out. api.c's handlers use
 * it; so do the fuzz target and tests. */
#ifndef TBD_API_H
#define TBD_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <tenbus/tenbus.h>

#include "auth/token.h"

typedef struct tbd_api_err {
    int status;              /* HTTP status: 400, 403, 500 */
    const char *error;       /* "invalid_json", "invalid_event", "forbidden", ... */
    const char *field;       /* offending member, may be NULL */
    char message[200];
    char path[200];          /* storage for a field that is a JSON path (catalogue.c) */
} tbd_api_err;

/* Who publishes, and where (all borrowed). */
typedef struct tbd_api_ctx {
    const tbd_token *tok;       /* the caller's validated token */
    const char *master_tenant;  /* NULL while unknown: nobody is master */
    const char *stack_uuid;     /* origin_uuid of built events, may be NULL */
    const struct tbd_catalogue *catalogue; /* NULL: none (catalogue.h) */
    const char *timestamp;      /* the request's: one for all its events; NULL => now */
} tbd_api_ctx;

/* The checks both publish paths make of one event (api.c, api_fast.c).
 * The level, given (`level_s`) or inferred from which addressing members
 * are there, and the shape rules that go with it: 0 with *level, or -1
 * with *e (400). */
int tbd_api_event_level(const char *level_s, bool has_users, const char *tenant, const char *user,
                        const char *rkey, const char *rfmt, tb_level *level, tbd_api_err *e);
/* May the caller publish `name` at `level` to `tenant` (NULL: none given)?
 * 0, or -1 with *e (403). */
int tbd_api_may_publish(const tbd_api_ctx *ctx, const char *name, tb_level level,
                        const char *tenant, tbd_api_err *e);

/* Parses a request body. Returns a new reference, or NULL with *e set
 * (400 invalid_json, also for an empty body). */
json_t *tbd_api_load_body(const char *body, size_t len, tbd_api_err *e);

/* POST /api/events: validates one event object or an array of them, whole,
 * and builds every event. Returns 0 with *evs (new array of *n new events,
 * free with tbd_api_free_events), or -1 with *e set and *index the failing
 * array element (-1 for a single event or a failure not tied to one). */
int tbd_api_build_events(const tbd_api_ctx *ctx, const json_t *root, tb_event ***evs, size_t *n,
                         tbd_api_err *e, long *index);
void tbd_api_free_events(tb_event **evs, size_t n);

/* POST /api/events/raw: 0 if the caller may publish raw (a master-tenant
 * token granting tenbus.publish-raw), else -1 with *e (403). */
int tbd_api_raw_allowed(const tbd_api_ctx *ctx, tbd_api_err *e);
/* 0 if `root` is a {headers:{}, body:{}} object or an array of them, else -1
 * with *e (400) and *index as for tbd_api_build_events. */
int tbd_api_check_raw(const json_t *root, tbd_api_err *e, long *index);

/* Answers one HTTP API request of connection c (POST /api/events...,
 * /status, /metrics); the response goes through tbd_http_respond*. */
struct tbd_conn;
struct tbd_http_req;
void tbd_api_handle(struct tbd_conn *c, const struct tbd_http_req *req);

#endif
