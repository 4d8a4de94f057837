/* A worker: one thread running one libuv loop, with its own listening
 * socket (SO_REUSEPORT), its connections, its session index (route/route.h)
 * and an inbox other threads post messages and closures to. */
#ifndef TBD_WORKER_H
#define TBD_WORKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "core/server.h"
#include "core/stats.h"
#include "route/buf.h"
#include "route/msg.h"

typedef struct tbd_conn tbd_conn;
typedef struct tbd_tenant tbd_tenant;

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
    uint64_t ping_timeout_ms;   /* a session silent this long is closed (0: never) */
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

int tbd_worker_init(tbd_worker *w, tbd_server *srv, unsigned id, char *err, size_t errlen);
void tbd_worker_post_batch(tbd_worker *w, tbd_msg **m, size_t n); /* takes a ref of each */
/* Runs fn(w, arg) on w's loop thread, soon. Callable from any thread.
 * Returns 0, or -1 on ENOMEM (fn will not run). Tasks still queued at
 * shutdown run with w->stopping set, so they can free arg. */
typedef void (*tbd_task_fn)(tbd_worker *w, void *arg);
int tbd_worker_call(tbd_worker *w, tbd_task_fn fn, void *arg);
int tbd_worker_start(tbd_worker *w);
void tbd_worker_stop(tbd_worker *w);               /* any thread */
void tbd_worker_free(tbd_worker *w);               /* after the thread is joined */
uint64_t tbd_now_ms(tbd_worker *w);

#endif
