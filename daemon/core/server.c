/* The server: builds the backends and workers, runs the main thread's loop
 * (signals only), hands published events to every worker, and keeps the
 * node-wide subscription counts bus backends bind by. */
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <uthash.h>

#include "core/server.h"
#include "core/log.h"
#include "core/notify.h"
#include "core/worker.h"
#include "net/conn.h"
#include "ws/session.h"
#include "catalogue/catalogue.h"

struct tbd_subcount {
    char *name;
    unsigned n;
    bool bound;            /* the bus confirmed its binding (or needs none) */
    UT_hash_handle hh;
};

const char *tbd_server_master_tenant(tbd_server *srv)
{
    return srv->auth->ops->master_tenant(srv->auth);
}

/* ---- what the bus backend sees of the node (tbd_bus_host) --------------- */

static void close_sessions_task(tbd_worker *w, void *arg)
{
    const char *reason = arg;
    if (atomic_load(&w->stopping))
        return;
    tbd_conn *c, *n;
    for (c = w->conns; c; c = n) {
        n = c->next;
        if (c->state == TBD_CONN_WS && !c->closed)
            tbd_conn_close_ws(c, TB_WS_CLOSE_INTERNAL, reason);
    }
}

/* Every WebSocket session of every worker ends with 1011 and `reason` (a
 * static string). */
static void host_lost(void *ctx, const char *reason)
{
    tbd_server *srv = ctx;
    for (unsigned i = 0; i < srv->n_workers; i++)
        if (tbd_worker_call(&srv->workers[i], close_sessions_task, (void *)reason) < 0)
            tbd_log_error("worker %u: cannot post session close (out of memory)", i);
}

/* Hands n messages to every worker: one lock and one wake-up per worker
 * for the whole batch. Takes no ref of the caller's. */
static void host_deliver(void *ctx, tbd_msg **m, size_t n)
{
    tbd_server *srv = ctx;
    if (n == 0)
        return;
    /* Numbered before any worker sees them: a session started after this
     * point never receives them, even if its worker routes them later. */
    uint64_t first = atomic_fetch_add(&srv->dispatched, n) + 1;
    for (size_t i = 0; i < n; i++)
        m[i]->seq = first + i;
    for (unsigned i = 0; i < srv->n_workers; i++)
        tbd_worker_post_batch(&srv->workers[i], m, n);
}

int tbd_server_sub_add(tbd_server *srv, const char *name)
{
    struct tbd_subcount *s;
    bool first = false;
    uv_mutex_lock(&srv->subs_lock);
    HASH_FIND_STR(srv->subcounts, name, s);
    if (!s) {
        s = calloc(1, sizeof(*s));
        if (s && !(s->name = strdup(name))) {
            free(s);
            s = NULL;
        }
        if (s) {
            s->bound = !srv->bus->ops->confirms_binds;
            HASH_ADD_KEYPTR(hh, srv->subcounts, s->name, strlen(s->name), s);
        }
    }
    if (s)
        first = s->n++ == 0;
    uv_mutex_unlock(&srv->subs_lock);
    /* The backend is told outside the lock, in the same order as counted:
     * backends must tolerate a subscribe racing an unsubscribe of the same
     * name from another worker (they re-check the count). */
    if (first)
        srv->bus->ops->subscribe(srv->bus, name);
    return s ? 0 : -1;
}

void tbd_server_sub_del(tbd_server *srv, const char *name)
{
    struct tbd_subcount *s;
    bool last = false;
    uv_mutex_lock(&srv->subs_lock);
    HASH_FIND_STR(srv->subcounts, name, s);
    if (s && --s->n == 0) {
        HASH_DEL(srv->subcounts, s);
        free(s->name);
        free(s);
        last = true;
    }
    uv_mutex_unlock(&srv->subs_lock);
    if (last)
        srv->bus->ops->unsubscribe(srv->bus, name);
}

bool tbd_server_sub_bound(tbd_server *srv, const char *name)
{
    struct tbd_subcount *s;
    uv_mutex_lock(&srv->subs_lock);
    HASH_FIND_STR(srv->subcounts, name, s);
    bool bound = s && s->bound;
    uv_mutex_unlock(&srv->subs_lock);
    return bound;
}

/* A name may have lost its last subscriber and gained a new one since the
 * bus listed it: its binding was in place when the bus confirmed this list,
 * and stays until a later pass sees the name unwanted, so marking the new
 * entry bound is right. A name added after the list is not in it. */
static void host_state_changed(void *ctx);

static void host_bound(void *ctx, const char *const *names, size_t n)
{
    tbd_server *srv = ctx;
    bool changed = false;
    struct tbd_subcount *s;
    uv_mutex_lock(&srv->subs_lock);
    for (size_t i = 0; i < n; i++) {
        HASH_FIND_STR(srv->subcounts, names[i], s);
        if (s && !s->bound)
            changed = s->bound = true;
    }
    uv_mutex_unlock(&srv->subs_lock);
    if (changed)
        host_state_changed(srv);
}

static void host_unbound_all(void *ctx)
{
    tbd_server *srv = ctx;
    struct tbd_subcount *s, *t;
    uv_mutex_lock(&srv->subs_lock);
    HASH_ITER(hh, srv->subcounts, s, t)
        s->bound = false;
    uv_mutex_unlock(&srv->subs_lock);
}

static void bus_changed_task(tbd_worker *w, void *arg)
{
    (void)arg;
    tbd_session_wake_waiters(w);
}

/* Every worker re-checks its sessions waiting on the bus. */
static void host_state_changed(void *ctx)
{
    tbd_server *srv = ctx;
    for (unsigned i = 0; i < srv->n_workers; i++)
        if (tbd_worker_call(&srv->workers[i], bus_changed_task, NULL) < 0)
            tbd_log_error("worker %u: cannot post a bus change (out of memory)", i);
}

tbd_bus_state tbd_server_bus_state(tbd_server *srv)
{
    tbd_bus *b = srv->bus;
    if (b->ops->state)
        return b->ops->state(b);
    return b->ops->connected(b) ? TBD_BUS_UP : TBD_BUS_DOWN;
}

static char **host_sub_names(void *ctx, size_t *n)
{
    tbd_server *srv = ctx;
    uv_mutex_lock(&srv->subs_lock);
    size_t cnt = HASH_COUNT(srv->subcounts), i = 0;
    char **names = calloc(cnt + 1, sizeof(*names));
    struct tbd_subcount *s, *t;
    HASH_ITER(hh, srv->subcounts, s, t) {
        if (!names || !(names[i] = strdup(s->name)))
            break;
        i++;
    }
    uv_mutex_unlock(&srv->subs_lock);
    if (names && i < cnt) {
        while (i)
            free(names[--i]);
        free(names);
        names = NULL;
    }
    *n = names ? cnt : 0;
    return names;
}

/* The signals tenbusd handles. They are blocked from the start of
 * tbd_server_init (the listeners accept connections from then on, so a
 * supervisor or test may already signal) until the handlers are installed
 * in tbd_server_run: a SIGHUP that early is delivered then instead of
 * killing the process with the default action. Worker threads inherit the
 * blocked mask, so the main thread receives them. */
static void handled_signals(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGHUP);
    sigaddset(set, SIGTERM);
    sigaddset(set, SIGINT);
}

int tbd_server_init(tbd_server *srv, tbd_config *cfg, char *err, size_t errlen)
{
    sigset_t sigs;
    handled_signals(&sigs);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);
    memset(srv, 0, sizeof(*srv));
    srv->cfg = cfg;
    uv_mutex_init(&srv->subs_lock);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    srv->started_at = (double)ts.tv_sec + ts.tv_nsec / 1e9;

    /* Before anything listens: a bad certificate stops the start. */
    if (tbd_tls_ctx_new(cfg, &srv->tls_ctx, err, errlen) < 0)
        return -1;
    if (tbd_catalogue_open(cfg, &srv->catalogue, err, errlen) < 0)
        return -1;
    if (srv->catalogue)
        tbd_log_info("event catalogue: %zu types, strict=%s; reference at /docs/",
                 tb_catalogue_count(srv->catalogue->cat), cfg->catalogue_strict ? "true" : "false");
    if (cfg->auth_backend == TBD_AUTH_FILE)
        srv->auth = tbd_auth_file_new(cfg);
    else
        srv->auth = tbd_auth_wazo_new(cfg);
    if (!srv->auth) {
        snprintf(err, errlen, "cannot start the auth backend (see above)");
        return -1;
    }
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    srv->n_workers = cfg->workers ? cfg->workers : (unsigned)(ncpu > 0 ? ncpu : 1);
    srv->workers = calloc(srv->n_workers, sizeof(*srv->workers));
    if (!srv->workers) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (unsigned i = 0; i < srv->n_workers; i++)
        if (tbd_worker_init(&srv->workers[i], srv, i, err, errlen) < 0)
            return -1;
    /* After the workers: a backend thread may dispatch at once. */
    tbd_bus_host host = {
        .ctx = srv, .cfg = cfg, .deliver = host_deliver, .state_changed = host_state_changed,
        .bound = host_bound, .unbound_all = host_unbound_all, .lost = host_lost,
        .sub_names = host_sub_names,
    };
    srv->bus = cfg->bus_backend == TBD_BUS_RABBITMQ ? tbd_bus_rabbitmq_new(&host)
                                                    : tbd_bus_embedded_new(&host);
    if (!srv->bus) {
        snprintf(err, errlen, "cannot start the bus backend");
        return -1;
    }
    return 0;
}

/* After a reload every session's token is re-checked at the next sweep, so
 * a token removed from the tokens file ends its sessions (4003) at once. */
static void recheck_task(tbd_worker *w, void *arg)
{
    (void)arg;
    for (tbd_conn *c = w->conns; c; c = c->next)
        if (c->state == TBD_CONN_WS && c->tok && !c->closed)
            c->next_check = tbd_now_ms(w);
}

static void on_stop_signal(uv_signal_t *s, int signum)
{
    tbd_log_info("signal %s: shutting down", signum == SIGTERM ? "SIGTERM" : "SIGINT");
    tbd_server_stop(s->data);
}

static void on_hup(uv_signal_t *s, int signum)
{
    tbd_server *srv = s->data;
    tbd_log_info("SIGHUP: reloading");
    tbd_notify_reloading();
    if (tbd_log_open(srv->cfg->log_file) < 0)
        tbd_log_error("cannot reopen log file %s", srv->cfg->log_file);
    if (srv->cfg->config_file) {
        /* Settings that can change at run time: the log level. Others
         * (listen address, workers, backends) need a restart. */
        tbd_config fresh;
        char err[512];
        if (tbd_config_load(&fresh, srv->cfg->config_file, err, sizeof(err), NULL) < 0) {
            tbd_log_error("config not reloaded: %s", err);
        } else {
            tbd_log_level lvl;
            if (!srv->cfg->debug && fresh.log_level && tbd_log_parse_level(fresh.log_level, &lvl) == 0)
                tbd_log_set_level(fresh.debug ? TBD_LOG_DEBUG : lvl);
            tbd_config_free(&fresh);
        }
    }
    tbd_tls_reload(srv);
    /* Only the file backend's tokens can have changed under the sessions;
     * re-checking every session against wazo-auth would be a burst of
     * requests for nothing (its sessions are checked on their schedule). */
    if (srv->auth->ops->reload(srv->auth) == 0 && srv->cfg->auth_backend == TBD_AUTH_FILE)
        for (unsigned i = 0; i < srv->n_workers; i++)
            tbd_worker_call(&srv->workers[i], recheck_task, NULL);
    tbd_notify_reloaded();
}

void tbd_server_stop(tbd_server *srv)
{
    for (unsigned i = 0; i < srv->n_workers; i++)
        tbd_worker_stop(&srv->workers[i]);
    uv_close((uv_handle_t *)&srv->sig_term, NULL);
    uv_close((uv_handle_t *)&srv->sig_int, NULL);
    uv_close((uv_handle_t *)&srv->sig_hup, NULL);
    tbd_notify_stop();
}

int tbd_server_run(tbd_server *srv)
{
    signal(SIGPIPE, SIG_IGN);
    uv_loop_init(&srv->main_loop);
    uv_signal_t *sigs_h[] = { &srv->sig_term, &srv->sig_int, &srv->sig_hup };
    for (size_t i = 0; i < 3; i++) {
        uv_signal_init(&srv->main_loop, sigs_h[i]);
        sigs_h[i]->data = srv;
    }
    uv_signal_start(&srv->sig_term, on_stop_signal, SIGTERM);
    uv_signal_start(&srv->sig_int, on_stop_signal, SIGINT);
    uv_signal_start(&srv->sig_hup, on_hup, SIGHUP);
    unsigned started = 0;
    for (; started < srv->n_workers; started++)
        if (tbd_worker_start(&srv->workers[started]) < 0)
            break;
    sigset_t sigs;
    handled_signals(&sigs);
    pthread_sigmask(SIG_UNBLOCK, &sigs, NULL);
    if (started < srv->n_workers) {
        tbd_log_error("cannot start worker threads");
        tbd_server_stop(srv);
    } else {
        tbd_log_info("tenbusd listening on %s:%u tls=%s workers=%u bus=%s auth=%s uuid=%s",
                 srv->cfg->listen, srv->cfg->port, srv->tls_ctx ? "on" : "off", srv->n_workers, srv->bus->ops->name, srv->auth->ops->name,
                 srv->cfg->uuid ? srv->cfg->uuid : "-");
        tbd_notify_start(srv, &srv->main_loop);
    }
    uv_run(&srv->main_loop, UV_RUN_DEFAULT);
    for (unsigned i = 0; i < started; i++)
        uv_thread_join(&srv->workers[i].thread);
    uv_loop_close(&srv->main_loop);
    tbd_log_info("tenbusd stopped");
    return started == srv->n_workers ? 0 : -1;
}

void tbd_server_free(tbd_server *srv)
{
    /* The backends first: their threads may still post to the workers
     * (bus deliveries; auth answers, which release conn refs), and freeing
     * a worker runs the tasks still queued. Their loops have ended, so no
     * session can call into a backend any more. */
    if (srv->bus)
        srv->bus->ops->free(srv->bus);
    if (srv->auth)
        srv->auth->ops->free(srv->auth);
    srv->auth = NULL;
    if (srv->workers) {
        for (unsigned i = 0; i < srv->n_workers; i++)
            tbd_worker_free(&srv->workers[i]);
        free(srv->workers);
    }
    struct tbd_subcount *s, *t;
    HASH_ITER(hh, srv->subcounts, s, t) {
        HASH_DEL(srv->subcounts, s);
        free(s->name);
        free(s);
    }
    tbd_tls_ctx_free(srv->tls_ctx);
    srv->tls_ctx = NULL;
    tbd_catalogue_free(srv->catalogue);
    srv->catalogue = NULL;
    uv_mutex_destroy(&srv->subs_lock);
}
