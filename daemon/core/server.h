/* The daemon's runtime: one tbd_server owns the configuration, the auth and
 * bus backends and N workers (core/worker.h). It hands routed events to the
 * workers and keeps the node-wide subscription counts the bus backends bind
 * from. Internal to tenbusd. */
#ifndef TBD_SERVER_H
#define TBD_SERVER_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "auth/auth.h"
#include "bus/bus.h"
#include "conf/config.h"
#include "net/tls.h"
#include "route/msg.h"

typedef struct tbd_server tbd_server;
typedef struct tbd_worker tbd_worker;

struct tbd_server {
    tbd_config *cfg;
    tbd_auth *auth;
    tbd_bus *bus;
    tbd_tls_ctx *tls_ctx;            /* NULL: plain TCP listener */
    struct tbd_catalogue *catalogue; /* tenbus.catalogue; NULL: none */
    tbd_worker *workers;
    unsigned n_workers;
    atomic_int n_conns;
    _Atomic uint64_t dispatched;     /* sequence of the last dispatched message */
    uv_mutex_t subs_lock;
    struct tbd_subcount *subcounts;  /* node-wide name -> subscriber count */
    double started_at;
};

int tbd_server_init(tbd_server *srv, tbd_config *cfg, char *err, size_t errlen);
int tbd_server_run(tbd_server *srv);      /* blocks until stopped; 0 on clean stop */
void tbd_server_stop(tbd_server *srv);    /* any thread: close sessions with 1001, stop */
void tbd_server_free(tbd_server *srv);
/* Hands one message to every worker (takes no ref of the caller's). */
void tbd_server_dispatch(tbd_server *srv, tbd_msg *m);
/* Same for n messages at once: one lock and one wake-up per worker for
 * the whole batch (a consumer that drains its broker socket uses this). */
void tbd_server_dispatch_batch(tbd_server *srv, tbd_msg **m, size_t n);
/* Closes every WebSocket session of every worker with 1011 and `reason`
 * (a static string), e.g. "bus connection lost". Any thread. */
void tbd_server_close_sessions(tbd_server *srv, const char *reason);
void tbd_server_sub_add(tbd_server *srv, const char *name);
void tbd_server_sub_del(tbd_server *srv, const char *name);
/* Snapshot of the names with subscribers on this node (bus backends
 * re-bind from it). Returns a new array of *n new strings, or NULL on ENOMEM. */
char **tbd_server_sub_names(tbd_server *srv, size_t *n);
const char *tbd_server_master_tenant(tbd_server *srv);

#endif
