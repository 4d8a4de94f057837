/* The daemon's runtime: one tbd_server, N workers (one libuv loop and
 * thread each, own listening socket via SO_REUSEPORT, own session index),
 * and the connections they own. Internal to tenbusd. */
#ifndef TBD_SERVER_H
#define TBD_SERVER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "auth.h"
#include "buf.h"
#include "bus.h"
#include "config.h"
#include "msg.h"
#include "tls.h"
#include "token.h"
#include "ws_frame.h"

typedef struct tbd_server tbd_server;
typedef struct tbd_worker tbd_worker;
typedef struct tbd_conn tbd_conn;
typedef struct tbd_tenant tbd_tenant;
typedef struct tbd_user tbd_user;

/* ---- counters (one writer: the owning worker; read by /metrics) ---- */
enum {
    ST_CONNS_ACCEPTED, ST_CONNS_REFUSED, ST_SESSIONS_OPENED, ST_EVENTS_ROUTED,
    ST_DELIVERIES, ST_SLOW_CONSUMER_CLOSES, ST_HTTP_REQUESTS, ST_EVENTS_PUBLISHED,
    ST_HANDSHAKE_TIMEOUTS, ST__COUNT
};
/* Close codes counted individually for /metrics. */
#define TBD_CLOSE_CODES(X) X(1000) X(1001) X(1002) X(1007) X(1008) X(1009) X(1011) \
    X(4001) X(4002) X(4003) X(4004)
enum { TBD_N_CLOSE_CODES = 11 };

typedef struct tbd_stats {
    _Atomic uint64_t v[ST__COUNT];
    _Atomic uint64_t closes[TBD_N_CLOSE_CODES];
    _Atomic int64_t sessions;
} tbd_stats;

#define STAT_ADD(w, f, n) atomic_store_explicit(&(w)->stats.v[f], \
    atomic_load_explicit(&(w)->stats.v[f], memory_order_relaxed) + (n), memory_order_relaxed)
#define STAT_INC(w, f) STAT_ADD(w, f, 1)

/* ---- connection ---- */
typedef enum { CONN_HTTP = 0, CONN_WS, CONN_CLOSING } tbd_conn_state;
typedef enum { ROLE_NONE = 0, ROLE_USER, ROLE_ADMIN, ROLE_MASTER } tbd_role;

struct tbd_http; /* http_conn.c */

struct tbd_conn {
    uv_tcp_t tcp;              /* first member: the handle's data is the conn */
    tbd_worker *w;
    uint8_t state;             /* tbd_conn_state */
    uint8_t version;           /* protocol 1 or 2 */
    uint8_t role;              /* tbd_role while indexed */
    bool started, star, writing, dirty, reading, paused, closed, indexed, slow;
    bool ended, peer_closed, auth_busy, checking;
    /* one byte, so the struct keeps its size (idle memory per session) */
    bool draining : 1;         /* closed for bad input: unread input is discarded */
    bool shut_wr : 1;          /* draining: write side shut down after the close frame */
    bool close_after_flush;    /* HTTP: Connection: close; WS: close frame queued */
    uint16_t n_subs;
    int refs;                  /* pending async operations + 1 while open */

    /* input not yet consumed (a partial frame or request); NULL when empty */
    uint8_t *in;
    uint32_t in_len, in_cap;

    struct tbd_http *http;     /* HTTP phase state, NULL once upgraded */
    tbd_tls *tls;              /* NULL: plain TCP */
    ws_reader rd;

    tbd_token *tok;            /* who the session is, NULL before auth */
    char **subs;               /* subscribed event names (not "*") */
    tbd_tenant *tenant;        /* index membership */
    tbd_user *user;

    /* outbound queue: ring of frame refs; the first n_inflight are being written */
    tbd_buf **q;
    uint32_t q_head, q_len, q_cap, n_inflight;
    uint64_t q_bytes;

    uint64_t deadline;         /* loop ms: handshake or closing deadline */
    uint64_t last_seen;        /* loop ms: last bytes received (ping timeout) */
    uint64_t next_check;       /* loop ms: next token validity check (0 = none) */
    uint64_t opened_at;
    uint64_t n_delivered;
    uint64_t start_seq;        /* messages dispatched up to this one predate `start` */
    /* ACL verdict cache (route.c): ids of the worker's interned required
     * ACLs, valid for generation acl_gen; bit i of acl_ok = verdict i. */
    uint32_t acl_id[2];
    uint32_t acl_gen;
    uint8_t acl_ok, acl_next;
    uint16_t close_code;       /* what we sent, for the session-end log line */
    const char *close_reason;  /* static string */
    char peer[48];

    tbd_conn *prev, *next;           /* worker's list of all conns */
    tbd_conn *iprev, *inext;         /* index list: master / tenant admins / tenant users */
    tbd_conn *uprev, *unext;         /* user bucket */
    tbd_conn *dnext;                 /* worker's dirty list */
};

/* ---- worker ---- */
struct tbd_worker {
    tbd_server *srv;
    unsigned id;
    uv_loop_t loop;
    uv_thread_t thread;
    uv_tcp_t listener;
    uv_async_t wakeup;          /* inbox / stop */
    uv_check_t flusher;         /* flushes dirty conns once per loop iteration */
    uv_timer_t sweep;           /* handshake timeouts, token checks, closing deadlines */
    uv_timer_t pinger;          /* WebSocket pings every ping_interval */
    uv_mutex_t inbox_lock;
    tbd_msg **inbox; size_t inbox_len, inbox_cap;
    tbd_msg **spare; size_t spare_cap;   /* swapped with inbox to drain without the lock */
    struct tbd_task *tasks, **tasks_tail; /* closures posted by other threads (inbox_lock) */
    atomic_bool stopping;
    bool stop_handled;
    bool has_listener;          /* listener handle initialised */

    tbd_conn *conns;            /* all connections */
    tbd_conn *dirty;            /* connections with frames to flush */
    uint8_t *rbuf;              /* shared read buffer (TBD_RBUF_SIZE) */
    struct tbd_wreq *wfree;     /* recycled write requests (only writing conns hold one) */
    unsigned n_wfree;
    bool rbuf_busy;

    /* session index (route.c) */
    tbd_conn *masters;
    tbd_tenant *tenants;        /* uthash by tenant uuid */
    struct tbd_acl_name *acl_names; /* interned required ACLs (route.c) */
    uint32_t acl_names_n, acl_gen;
    tbd_buf *ping_frame;

    /* sessions waiting on the bus (session.c): for a connection attempt's
     * outcome, or for the bindings of their subscriptions */
    struct tbd_waiter *waiters;
    size_t n_waiters, cap_waiters;

    tbd_stats stats;
};

#define TBD_RBUF_SIZE 65536

/* ---- server ---- */
struct tbd_server {
    tbd_config *cfg;
    tbd_auth *auth;
    tbd_bus *bus;
    tbd_tls_ctx *tls_ctx;            /* NULL: plain TCP listener */
    tbd_worker *workers;
    unsigned n_workers;
    atomic_int n_conns;
    _Atomic uint64_t dispatched;     /* sequence of the last dispatched message */
    uv_mutex_t subs_lock;
    struct tbd_subcount *subcounts;  /* node-wide name -> subscriber count */
    double started_at;
};

/* server.c */
int tbd_server_init(tbd_server *srv, tbd_config *cfg, char *err, size_t errlen);
int tbd_server_run(tbd_server *srv);      /* blocks until stopped; 0 on clean stop */
void tbd_server_stop(tbd_server *srv);    /* any thread: close sessions with 1001, stop */
void tbd_server_free(tbd_server *srv);
/* Hands one message to every worker (takes no ref of the caller's). */
void tbd_server_dispatch(tbd_server *srv, tbd_msg *m);
/* Same for n messages at once: one lock and one wake-up per worker for
 * the whole batch (a consumer that drains its broker socket uses this). */
void tbd_server_dispatch_batch(tbd_server *srv, tbd_msg **m, size_t n);
/* Counts a session's subscription to `name` (or "*"): 0, or -1 on ENOMEM. */
int tbd_server_sub_add(tbd_server *srv, const char *name);
void tbd_server_sub_del(tbd_server *srv, const char *name);
/* True if `name` is in place on the bus (the bus confirmed its binding, or
 * needs none). Any thread. */
bool tbd_server_sub_bound(tbd_server *srv, const char *name);
/* Bus thread: the bindings of these names are confirmed by the broker /
 * are all gone (connection lost). Waiting sessions are woken. */
void tbd_server_subs_confirmed(tbd_server *srv, const char *const *names, size_t n);
void tbd_server_subs_unconfirm(tbd_server *srv);
/* Any thread: the bus state or bindings changed; every worker re-checks
 * its waiting sessions (tbd_session_wake_waiters). */
void tbd_server_bus_changed(tbd_server *srv);
tbd_bus_state tbd_server_bus_state(tbd_server *srv);
/* Snapshot of the names with subscribers on this node (bus backends
 * re-bind from it). Returns a new array of *n new strings, or NULL on ENOMEM. */
char **tbd_server_sub_names(tbd_server *srv, size_t *n);
const char *tbd_server_master_tenant(tbd_server *srv);

/* worker.c */
int tbd_worker_init(tbd_worker *w, tbd_server *srv, unsigned id, char *err, size_t errlen);
void tbd_worker_post_batch(tbd_worker *w, tbd_msg **m, size_t n); /* takes a ref of each */
/* Runs fn(w, arg) on w's loop thread, soon. Callable from any thread.
 * Returns 0, or -1 on ENOMEM (fn will not run). Tasks still queued at
 * shutdown run with w->stopping set, so they can free arg. */
typedef void (*tbd_task_fn)(tbd_worker *w, void *arg);
int tbd_worker_call(tbd_worker *w, tbd_task_fn fn, void *arg);
/* Closes every WebSocket session of every worker with 1011 and `reason`
 * (a static string), e.g. "bus connection lost". Any thread. */
void tbd_server_close_sessions(tbd_server *srv, const char *reason);
int tbd_worker_start(tbd_worker *w);
void tbd_worker_stop(tbd_worker *w);               /* any thread */
void tbd_worker_free(tbd_worker *w);               /* after the thread is joined */
uint64_t tbd_now_ms(tbd_worker *w);

/* conn.c: I/O of one connection */
void tbd_conn_accept(tbd_worker *w);
int tbd_conn_send(tbd_conn *c, tbd_buf *b);        /* takes the caller's ref; -1 if closed/overflow */
void tbd_conn_close_ws(tbd_conn *c, uint16_t code, const char *reason);
void tbd_conn_abort(tbd_conn *c);                  /* close the socket now */
void tbd_conn_flush_all(tbd_worker *w);
void tbd_conn_free_wreqs(tbd_worker *w);
void tbd_conn_unref(tbd_conn *c);
void tbd_conn_pause(tbd_conn *c);
void tbd_conn_resume(tbd_conn *c);
void tbd_conn_process_input(tbd_conn *c, uint8_t *data, size_t len);

/* http_conn.c: HTTP phase */
int tbd_http_begin(tbd_conn *c);
void tbd_http_free(tbd_conn *c);
/* Consumes bytes; returns how many it used, or -1 after closing the conn. */
ssize_t tbd_http_feed(tbd_conn *c, uint8_t *data, size_t len);
void tbd_http_respond(tbd_conn *c, int status, const char *ctype, const char *body, size_t len);
void tbd_http_respond_json(tbd_conn *c, int status, json_t *body); /* steals body */
void tbd_http_request_done(tbd_conn *c);   /* response written: go on with the next request */

/* session.c: WebSocket phase */
void tbd_session_begin(tbd_conn *c, const char *token, const char *version);
ssize_t tbd_session_feed(tbd_conn *c, uint8_t *data, size_t len);
void tbd_session_check_token(tbd_conn *c);
void tbd_session_end(tbd_conn *c);  /* unindex, log */
/* Re-checks the sessions waiting on the bus (connection outcome, deadline,
 * bindings): resumes, refuses or keeps each. Worker thread. */
void tbd_session_wake_waiters(tbd_worker *w);
void tbd_session_free_waiters(tbd_worker *w);  /* shutdown: drops them */

/* api.c: HTTP API */
struct tbd_http_req;
void tbd_api_handle(tbd_conn *c, const struct tbd_http_req *req);

/* route.c: per-worker index */
void tbd_route_add(tbd_worker *w, tbd_conn *c);
void tbd_route_del(tbd_worker *w, tbd_conn *c);
void tbd_route_msg(tbd_worker *w, tbd_msg *m);
void tbd_route_free(tbd_worker *w);

/* expiry.c */
double tbd_next_check_delay(tbd_check_strategy strategy, uint32_t static_interval,
                            double expires_at, double now);

/* metrics.c */
char *tbd_metrics_text(tbd_server *srv);
json_t *tbd_status_json(tbd_server *srv);

#endif
