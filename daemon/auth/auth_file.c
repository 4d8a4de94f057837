/* The `file` auth backend: tokens from a JSON/YAML file (tokens_file.h),
 * re-read on SIGHUP (parse, then swap: a bad file keeps the old tokens).
 * Answers synchronously: a lookup is a hash probe. */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uv.h>

#include "auth/auth.h"
#include "conf/config.h"
#include "core/log.h"
#include "auth/tokens_file.h"

typedef struct auth_file {
    tbd_auth base;
    char *path;
    char *master;
    uv_mutex_t lock;        /* guards `set` (the pointer swap and taking a ref) */
    tbd_token_set *set;
} auth_file;

static tbd_token_set *current(auth_file *a)
{
    uv_mutex_lock(&a->lock);
    tbd_token_set *s = a->set ? tbd_token_set_ref(a->set) : NULL;
    uv_mutex_unlock(&a->lock);
    return s;
}

static void lookup(tbd_auth *base, struct tbd_worker *w, const char *token, tbd_auth_cb cb, void *arg)
{
    auth_file *a = (auth_file *)base;
    tbd_token_set *s = current(a);
    tbd_token *t = s ? tbd_token_set_find(s, token) : NULL;
    tbd_token_set_unref(s);
    if (t && t->expires_at > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        if (t->expires_at <= (double)ts.tv_sec + ts.tv_nsec / 1e9) {
            tbd_token_unref(t);
            t = NULL;
        }
    }
    if (t)
        cb(arg, TBD_AUTH_OK, t);
    else
        cb(arg, TBD_AUTH_INVALID, NULL);
}

static const char *master_tenant(tbd_auth *base)
{
    return ((auth_file *)base)->master;
}

static int reload(tbd_auth *base)
{
    auth_file *a = (auth_file *)base;
    char err[512];
    tbd_token_set *s = tbd_token_set_load(a->path, err, sizeof(err));
    if (!s) {
        tbd_log_error("tokens file not reloaded, keeping the previous tokens: %s", err);
        return -1;
    }
    uv_mutex_lock(&a->lock);
    tbd_token_set *old = a->set;
    a->set = s;
    uv_mutex_unlock(&a->lock);
    tbd_token_set_unref(old);
    tbd_log_info("tokens file loaded: %s (%zu tokens)", a->path, tbd_token_set_count(s));
    return 0;
}

static bool ready(tbd_auth *base)
{
    return ((auth_file *)base)->master != NULL;
}

static void destroy(tbd_auth *base)
{
    auth_file *a = (auth_file *)base;
    tbd_token_set_unref(a->set);
    uv_mutex_destroy(&a->lock);
    free(a->path);
    free(a->master);
    free(a);
}

static const tbd_auth_ops file_ops = {
    .name = "file", .lookup = lookup, .check = lookup, .master_tenant = master_tenant,
    .reload = reload, .ready = ready, .free = destroy,
};

tbd_auth *tbd_auth_file_new(const tbd_config *cfg)
{
    if (!cfg->tokens_file) {
        tbd_log_error("auth backend file: tenbus.tokens_file is not set");
        return NULL;
    }
    if (!cfg->master_tenant_uuid)
        tbd_log_warn("auth backend file: tenbus.master_tenant_uuid is not set: every connection will be refused");
    auth_file *a = calloc(1, sizeof(*a));
    if (!a)
        return NULL;
    a->base.ops = &file_ops;
    uv_mutex_init(&a->lock);
    a->path = strdup(cfg->tokens_file);
    a->master = cfg->master_tenant_uuid ? strdup(cfg->master_tenant_uuid) : NULL;
    if (!a->path || reload(&a->base) < 0) {
        destroy(&a->base);
        return NULL;
    }
    return &a->base;
}
