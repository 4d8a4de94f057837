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
    /* the main thread's loop: signals only (handles' data = this server) */
    uv_loop_t main_loop;
    uv_signal_t sig_term, sig_int, sig_hup;
};

int tbd_server_init(tbd_server *srv, tbd_config *cfg, char *err, size_t errlen);
int tbd_server_run(tbd_server *srv);      /* blocks until stopped; 0 on clean stop */
void tbd_server_stop(tbd_server *srv);    /* any thread: close sessions with 1001, stop */
void tbd_server_free(tbd_server *srv);
/* Counts a session's subscription to `name` (or "*"): 0, or -1 on ENOMEM. */
int tbd_server_sub_add(tbd_server *srv, const char *name);
void tbd_server_sub_del(tbd_server *srv, const char *name);
/* True if `name` is in place on the bus (the bus confirmed its binding, or
 * needs none). Any thread. */
bool tbd_server_sub_bound(tbd_server *srv, const char *name);
/* Where the bus connection stands (a new session waits while CONNECTING). */
tbd_bus_state tbd_server_bus_state(tbd_server *srv);
const char *tbd_server_master_tenant(tbd_server *srv);

#endif
