/* The `wazo-auth` auth backend (DESIGN.md §4): tokens are looked up and
 * checked over wazo-auth's REST API, with libcurl.
 *
 * Threads. A worker never does I/O here: lookup() answers from the cache at
 * once, or queues a request (under `lock`) and wakes the auth thread, which
 * runs every transfer on one curl multi handle (curl_multi_poll, woken by
 * curl_multi_wakeup from the other threads). Results go back to the worker
 * that asked with tbd_worker_call, so callbacks run on its loop thread as
 * auth.h promises.
 *
 * Cache. A successful lookup is cached by token id until the token's own
 * expiry, never past it; a token without expiry is kept CACHE_NO_EXPIRY_S
 * (wazo-auth does not issue such tokens; the cap bounds how long a revoked
 * one could still open sessions). A check that finds a token invalid evicts
 * it; SIGHUP clears the cache. check() never reads the cache (auth.h).
 * Tokens are built on the auth thread (parse_token); their ACL list, tenant
 * and purpose are interned (auth/intern.h), so the users of one policy
 * share one list and its compiled form, cached or not.
 *
 * Coalescing. `pending` maps a token id to its lookup request (queued or in
 * flight); another lookup of the same id joins its waiter list instead of
 * sending a request. A finished request leaves `pending` and its token
 * enters the cache under the same lock hold, so no lookup can slip between
 * the two and send a second request.
 *
 * Master tenant. Learned from the service's own token: POST /0.1/token with
 * the key file's credentials (or auth.username/password), retried with
 * back-off (1, 2, 4 ... 32 s) until it works. Until then ready() is false and
 * master_tenant() NULL: while the first attempt is still under way
 * (master_pending()) a new session waits for it (session.c, bounded by
 * tenbus.bus_wait_timeout); once an attempt has failed, sessions are
 * refused with 4002.
 *
 * Shutdown. destroy() runs after the worker threads are joined but before
 * the workers are freed (server.c): it stops the auth thread and answers
 * every waiter with TBD_AUTH_UNAVAILABLE through tbd_worker_call; the
 * worker's free runs those tasks, so each callback still releases what its
 * caller holds (sessions and API requests hold a conn ref). */
#include <curl/curl.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <uthash.h>
#include <utlist.h>
#include <uv.h>

#include "auth/auth.h"
#include "conf/config.h"
#include "core/log.h"
#include "core/worker.h"
#include "core/version.h"
#include "conf/yamljson.h"

#define SCOPE "websocketd"
#define CACHE_NO_EXPIRY_S 60.0
#define CACHE_MAX_ENTRIES 100000   /* beyond this, new tokens are not cached */
#define CACHE_SWEEP_S 10.0
#define MAX_TOKEN_LEN 1024         /* longer ids are refused without asking */
#define MAX_BODY (1u << 20)        /* a token answer is a few KiB */
#define MAX_HOST_CONNS 64L         /* curl queues transfers beyond this */
#define LOGIN_EXPIRATION "3600"   /* seconds, the service token's life */
#define LOGIN_BACKOFF_MAX_S 32u
#define POLL_MAX_MS 1000

typedef enum { REQ_LOOKUP, REQ_CHECK, REQ_LOGIN } req_kind;

/* One caller waiting for an answer; also the task handed to its worker. */
typedef struct waiter {
    tbd_worker *w;
    tbd_auth_cb cb;
    void *arg;
    int status;
    tbd_token *tok;            /* the callee's ref, delivered with the status */
    struct waiter *next;
} waiter;

typedef struct req {
    req_kind kind;
    char *id;                  /* token id (lookup, check); a credential: scrubbed */
    waiter *waiters;
    CURL *easy;
    struct curl_slist *hdrs;
    char *body;                /* response body, NUL-terminated */
    size_t len, cap;
    char *user, *pass;         /* login credentials until curl copied them */
    char errbuf[CURL_ERROR_SIZE];
    UT_hash_handle hh;         /* a->pending, lookups only */
    struct req *prev, *next;   /* a->queue, then a->active */
} req;

typedef struct cache_ent {
    tbd_token *tok;            /* keyed by tok->token (== the id looked up) */
    double until;              /* unix time */
    UT_hash_handle hh;
} cache_ent;

typedef struct auth_wazo {
    tbd_auth base;
    /* immutable after new() */
    char *base_url;            /* scheme://host:port + prefix, no trailing '/' */
    char *ca_file, *key_file, *username, *password;
    long timeout_ms;
    _Atomic(char *) master;    /* set once, by the auth thread */

    uv_mutex_t lock;           /* guards the fields below, up to `reloaded` */
    req *queue;                /* requests not yet handed to curl */
    req *pending;              /* token id -> its lookup request */
    cache_ent *cache;
    bool stopping, reloaded;

    /* auth thread only (and destroy(), after the join) */
    CURLM *multi;
    uv_thread_t thread;
    bool thread_started;
    req *active;               /* handed to curl */
    req *login;                /* the service login in flight, or NULL */
    unsigned login_attempts;
    atomic_bool login_failed;  /* an attempt failed since start or reload (master_pending) */
    double next_login;         /* monotonic seconds */
    double next_sweep;
    bool server_down;          /* last answer was "unavailable": log changes only */
} auth_wazo;

static double now_real(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static double now_mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void scrub_free(char *s)
{
    if (s)
        explicit_bzero(s, strlen(s));
    free(s);
}

/* ---- requests ------------------------------------------------------------- */

static req *req_new(req_kind kind, const char *id)
{
    req *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->kind = kind;
    if (id && !(r->id = strdup(id))) {
        free(r);
        return NULL;
    }
    return r;
}

static void req_free(req *r)
{
    if (r->easy)
        curl_easy_cleanup(r->easy);
    curl_slist_free_all(r->hdrs);
    if (r->body)
        explicit_bzero(r->body, r->len); /* token answers and the service token */
    free(r->body);
    scrub_free(r->id);
    scrub_free(r->user);
    scrub_free(r->pass);
    free(r);
}

static void deliver_task(tbd_worker *w, void *arg)
{
    waiter *wt = arg;
    wt->cb(wt->arg, wt->status, wt->tok);
    free(wt);
}

/* Answers every waiter of r on its own worker. `tok` is borrowed: each
 * waiter gets its own ref. */
static void deliver(req *r, int status, tbd_token *tok)
{
    waiter *wt = r->waiters, *next;
    r->waiters = NULL;
    for (; wt; wt = next) {
        next = wt->next;
        wt->status = status;
        wt->tok = status == TBD_AUTH_OK && tok ? tbd_token_ref(tok) : NULL;
        if (tbd_worker_call(wt->w, deliver_task, wt) < 0) {
            /* Out of memory: the callback cannot run on its thread, and
             * running it here would break the threading contract. */
            tbd_log_error("wazo-auth: cannot hand an auth result to worker %u (out of memory)", wt->w->id);
            tbd_token_unref(wt->tok);
            free(wt);
        }
    }
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
    req *r = arg;
    size_t len = size * n;
    if (len > MAX_BODY - r->len)
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    if (r->len + len + 1 > r->cap) {
        size_t cap = r->cap ? r->cap : 4096;
        while (cap < r->len + len + 1)
            cap *= 2;
        char *b = malloc(cap);
        if (!b)
            return 0;
        if (r->body) {
            memcpy(b, r->body, r->len);
            explicit_bzero(r->body, r->len);
            free(r->body);
        }
        r->body = b;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, len);
    r->len += len;
    r->body[r->len] = '\0';
    return len;
}

/* Credentials for the service login: the key file's service_id and
 * service_key if a key file is configured (re-read on every attempt, so a
 * key file written after startup is picked up), else auth.username and
 * auth.password. Returns 0 with two new strings, or -1 with err filled. */
static int load_creds(const auth_wazo *a, char **user, char **pass, char *err, size_t errlen)
{
    *user = *pass = NULL;
    if (!a->key_file) {
        if (!a->username || !a->password) {
            snprintf(err, errlen, "neither auth.key_file nor auth.username/password is set");
            return -1;
        }
        *user = strdup(a->username);
        *pass = strdup(a->password);
    } else {
        char yerr[512];
        json_t *doc = tb__yaml_load_file(a->key_file, yerr, sizeof(yerr));
        if (!doc) {
            snprintf(err, errlen, "key file: %s", yerr);
            return -1;
        }
        const json_t *id = json_object_get(doc, "service_id");
        const json_t *key = json_object_get(doc, "service_key");
        if (!json_is_string(id) || !json_is_string(key) || !*json_string_value(id)) {
            snprintf(err, errlen, "key file %s: service_id and service_key must be strings",
                     a->key_file);
            json_decref(doc);
            return -1;
        }
        *user = strdup(json_string_value(id));
        *pass = strdup(json_string_value(key));
        json_decref(doc);
    }
    if (!*user || !*pass) {
        scrub_free(*user);
        scrub_free(*pass);
        *user = *pass = NULL;
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* Builds r's transfer and hands it to curl. -1 if it could not be built
 * (the caller answers the waiters). */
static int req_setup(auth_wazo *a, req *r)
{
    CURL *e = r->easy = curl_easy_init();
    if (!e)
        return -1;
    char url[2048];
    if (r->kind == REQ_LOGIN) {
        snprintf(url, sizeof(url), "%s/0.1/token", a->base_url);
    } else {
        char *esc = curl_easy_escape(e, r->id, 0);
        if (!esc)
            return -1;
        int n = snprintf(url, sizeof(url), "%s/0.1/token/%s?scope=" SCOPE, a->base_url, esc);
        explicit_bzero(esc, strlen(esc));
        curl_free(esc);
        if (n < 0 || (size_t)n >= sizeof(url))
            return -1;
    }
    r->hdrs = curl_slist_append(NULL, "Accept: application/json");
    if (!r->hdrs)
        return -1;
    curl_easy_setopt(e, CURLOPT_URL, url);
    explicit_bzero(url, sizeof(url));
    curl_easy_setopt(e, CURLOPT_PRIVATE, r);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, a->timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, a->timeout_ms);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (a->ca_file)
        curl_easy_setopt(e, CURLOPT_CAINFO, a->ca_file);
    curl_easy_setopt(e, CURLOPT_USERAGENT, "tenbusd/" TBD_VERSION);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, r->errbuf);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, r);
    if (r->kind == REQ_CHECK) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (r->kind == REQ_LOGIN) {
        static const char body[] = "{\"expiration\": " LOGIN_EXPIRATION "}";
        struct curl_slist *h = curl_slist_append(r->hdrs, "Content-Type: application/json");
        if (!h)
            return -1;
        r->hdrs = h;
        curl_easy_setopt(e, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(e, CURLOPT_USERNAME, r->user); /* curl keeps its own copies */
        curl_easy_setopt(e, CURLOPT_PASSWORD, r->pass);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE, (long)(sizeof(body) - 1));
        scrub_free(r->user);
        scrub_free(r->pass);
        r->user = r->pass = NULL;
    }
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, r->hdrs);
    if (curl_multi_add_handle(a->multi, e) != CURLM_OK)
        return -1;
    DL_APPEND(a->active, r);
    return 0;
}

/* ---- cache (callers hold the lock) ---------------------------------------- */

static void cache_del(auth_wazo *a, cache_ent *e)
{
    HASH_DEL(a->cache, e);
    tbd_token_unref(e->tok);
    free(e);
}

static void cache_clear(auth_wazo *a)
{
    cache_ent *e, *tmp;
    HASH_ITER(hh, a->cache, e, tmp)
        cache_del(a, e);
}

static void cache_sweep(auth_wazo *a, double now)
{
    cache_ent *e, *tmp;
    HASH_ITER(hh, a->cache, e, tmp)
        if (e->until <= now)
            cache_del(a, e);
}

static void cache_put(auth_wazo *a, tbd_token *tok)
{
    double now = now_real();
    double until = tok->expires_at > 0 ? tok->expires_at
                 : tok->expires_at == 0 ? now + CACHE_NO_EXPIRY_S : 0;
    if (until <= now)
        return; /* already expired by our clock: answer, but do not keep */
    cache_ent *e;
    HASH_FIND_STR(a->cache, tok->token, e);
    if (e)
        cache_del(a, e);
    if (HASH_COUNT(a->cache) >= CACHE_MAX_ENTRIES)
        cache_sweep(a, now);
    if (HASH_COUNT(a->cache) >= CACHE_MAX_ENTRIES || !(e = calloc(1, sizeof(*e))))
        return;
    e->tok = tbd_token_ref(tok);
    e->until = until;
    HASH_ADD_KEYPTR(hh, a->cache, e->tok->token, strlen(e->tok->token), e);
}

/* ---- answers (auth thread) ------------------------------------------------ */

/* Logs reachability changes once, not once per request (a storm of lookups
 * against a dead server would flood the log). */
static void note_reachable(auth_wazo *a, bool up, CURLcode rc, long http)
{
    if (!up && !a->server_down) {
        if (rc != CURLE_OK)
            tbd_log_warn("wazo-auth unavailable url=%s error=\"%s\"", a->base_url, curl_easy_strerror(rc));
        else
            tbd_log_warn("wazo-auth unavailable url=%s status=%ld", a->base_url, http);
    } else if (up && a->server_down) {
        tbd_log_info("wazo-auth reachable again url=%s", a->base_url);
    }
    a->server_down = !up;
}

static int status_of(long http, bool lookup)
{
    if (lookup ? http == 200 : (http == 200 || http == 204))
        return TBD_AUTH_OK;
    /* 404 unknown (or expired), 403 lacks the scope, 401/400 refused as such. */
    if (http == 400 || http == 401 || http == 403 || http == 404)
        return TBD_AUTH_INVALID;
    return TBD_AUTH_UNAVAILABLE;
}

static tbd_token *parse_token(const req *r)
{
    json_error_t je;
    char err[256];
    json_t *root = r->body ? json_loadb(r->body, r->len, 0, &je) : NULL;
    tbd_token *t = root ? tbd_token_from_json(json_object_get(root, "data"), err, sizeof(err)) : NULL;
    if (!root)
        tbd_log_warn("wazo-auth: token answer is not JSON");
    else if (!t)
        tbd_log_warn("wazo-auth: malformed token answer: %s", err);
    else if (strcmp(t->token, r->id) != 0) {
        /* The session would carry (and later check) another id than the
         * one presented: refuse rather than guess. */
        tbd_log_warn("wazo-auth: token answer is for another token");
        tbd_token_unref(t);
        t = NULL;
    }
    json_decref(root);
    return t;
}

static void finish_lookup(auth_wazo *a, req *r, CURLcode rc, long http)
{
    int status = rc == CURLE_OK ? status_of(http, true) : TBD_AUTH_UNAVAILABLE;
    tbd_token *tok = NULL;
    if (status == TBD_AUTH_OK && !(tok = parse_token(r)))
        status = TBD_AUTH_UNAVAILABLE;
    note_reachable(a, rc == CURLE_OK && http < 500, rc, http);
    uv_mutex_lock(&a->lock);
    HASH_DEL(a->pending, r);
    if (tok)
        cache_put(a, tok);
    uv_mutex_unlock(&a->lock);
    tbd_log_debug("wazo-auth lookup status=%ld result=%s", http,
              status == TBD_AUTH_OK ? "valid" : status == TBD_AUTH_INVALID ? "invalid" : "unavailable");
    deliver(r, status, tok);
    tbd_token_unref(tok);
}

static void finish_check(auth_wazo *a, req *r, CURLcode rc, long http)
{
    int status = rc == CURLE_OK ? status_of(http, false) : TBD_AUTH_UNAVAILABLE;
    note_reachable(a, rc == CURLE_OK && http < 500, rc, http);
    if (status == TBD_AUTH_INVALID) {
        uv_mutex_lock(&a->lock);
        cache_ent *e;
        HASH_FIND_STR(a->cache, r->id, e);
        if (e)
            cache_del(a, e);
        uv_mutex_unlock(&a->lock);
    }
    tbd_log_debug("wazo-auth check status=%ld result=%s", http,
              status == TBD_AUTH_OK ? "valid" : status == TBD_AUTH_INVALID ? "invalid" : "unavailable");
    deliver(r, status, NULL);
}

static void login_failed(auth_wazo *a, const char *why)
{
    unsigned n = a->login_attempts++;
    atomic_store(&a->login_failed, true);
    unsigned delay = n >= 5 ? LOGIN_BACKOFF_MAX_S : 1u << n;
    a->next_login = now_mono() + delay;
    tbd_log_warn("wazo-auth service login failed attempt=%u url=%s: %s; retry_in=%us", n + 1,
             a->base_url, why, delay);
}

static void finish_login(auth_wazo *a, req *r, CURLcode rc, long http)
{
    char why[CURL_ERROR_SIZE + 64];
    if (rc != CURLE_OK) {
        /* The error buffer names host and port, never the credentials. */
        snprintf(why, sizeof(why), "error=\"%s\"", r->errbuf[0] ? r->errbuf : curl_easy_strerror(rc));
        login_failed(a, why);
        return;
    }
    if (http != 200) {
        snprintf(why, sizeof(why), "status=%ld%s", http,
                 http == 401 ? " (credentials refused)" : "");
        login_failed(a, why);
        return;
    }
    json_error_t je;
    json_t *root = r->body ? json_loadb(r->body, r->len, 0, &je) : NULL;
    const json_t *t = json_object_get(json_object_get(json_object_get(root, "data"), "metadata"),
                                      "tenant_uuid");
    char *m = json_is_string(t) && *json_string_value(t) ? strdup(json_string_value(t)) : NULL;
    json_decref(root);
    if (!m) {
        login_failed(a, "answer without data.metadata.tenant_uuid");
        return;
    }
    atomic_store(&a->master, m);
    tbd_log_info("wazo-auth service login ok master_tenant=%s attempts=%u", m, a->login_attempts + 1);
}

static void finish(auth_wazo *a, req *r, CURLcode rc)
{
    long http = 0;
    if (rc == CURLE_OK)
        curl_easy_getinfo(r->easy, CURLINFO_RESPONSE_CODE, &http);
    switch (r->kind) {
    case REQ_LOOKUP: finish_lookup(a, r, rc, http); break;
    case REQ_CHECK: finish_check(a, r, rc, http); break;
    case REQ_LOGIN: finish_login(a, r, rc, http); a->login = NULL; break;
    }
    req_free(r);
}

/* A request that never reached wazo-auth (could not be built, or the
 * backend is stopping): its waiters learn the server is unavailable. */
static void fail_req(auth_wazo *a, req *r)
{
    if (r->kind == REQ_LOOKUP) {
        uv_mutex_lock(&a->lock);
        HASH_DEL(a->pending, r);
        uv_mutex_unlock(&a->lock);
    }
    if (r->kind == REQ_LOGIN)
        a->login = NULL;
    deliver(r, TBD_AUTH_UNAVAILABLE, NULL);
    req_free(r);
}

static void start_login(auth_wazo *a)
{
    char err[600];
    req *r = req_new(REQ_LOGIN, NULL);
    if (!r) {
        login_failed(a, "out of memory");
        return;
    }
    if (load_creds(a, &r->user, &r->pass, err, sizeof(err)) < 0) {
        login_failed(a, err);
        req_free(r);
        return;
    }
    if (req_setup(a, r) < 0) {
        login_failed(a, "cannot set the request up");
        req_free(r);
        return;
    }
    a->login = r;
}

static void auth_main(void *arg)
{
    auth_wazo *a = arg;
    for (;;) {
        uv_mutex_lock(&a->lock);
        if (a->stopping) {
            uv_mutex_unlock(&a->lock);
            break;
        }
        req *q = a->queue;
        a->queue = NULL;
        bool reloaded = a->reloaded;
        a->reloaded = false;
        uv_mutex_unlock(&a->lock);

        req *r, *tmp;
        DL_FOREACH_SAFE(q, r, tmp) {
            DL_DELETE(q, r);
            if (req_setup(a, r) < 0)
                fail_req(a, r);
        }
        double now = now_mono();
        bool known = atomic_load(&a->master) != NULL;
        if (reloaded && !known) {
            /* New credentials may be in place: try now, back-off afresh. */
            a->next_login = now;
            a->login_attempts = 0;
            atomic_store(&a->login_failed, false);
        }
        if (!known && !a->login && now >= a->next_login)
            start_login(a);

        int running;
        curl_multi_perform(a->multi, &running);
        CURLMsg *m;
        int left;
        while ((m = curl_multi_info_read(a->multi, &left))) {
            if (m->msg != CURLMSG_DONE)
                continue;
            CURL *e = m->easy_handle;
            CURLcode rc = m->data.result; /* m is invalid once the handle is removed */
            char *priv = NULL;
            curl_easy_getinfo(e, CURLINFO_PRIVATE, &priv);
            req *d = (req *)(void *)priv;
            curl_multi_remove_handle(a->multi, e);
            DL_DELETE(a->active, d);
            finish(a, d, rc);
        }

        if (now >= a->next_sweep) {
            uv_mutex_lock(&a->lock);
            cache_sweep(a, now_real());
            uv_mutex_unlock(&a->lock);
            a->next_sweep = now + CACHE_SWEEP_S;
        }
        int timeout = POLL_MAX_MS;
        if (!atomic_load(&a->master) && !a->login) {
            double ms = (a->next_login - now_mono()) * 1000.0;
            if (ms < timeout)
                timeout = ms > 0 ? (int)ms + 1 : 0;
        }
        curl_multi_poll(a->multi, NULL, 0, timeout, NULL);
    }
}

/* ---- ops (worker and main threads) ---------------------------------------- */

/* Queues r (under the lock) and wakes the auth thread. The wake-up is sent
 * with the lock held: destroy() sets `stopping` under it before tearing the
 * multi handle down, so no caller can wake a freed handle. */
static void enqueue_locked(auth_wazo *a, req *r)
{
    DL_APPEND(a->queue, r);
    curl_multi_wakeup(a->multi);
}

static waiter *waiter_new(tbd_worker *w, tbd_auth_cb cb, void *arg)
{
    waiter *wt = calloc(1, sizeof(*wt));
    if (wt) {
        wt->w = w;
        wt->cb = cb;
        wt->arg = arg;
    }
    return wt;
}

static void lookup(tbd_auth *base, tbd_worker *w, const char *token, tbd_auth_cb cb, void *arg)
{
    auth_wazo *a = (auth_wazo *)base;
    if (strlen(token) > MAX_TOKEN_LEN) {
        cb(arg, TBD_AUTH_INVALID, NULL);
        return;
    }
    waiter *wt = waiter_new(w, cb, arg);
    if (!wt) {
        cb(arg, TBD_AUTH_UNAVAILABLE, NULL);
        return;
    }
    uv_mutex_lock(&a->lock);
    if (a->stopping)
        goto unavailable;
    cache_ent *e;
    HASH_FIND_STR(a->cache, token, e);
    if (e && e->until > now_real()) {
        tbd_token *t = tbd_token_ref(e->tok);
        uv_mutex_unlock(&a->lock);
        free(wt);
        cb(arg, TBD_AUTH_OK, t);
        return;
    }
    if (e)
        cache_del(a, e);
    req *r;
    HASH_FIND_STR(a->pending, token, r);
    if (r) {
        LL_PREPEND(r->waiters, wt);
        uv_mutex_unlock(&a->lock);
        return;
    }
    if (!(r = req_new(REQ_LOOKUP, token)))
        goto unavailable;
    r->waiters = wt;
    HASH_ADD_KEYPTR(hh, a->pending, r->id, strlen(r->id), r);
    enqueue_locked(a, r);
    uv_mutex_unlock(&a->lock);
    return;
unavailable:
    uv_mutex_unlock(&a->lock);
    free(wt);
    cb(arg, TBD_AUTH_UNAVAILABLE, NULL);
}

static void check(tbd_auth *base, tbd_worker *w, const char *token, tbd_auth_cb cb, void *arg)
{
    auth_wazo *a = (auth_wazo *)base;
    waiter *wt = waiter_new(w, cb, arg);
    req *r = wt ? req_new(REQ_CHECK, token) : NULL;
    if (!r) {
        free(wt);
        cb(arg, TBD_AUTH_UNAVAILABLE, NULL);
        return;
    }
    r->waiters = wt;
    uv_mutex_lock(&a->lock);
    if (a->stopping) {
        uv_mutex_unlock(&a->lock);
        r->waiters = NULL;
        req_free(r);
        free(wt);
        cb(arg, TBD_AUTH_UNAVAILABLE, NULL);
        return;
    }
    enqueue_locked(a, r);
    uv_mutex_unlock(&a->lock);
}

static const char *master_tenant(tbd_auth *base)
{
    return atomic_load(&((auth_wazo *)base)->master);
}

static bool ready(tbd_auth *base)
{
    return master_tenant(base) != NULL;
}

static bool master_pending(tbd_auth *base)
{
    return !master_tenant(base) && !atomic_load(&((auth_wazo *)base)->login_failed);
}

/* SIGHUP: the key file is re-read at every login attempt anyway; here it
 * is read once to report a broken file, the cache is dropped, and if the
 * master tenant is still unknown the login is retried at once. */
static int reload(tbd_auth *base)
{
    auth_wazo *a = (auth_wazo *)base;
    int rc = 0;
    if (a->key_file) {
        char *user, *pass, err[600];
        if (load_creds(a, &user, &pass, err, sizeof(err)) < 0) {
            tbd_log_error("wazo-auth: %s", err);
            rc = -1;
        } else {
            scrub_free(user);
            scrub_free(pass);
        }
    }
    uv_mutex_lock(&a->lock);
    unsigned n = HASH_COUNT(a->cache);
    cache_clear(a);
    a->reloaded = true;
    if (!a->stopping)
        curl_multi_wakeup(a->multi);
    uv_mutex_unlock(&a->lock);
    tbd_log_info("wazo-auth reloaded: token cache cleared (%u entries)", n);
    return rc;
}

static void destroy(tbd_auth *base)
{
    auth_wazo *a = (auth_wazo *)base;
    uv_mutex_lock(&a->lock);
    a->stopping = true;
    if (a->multi)
        curl_multi_wakeup(a->multi);
    uv_mutex_unlock(&a->lock);
    if (a->thread_started)
        uv_thread_join(&a->thread);

    /* The thread is gone: everything below is ours alone. */
    req *r, *tmp;
    DL_FOREACH_SAFE(a->active, r, tmp) {
        DL_DELETE(a->active, r);
        curl_multi_remove_handle(a->multi, r->easy);
        fail_req(a, r);
    }
    DL_FOREACH_SAFE(a->queue, r, tmp) {
        DL_DELETE(a->queue, r);
        fail_req(a, r);
    }
    cache_clear(a);
    if (a->multi)
        curl_multi_cleanup(a->multi);
    curl_global_cleanup();
    uv_mutex_destroy(&a->lock);
    free(atomic_load(&a->master));
    free(a->base_url);
    free(a->ca_file);
    free(a->key_file);
    free(a->username);
    scrub_free(a->password);
    free(a);
}

static const tbd_auth_ops wazo_ops = {
    .name = "wazo-auth", .lookup = lookup, .check = check, .master_tenant = master_tenant,
    .reload = reload, .ready = ready, .master_pending = master_pending, .free = destroy,
};

static char *dup_or_null(const char *s, bool *oom)
{
    char *d = s ? strdup(s) : NULL;
    if (s && !d)
        *oom = true;
    return d;
}

/* scheme://host:port + prefix; an IPv6 literal gets its brackets, the
 * prefix a leading '/' and no trailing one. */
static char *make_base_url(const tbd_config *cfg)
{
    const char *host = cfg->auth_host;
    const char *prefix = cfg->auth_prefix ? cfg->auth_prefix : "";
    bool v6 = strchr(host, ':') && host[0] != '[';
    size_t plen = strlen(prefix);
    while (plen && prefix[plen - 1] == '/')
        plen--;
    size_t n = strlen(host) + plen + 32;
    char *url = malloc(n);
    if (url)
        snprintf(url, n, "%s://%s%s%s:%u%s%.*s", cfg->auth_https ? "https" : "http", v6 ? "[" : "",
                 host, v6 ? "]" : "", cfg->auth_port, plen && prefix[0] != '/' ? "/" : "",
                 (int)plen, prefix);
    return url;
}

tbd_auth *tbd_auth_wazo_new(const tbd_config *cfg)
{
    if (!cfg->auth_key_file && (!cfg->auth_username || !cfg->auth_password)) {
        tbd_log_error("auth backend wazo-auth: set auth.key_file (or auth.username and auth.password): "
                  "the master tenant is learned from the service's own token");
        return NULL;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        tbd_log_error("auth backend wazo-auth: cannot initialise libcurl");
        return NULL;
    }
    auth_wazo *a = calloc(1, sizeof(*a));
    if (!a) {
        curl_global_cleanup();
        return NULL;
    }
    a->base.ops = &wazo_ops;
    uv_mutex_init(&a->lock);
    bool oom = false;
    a->base_url = make_base_url(cfg);
    a->ca_file = dup_or_null(cfg->auth_ca_file, &oom);
    a->key_file = dup_or_null(cfg->auth_key_file, &oom);
    a->username = dup_or_null(cfg->auth_username, &oom);
    a->password = dup_or_null(cfg->auth_password, &oom);
    a->timeout_ms = (long)cfg->auth_timeout * 1000L;
    a->multi = curl_multi_init();
    if (oom || !a->base_url || !a->multi) {
        tbd_log_error("auth backend wazo-auth: out of memory");
        destroy(&a->base);
        return NULL;
    }
    curl_multi_setopt(a->multi, CURLMOPT_MAX_HOST_CONNECTIONS, MAX_HOST_CONNS);
    if (uv_thread_create(&a->thread, auth_main, a) != 0) {
        tbd_log_error("auth backend wazo-auth: cannot start its thread");
        destroy(&a->base);
        return NULL;
    }
    a->thread_started = true;
    tbd_log_info("auth backend wazo-auth url=%s timeout=%us credentials=%s", a->base_url,
             cfg->auth_timeout, a->key_file ? "key_file" : "username");
    return &a->base;
}
