/* SIGHUP reload of the listener's TLS certificate (tls.h). */
#include <stdio.h>
#include <stdlib.h>

#include "core/log.h"
#include "core/server.h"
#include "core/worker.h"
#include "net/tls.h"

/* An old context waiting for every worker to pass a quiescent point. */
typedef struct tls_retired {
    tbd_tls_ctx *ctx;
    atomic_uint left;
} tls_retired;

static void retire_task(tbd_worker *w, void *arg)
{
    tls_retired *r = arg;
    (void)w;
    if (atomic_fetch_sub(&r->left, 1) == 1) {
        tbd_tls_ctx_unref(r->ctx);   /* open sessions hold their own references */
        free(r);
    }
}

void tbd_tls_reload(tbd_server *srv)
{
    const tbd_config *cfg = srv->cfg;
    tbd_tls_ctx *cur = __atomic_load_n(&srv->tls_ctx, __ATOMIC_ACQUIRE);
    if (!cur)
        return;
    tbd_tls_ctx *fresh = NULL;
    char err[512] = "";
    if (tbd_tls_ctx_new(cfg, &fresh, err, sizeof err) < 0 || !fresh) {
        if (!fresh && err[0] == '\0')
            snprintf(err, sizeof err, "websocket.certificate and websocket.private_key are "
                     "no longer both set (turning TLS off needs a restart)");
        tbd_log_error("TLS certificate not reloaded, keeping the current one: %s", err);
        return;
    }
    tls_retired *r = malloc(sizeof *r);
    if (!r) {
        tbd_tls_ctx_unref(fresh);
        tbd_log_error("TLS certificate not reloaded, keeping the current one: out of memory");
        return;
    }
    r->ctx = __atomic_exchange_n(&srv->tls_ctx, fresh, __ATOMIC_ACQ_REL);
    /* One count per worker plus ours, dropped once the tasks are posted. */
    atomic_init(&r->left, srv->n_workers + 1);
    unsigned posted = 0;
    for (unsigned i = 0; i < srv->n_workers; i++)
        if (tbd_worker_call(&srv->workers[i], retire_task, r) == 0)
            posted++;
    if (posted == srv->n_workers) {
        retire_task(NULL, r);
    } else {
        /* A worker we could not reach may still hold the old pointer: the
         * old context stays allocated (out of memory only). The posted
         * tasks bring the count down to our share, which we keep. */
        atomic_fetch_sub(&r->left, srv->n_workers - posted);
        tbd_log_error("TLS: the previous certificate stays in memory (out of memory)");
    }
    tbd_log_info("TLS certificate reloaded: %s", cfg->tls_certificate);
}
