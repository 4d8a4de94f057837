/* One client connection of a worker: socket, input buffer, the shared-frame
 * write queue (DESIGN §7: frames are refcounted and shared by every
 * recipient; one writev per connection per loop iteration), and the state
 * of whichever phase it is in: HTTP (http/http_conn.c) or WebSocket session
 * (ws/session.c). Owned by its worker's thread. */
#ifndef TBD_CONN_H
#define TBD_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <uv.h>

#include "auth/token.h"
#include "core/worker.h"
#include "net/tls.h"
#include "route/buf.h"
#include "ws_frame.h"

typedef struct tbd_user tbd_user;

/* A connection's phase: what its input is and what its timers mean. */
typedef enum { TBD_CONN_HTTP = 0, TBD_CONN_WS, TBD_CONN_CLOSING, TBD_CONN_N_PHASES } tbd_conn_state;

/* Where a WebSocket session stands (ws/session.c). Concurrent work in
 * flight (a renewal, a periodic check) has its own flags. */
typedef enum {
    TBD_SESS_NONE = 0,        /* not a session (HTTP phase) */
    TBD_SESS_AUTHENTICATING,  /* initial token lookup pending; input paused */
    TBD_SESS_WAITING_BUS,     /* authenticated; waits for a bus connection attempt */
    TBD_SESS_OPEN,            /* commands accepted; no event delivered yet */
    TBD_SESS_STARTED,         /* `start` done: events are delivered */
    TBD_SESS_ENDED,           /* unindexed, end logged (closing or closed) */
} tbd_sess_state;
typedef enum { TBD_ROLE_NONE = 0, TBD_ROLE_USER, TBD_ROLE_ADMIN, TBD_ROLE_MASTER } tbd_role;

struct tbd_http; /* http/http_conn.c */

/* What a connection does in each phase. net/conn.c and the worker call
 * through tbd_conn_phase_of(c), an index into a table by c->state (one byte
 * per connection, not a pointer). Implementations: tbd_http_phase
 * (http/http_conn.c), tbd_ws_phase and tbd_ws_closing_phase (ws/session.c). */
typedef struct tbd_conn_phase {
    const char *name;
    /* Input bytes: how many it used (0: needs more), or -1 once closed. */
    ssize_t (*feed)(tbd_conn *c, uint8_t *data, size_t len);
    /* The worker's periodic sweep: deadlines, pings, token re-checks. */
    void (*sweep)(tbd_conn *c, uint64_t now);
    /* The worker is stopping (NULL: nothing to do). */
    void (*stop)(tbd_conn *c);
    /* Leaving the phase, by a close or an abort (NULL: nothing to do). */
    void (*leave)(tbd_conn *c);
    /* Everything queued is written and the conn is not closing (NULL:
     * nothing to do). */
    void (*written)(tbd_conn *c);
} tbd_conn_phase;

struct tbd_conn {
    uv_tcp_t tcp;              /* first member: the handle's data is the conn */
    tbd_worker *w;
    uint8_t state;             /* tbd_conn_state */
    uint8_t version;           /* protocol 1 or 2 */
    uint8_t role;              /* tbd_role while indexed */
    uint8_t sess;              /* tbd_sess_state */
    bool star, indexed;        /* index: subscribed to "*"; in the worker's index */
    bool renewing, checking;   /* a `token` renewal / a periodic re-check in flight */
    /* I/O */
    bool writing, dirty, reading, paused, closed, slow, peer_closed;
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
    tb__ws_reader rd;

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

const tbd_conn_phase *tbd_conn_phase_of(const tbd_conn *c);


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

#endif
