/* A worker: one libuv loop on its own thread, its own listening socket
 * (SO_REUSEPORT: the kernel spreads connections across workers), its own
 * connections and session index. Other threads talk to it only through its
 * inbox (events to route) and its async handle (wake-up, stop). */
#include <netdb.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <utlist.h>

#include "core/worker.h"
#include "core/log.h"
#include "core/server.h"
#include "core/stats.h"
#include "net/conn.h"
#include "route/route.h"
#include "ws/session.h"

#define SWEEP_MS 250
#define STOP_GRACE_MS 2000

uint64_t tbd_now_ms(tbd_worker *w)
{
    return uv_now(&w->loop);
}

void tbd_worker_post_batch(tbd_worker *w, tbd_msg **m, size_t n)
{
    uv_mutex_lock(&w->inbox_lock);
    if (w->inbox_len + n > w->inbox_cap) {
        size_t ncap = w->inbox_cap ? w->inbox_cap : 64;
        while (ncap < w->inbox_len + n)
            ncap *= 2;
        tbd_msg **nb = realloc(w->inbox, ncap * sizeof(*nb));
        if (!nb) {
            uv_mutex_unlock(&w->inbox_lock);
            tbd_log_error("worker %u: out of memory, %zu events dropped", w->id, n);
            return;
        }
        w->inbox = nb;
        w->inbox_cap = ncap;
    }
    for (size_t i = 0; i < n; i++)
        w->inbox[w->inbox_len++] = tbd_msg_ref(m[i]);
    uv_mutex_unlock(&w->inbox_lock);
    uv_async_send(&w->wakeup);
}

struct tbd_task {
    tbd_task_fn fn;
    void *arg;
    struct tbd_task *next;
};

int tbd_worker_call(tbd_worker *w, tbd_task_fn fn, void *arg)
{
    struct tbd_task *t = malloc(sizeof(*t));
    if (!t)
        return -1;
    t->fn = fn;
    t->arg = arg;
    t->next = NULL;
    uv_mutex_lock(&w->inbox_lock);
    if (!w->tasks_tail)
        w->tasks_tail = &w->tasks;
    *w->tasks_tail = t;
    w->tasks_tail = &t->next;
    uv_mutex_unlock(&w->inbox_lock);
    uv_async_send(&w->wakeup);
    return 0;
}

static void run_tasks(tbd_worker *w)
{
    uv_mutex_lock(&w->inbox_lock);
    struct tbd_task *t = w->tasks;
    w->tasks = NULL;
    w->tasks_tail = &w->tasks;
    uv_mutex_unlock(&w->inbox_lock);
    while (t) {
        struct tbd_task *next = t->next;
        t->fn(w, t->arg);
        free(t);
        t = next;
    }
}

/* Swaps the inbox with the spare array under the lock, then routes without
 * it: publishers are never blocked by routing. */
static void drain_inbox(tbd_worker *w)
{
    uv_mutex_lock(&w->inbox_lock);
    tbd_msg **batch = w->inbox;
    size_t n = w->inbox_len, cap = w->inbox_cap;
    w->inbox = w->spare;
    w->inbox_cap = w->spare_cap;
    w->inbox_len = 0;
    w->spare = batch;
    w->spare_cap = cap;
    uv_mutex_unlock(&w->inbox_lock);
    for (size_t i = 0; i < n; i++) {
        if (!atomic_load(&w->stopping))
            tbd_route_msg(w, batch[i]);
        tbd_msg_unref(batch[i]);
    }
}

static void close_handle(uv_handle_t *h)
{
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static void finish_stop(tbd_worker *w)
{
    for (tbd_conn *c = w->conns; c; c = c->next)
        tbd_conn_abort(c);
    close_handle((uv_handle_t *)&w->wakeup);
    close_handle((uv_handle_t *)&w->flusher);
    close_handle((uv_handle_t *)&w->sweep);
    close_handle((uv_handle_t *)&w->pinger);
}

static void on_sweep(uv_timer_t *t);

static void begin_stop(tbd_worker *w)
{
    w->stop_handled = true;
    if (w->has_listener)
        close_handle((uv_handle_t *)&w->listener);
    uv_timer_stop(&w->pinger);
    tbd_conn *c, *n;
    for (c = w->conns; c; c = n) {
        n = c->next;
        const tbd_conn_phase *ph = tbd_conn_phase_of(c);
        if (ph->stop)
            ph->stop(c);
    }
    w->sweep.data = (void *)(uintptr_t)(tbd_now_ms(w) + STOP_GRACE_MS);
    uv_timer_start(&w->sweep, on_sweep, 10, 10);
}

static void on_wakeup(uv_async_t *a)
{
    tbd_worker *w = a->data;
    run_tasks(w);
    drain_inbox(w);
    if (atomic_load(&w->stopping) && !w->stop_handled)
        begin_stop(w);
}

static void on_check(uv_check_t *h)
{
    tbd_conn_flush_all(h->data);
}

static void on_sweep(uv_timer_t *t)
{
    tbd_worker *w = t->loop->data;
    uint64_t now = tbd_now_ms(w);
    if (w->stop_handled) {
        /* Shutting down: once a session's close frame is written, do not
         * wait for the peer's reply (RFC 6455 §7.1.1 lets the server close
         * the TCP connection first). */
        uint64_t deadline = (uint64_t)(uintptr_t)t->data;
        tbd_conn *c, *n;
        for (c = w->conns; c; c = n) {
            n = c->next;
            if (c->state == TBD_CONN_CLOSING && !c->writing && c->q_len == 0)
                tbd_conn_abort(c);
        }
        if (!w->conns || now >= deadline)
            finish_stop(w);
        return;
    }
    tbd_session_wake_waiters(w);   /* deadlines of sessions waiting on the bus */
    tbd_conn *c, *n;
    for (c = w->conns; c; c = n) {
        n = c->next;
        if (!c->closed)
            tbd_conn_phase_of(c)->sweep(c, now);
    }
}

static void on_ping(uv_timer_t *t)
{
    tbd_worker *w = (tbd_worker *)t->loop->data;
    for (tbd_conn *c = w->conns; c; c = c->next)
        if (c->state == TBD_CONN_WS && c->tok && !c->closed)
            tbd_conn_send(c, tbd_buf_ref(w->ping_frame));
}

static void on_connection(uv_stream_t *l, int status)
{
    tbd_worker *w = l->data;
    if (status < 0) {
        tbd_log_warn("accept failed: %s", uv_strerror(status));
        return;
    }
    tbd_conn_accept(w);
}

static int resolve(const char *host, uint16_t port, struct sockaddr_storage *ss)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *res = NULL;
    char ps[8];
    snprintf(ps, sizeof(ps), "%u", port);
    int rc = getaddrinfo(host, ps, &hints, &res);
    if (rc != 0 || !res)
        return -1;
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    freeaddrinfo(res);
    return 0;
}

static int listen_on(tbd_worker *w, char *err, size_t errlen)
{
    const tbd_config *cfg = w->srv->cfg;
    struct sockaddr_storage ss;
    if (resolve(cfg->listen, cfg->port, &ss) < 0) {
        snprintf(err, errlen, "cannot resolve listen address %s", cfg->listen);
        return -1;
    }
    int r = uv_tcp_init_ex(&w->loop, &w->listener, ss.ss_family);
    if (r < 0)
        goto fail;
    w->has_listener = true;
    w->listener.data = w;
    uv_os_fd_t fd;
    int one = 1;
    if ((r = uv_fileno((uv_handle_t *)&w->listener, &fd)) < 0)
        goto fail;
    if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof(one)) < 0) {
        r = uv_translate_sys_error(errno);
        goto fail;
    }
    if ((r = uv_tcp_bind(&w->listener, (struct sockaddr *)&ss, 0)) < 0)
        goto fail;
    if ((r = uv_listen((uv_stream_t *)&w->listener, 4096, on_connection)) < 0)
        goto fail;
    return 0;
fail:
    snprintf(err, errlen, "cannot listen on %s:%u: %s", cfg->listen, cfg->port, uv_strerror(r));
    return -1;
}

int tbd_worker_init(tbd_worker *w, tbd_server *srv, unsigned id, char *err, size_t errlen)
{
    w->srv = srv;
    w->id = id;
    if (uv_loop_init(&w->loop) < 0) {
        snprintf(err, errlen, "cannot create event loop");
        return -1;
    }
    w->loop.data = w;
    uv_mutex_init(&w->inbox_lock);
    uv_async_init(&w->loop, &w->wakeup, on_wakeup);
    w->wakeup.data = w;
    uv_check_init(&w->loop, &w->flusher);
    w->flusher.data = w;
    uv_check_start(&w->flusher, on_check);
    uv_timer_init(&w->loop, &w->sweep);
    uv_timer_start(&w->sweep, on_sweep, SWEEP_MS, SWEEP_MS);
    uv_timer_init(&w->loop, &w->pinger);
    const tbd_config *cfg = srv->cfg;
    w->ping_timeout_ms = (uint64_t)(cfg->limits.ping_timeout ? cfg->limits.ping_timeout
                                                             : 2 * cfg->ping_interval) * 1000;
    uint64_t pi = (uint64_t)cfg->ping_interval * 1000;
    if (pi)
        uv_timer_start(&w->pinger, on_ping, pi, pi);
    w->rbuf = malloc(TBD_RBUF_SIZE);
    w->ping_frame = tbd_buf_frame(TB_WS_OP_PING, NULL, 0);
    if (!w->rbuf || !w->ping_frame) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return listen_on(w, err, errlen);
}

static void worker_main(void *arg)
{
    tbd_worker *w = arg;
    uv_run(&w->loop, UV_RUN_DEFAULT);
}

int tbd_worker_start(tbd_worker *w)
{
    return uv_thread_create(&w->thread, worker_main, w);
}

void tbd_worker_stop(tbd_worker *w)
{
    atomic_store(&w->stopping, true);
    uv_async_send(&w->wakeup);
}

/* After the thread has been joined. */
void tbd_worker_free(tbd_worker *w)
{
    if (!w->srv)
        return;
    /* Handles opened by init but never run (failed start) need closing too. */
    if (w->has_listener)
        close_handle((uv_handle_t *)&w->listener);
    finish_stop(w);
    uv_run(&w->loop, UV_RUN_DEFAULT);
    run_tasks(w);
    tbd_session_free_waiters(w);
    drain_inbox(w);
    tbd_route_free(w);
    uv_loop_close(&w->loop);
    uv_mutex_destroy(&w->inbox_lock);
    free(w->inbox);
    free(w->spare);
    free(w->rbuf);
    tbd_conn_free_wreqs(w);
    tbd_buf_unref(w->ping_frame);
}
