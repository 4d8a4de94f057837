/* The HTTP API (DESIGN.md §6, docs/http-api.md): publishing, status,
 * metrics. A request body is parsed once; a batch is validated whole before
 * any of it is published. */
#include <http_parser.h>
#include <stdlib.h>
#include <string.h>

#include "http/api.h"
#include "http/api_fast.h"
#include "http/console.h"
#include "http/http_conn.h"
#include "core/log.h"
#include "core/server.h"
#include "core/stats.h"
#include "http/metrics.h"
#include "net/conn.h"
#include "catalogue/catalogue.h"

#define PUBLISH_ACL_PREFIX "tenbus.publish."
#define PUBLISH_RAW_ACL "tenbus.publish-raw"

typedef tbd_api_err api_err;

static void reply_err(tbd_conn *c, const api_err *e, long index)
{
    json_t *j = json_pack("{s:s,s:s}", "error", e->error, "message", e->message);
    if (j && e->field)
        json_object_set_new(j, "field", json_string(e->field));
    if (j && index >= 0)
        json_object_set_new(j, "index", json_integer(index));
    tbd_log_info("api refused peer=%s status=%d field=%s: %s", c->peer, e->status,
             e->field ? e->field : "-", e->message);
    tbd_http_respond_json(c, e->status, j);
}

static int fail(api_err *e, int status, const char *error, const char *field, const char *msg)
{
    e->status = status;
    e->error = error;
    e->field = field;
    snprintf(e->message, sizeof(e->message), "%s", msg);
    return -1;
}

static bool is_master(const tbd_api_ctx *ctx)
{
    const char *m = ctx->master_tenant;
    return m && ctx->tok->tenant_uuid && strcmp(m, ctx->tok->tenant_uuid) == 0;
}

/* Optional string member: absent or null => NULL; other non-strings => error. */
static int opt_string(const json_t *o, const char *key, const char **out, api_err *e)
{
    const json_t *v = json_object_get(o, key);
    *out = NULL;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_string(v))
        return fail(e, 400, "invalid_event", key, "must be a string");
    *out = json_string_value(v);
    return 0;
}

static int parse_level(const char *s, tb_level *out)
{
    static const struct { const char *name; tb_level level; } levels[] = {
        {"service", TB_LEVEL_SERVICE}, {"tenant", TB_LEVEL_TENANT}, {"user", TB_LEVEL_USER},
        {"multi_user", TB_LEVEL_MULTI_USER}, {"multi-user", TB_LEVEL_MULTI_USER},
    };
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
        if (strcmp(s, levels[i].name) == 0) {
            *out = levels[i].level;
            return 0;
        }
    return -1;
}

int tbd_api_event_level(const char *level_s, bool has_users, const char *tenant, const char *user,
                        const char *rkey, const char *rfmt, tb_level *level, api_err *e)
{
    if (level_s) {
        if (parse_level(level_s, level) < 0)
            return fail(e, 400, "invalid_event", "level",
                        "must be one of service, tenant, user, multi_user");
    } else {
        *level = has_users ? TB_LEVEL_MULTI_USER : user ? TB_LEVEL_USER
                 : tenant ? TB_LEVEL_TENANT : TB_LEVEL_SERVICE;
    }
    if (*level == TB_LEVEL_MULTI_USER && !has_users)
        return fail(e, 400, "invalid_event", "user_uuids", "a multi_user event needs a list of user uuids");
    if (rkey && rfmt)
        return fail(e, 400, "invalid_event", "routing_key", "give routing_key or routing_key_fmt, not both");
    if (rkey && strpbrk(rkey, "{}"))
        return fail(e, 400, "invalid_event", "routing_key", "a literal routing key cannot contain braces");
    return 0;
}

/* The token must grant tenbus.publish.<name>, and outside the master tenant
 * may only address its own tenant. */
int tbd_api_may_publish(const tbd_api_ctx *ctx, const char *name, tb_level level,
                        const char *tenant, api_err *e)
{
    const tbd_token *tok = ctx->tok;
    char perm[512];
    snprintf(perm, sizeof(perm), PUBLISH_ACL_PREFIX "%s", name);
    if (!tbd_token_grants(tok, perm))
        return fail(e, 403, "forbidden", "name", "the token does not grant tenbus.publish.<name>");
    if (!is_master(ctx)) {
        if (level == TB_LEVEL_SERVICE)
            return fail(e, 403, "forbidden", "level", "service events need a master-tenant token");
        if (tenant && (!tok->tenant_uuid || strcmp(tenant, tok->tenant_uuid) != 0))
            return fail(e, 403, "forbidden", "tenant_uuid", "the token may only publish to its own tenant");
    }
    return 0;
}

/* Validates one event object of POST /api/events and builds it. */
static int build_event(const tbd_api_ctx *ctx, const json_t *o, tb_event **out, api_err *e)
{
    if (!json_is_object(o))
        return fail(e, 400, "invalid_event", NULL, "an event must be a JSON object");
    const char *name, *level_s, *tenant, *user, *rkey, *rfmt;
    if (opt_string(o, "name", &name, e) || opt_string(o, "level", &level_s, e) ||
        opt_string(o, "tenant_uuid", &tenant, e) || opt_string(o, "user_uuid", &user, e) ||
        opt_string(o, "routing_key", &rkey, e) || opt_string(o, "routing_key_fmt", &rfmt, e))
        return -1;
    if (!name || !*name)
        return fail(e, 400, "invalid_event", "name", "an event needs a non-empty name");

    const json_t *users = json_object_get(o, "user_uuids");
    size_t n_users = 0;
    if (users && !json_is_null(users)) {
        if (!json_is_array(users))
            return fail(e, 400, "invalid_event", "user_uuids", "must be a list of strings");
        n_users = json_array_size(users);
        for (size_t i = 0; i < n_users; i++)
            if (!json_is_string(json_array_get(users, i)))
                return fail(e, 400, "invalid_event", "user_uuids", "must be a list of strings");
    } else {
        users = NULL;
    }

    tb_level level;
    if (tbd_api_event_level(level_s, users != NULL, tenant, user, rkey, rfmt, &level, e) < 0)
        return -1;

    const json_t *acl = json_object_get(o, "required_acl");
    if (acl && !json_is_string(acl) && !json_is_null(acl))
        return fail(e, 400, "invalid_event", "required_acl", "must be a string or null");
    const json_t *headers = json_object_get(o, "headers");
    if (headers && !json_is_null(headers) && !json_is_object(headers))
        return fail(e, 400, "invalid_event", "headers", "must be an object");
    if (json_is_null(headers))
        headers = NULL;

    if (tbd_api_may_publish(ctx, name, level, tenant, e) < 0 ||
        tbd_catalogue_check(ctx->catalogue, name, level, json_object_get(o, "data"), e) < 0)
        return -1;

    const char **extra = NULL, **ulist = NULL;
    size_t n_extra = headers ? json_object_size(headers) : 0;
    extra = calloc(n_extra + 1, sizeof(*extra));
    ulist = calloc(n_users + 1, sizeof(*ulist));
    if (!extra || !ulist) {
        free(extra);
        free(ulist);
        return fail(e, 500, "internal", NULL, "out of memory");
    }
    if (headers) {
        const char *k;
        json_t *v;
        size_t i = 0;
        json_object_foreach((json_t *)headers, k, v)
            extra[i++] = k;
    }
    for (size_t i = 0; i < n_users; i++)
        ulist[i] = json_string_value(json_array_get(users, i));

    json_t *empty = NULL;
    const json_t *data = json_object_get(o, "data");
    if (!data)
        data = empty = json_object();
    tb_event_type type = {
        .name = name, .level = level, .routing_key_fmt = rfmt ? rfmt : rkey,
        .extra_fields = extra,
    };
    tb_event_args args = {
        .tenant_uuid = tenant, .user_uuid = user, .user_uuids = users ? ulist : NULL,
        .n_user_uuids = n_users, .content = data, .fields = headers,
        .timestamp = ctx->timestamp,
    };
    tb_err rc = tb_event_new(&type, &args, ctx->stack_uuid, out);
    free(extra);
    free(ulist);
    json_decref(empty);
    if (rc != TB_OK) {
        const char *field = rc == TB_ENOTENANT ? "tenant_uuid" : rc == TB_ENOUSER ? "user_uuid"
                          : rc == TB_ENOUSERS ? "user_uuids" : rc == TB_ENONAME ? "name"
                          : (rc == TB_ENOFIELD || rc == TB_EFORMAT) ? (rfmt ? "routing_key_fmt" : "headers")
                          : rc == TB_EINVAL ? "headers" : NULL;
        return fail(e, rc == TB_ENOMEM ? 500 : 400, "invalid_event", field, tb_strerror(rc));
    }
    if (acl && tb_event_set_required_acl(*out, json_string_value(acl)) != TB_OK) {
        tb_event_free(*out);
        return fail(e, 500, "internal", NULL, "out of memory");
    }
    return 0;
}

json_t *tbd_api_load_body(const char *body, size_t len, api_err *e)
{
    json_error_t je;
    if (!body || len == 0) {
        fail(e, 400, "invalid_json", NULL, "empty body");
        return NULL;
    }
    json_t *root = json_loadb(body, len, 0, &je);
    if (!root) {
        char msg[200];
        snprintf(msg, sizeof(msg), "invalid JSON: %s (line %d)", je.text, je.line);
        fail(e, 400, "invalid_json", NULL, msg);
    }
    return root;
}

int tbd_api_build_events(const tbd_api_ctx *ctx, const json_t *root, tb_event ***out,
                         size_t *count, api_err *e, long *index)
{
    bool batch = json_is_array(root);
    size_t n = batch ? json_array_size(root) : 1;
    tb_event **evs = calloc(n ? n : 1, sizeof(*evs));
    *out = NULL;
    *count = 0;
    *index = -1;
    if (!evs)
        return fail(e, 500, "internal", NULL, "out of memory");
    for (size_t built = 0; built < n; built++) {
        if (build_event(ctx, batch ? json_array_get(root, built) : root, &evs[built], e) < 0) {
            *index = batch ? (long)built : -1;
            tbd_api_free_events(evs, built);
            return -1;
        }
    }
    *out = evs;
    *count = n;
    return 0;
}

void tbd_api_free_events(tb_event **evs, size_t n)
{
    for (size_t i = 0; evs && i < n; i++)
        tb_event_free(evs[i]);
    free(evs);
}

/* `ts` holds the request's timestamp: one for all its events. */
static tbd_api_ctx api_ctx(tbd_conn *c, const tbd_token *tok, char ts[TB_TIMESTAMP_SIZE])
{
    tb_timestamp_now(ts);
    tbd_api_ctx ctx = {
        .tok = tok, .master_tenant = tbd_server_master_tenant(c->w->srv),
        .stack_uuid = c->w->srv->cfg->uuid, .catalogue = c->w->srv->catalogue,
        .timestamp = ts,
    };
    return ctx;
}

/* 202 when the bus took all n events, else 503 saying how many it took. */
static void reply_published(tbd_conn *c, size_t sent, size_t n)
{
    TBD_STAT_ADD(c->w, TBD_ST_EVENTS_PUBLISHED, sent);
    if (sent < n)
        tbd_http_respond_json(c, 503, json_pack("{s:s,s:I}", "error", "bus_unavailable",
                                                "published", (json_int_t)sent));
    else
        tbd_http_respond_json(c, 202, json_pack("{s:I}", "published", (json_int_t)sent));
}

/* Publishes n codec events in one call to the bus. */
static void publish_wire(tbd_conn *c, const tb_wire_event *const *ev, const tb_wire_event *arr,
                         size_t n)
{
    tbd_bus *bus = c->w->srv->bus;
    tbd_pub small[16] = {{0}};
    tbd_pub *p = n <= 16 ? small : calloc(n, sizeof(*p));
    if (!p) {
        reply_published(c, 0, n);
        return;
    }
    for (size_t i = 0; i < n; i++)
        p[i] = (tbd_pub){.ev = ev ? ev[i] : &arr[i]};
    reply_published(c, bus->ops->publish(bus, p, n), n);
    if (p != small)
        free(p);
}

static void publish_events(tbd_conn *c, const tbd_token *tok, const tbd_http_req *req)
{
    api_err e = {0};
    char ts[TB_TIMESTAMP_SIZE];
    tbd_api_ctx ctx = api_ctx(c, tok, ts);
    tbd_api_batch batch;
    if (tbd_api_fast_build(&ctx, req->body, req->body_len, &batch) == 0) {
        publish_wire(c, NULL, batch.ev, batch.n);
        tbd_api_batch_free(&batch);
        return;
    }
    json_t *root = tbd_api_load_body(req->body, req->body_len, &e);
    if (!root) {
        reply_err(c, &e, -1);
        return;
    }
    tb_event **evs;
    size_t n;
    long bad;
    if (tbd_api_build_events(&ctx, root, &evs, &n, &e, &bad) < 0) {
        reply_err(c, &e, bad);
        json_decref(root);
        return;
    }
    const tb_wire_event **w = calloc(n ? n : 1, sizeof(*w));
    if (w) {
        for (size_t i = 0; i < n; i++)
            w[i] = tb_event_wire(evs[i]);
        publish_wire(c, w, NULL, n);
    } else {
        reply_published(c, 0, n);
    }
    free(w);
    tbd_api_free_events(evs, n);
    json_decref(root);
}

int tbd_api_raw_allowed(const tbd_api_ctx *ctx, api_err *e)
{
    if (!is_master(ctx) || !tbd_token_grants(ctx->tok, PUBLISH_RAW_ACL))
        return fail(e, 403, "forbidden", NULL, "needs a master-tenant token granting " PUBLISH_RAW_ACL);
    return 0;
}

int tbd_api_check_raw(const json_t *root, api_err *e, long *index)
{
    bool batch = json_is_array(root);
    size_t n = batch ? json_array_size(root) : 1;
    *index = -1;
    for (size_t i = 0; i < n; i++) {
        const json_t *item = batch ? json_array_get(root, i) : root;
        const char *field = !json_is_object(item) ? NULL
                          : !json_is_object(json_object_get(item, "headers")) ? "headers"
                          : !json_is_object(json_object_get(item, "body")) ? "body" : "";
        if (!field || *field) {
            *index = batch ? (long)i : -1;
            return fail(e, 400, "invalid_event", field, "each item needs a headers object and a body object");
        }
    }
    return 0;
}

static void publish_raw(tbd_conn *c, const tbd_token *tok, const tbd_http_req *req)
{
    api_err e = {0};
    char ts[TB_TIMESTAMP_SIZE];
    tbd_api_ctx ctx = api_ctx(c, tok, ts);
    long bad;
    if (tbd_api_raw_allowed(&ctx, &e) < 0) {
        reply_err(c, &e, -1);
        return;
    }
    json_t *root = tbd_api_load_body(req->body, req->body_len, &e);
    if (!root) {
        reply_err(c, &e, -1);
        return;
    }
    if (tbd_api_check_raw(root, &e, &bad) < 0) {
        reply_err(c, &e, bad);
        json_decref(root);
        return;
    }
    bool batch = json_is_array(root);
    size_t n = batch ? json_array_size(root) : 1;
    tbd_bus *bus = c->w->srv->bus;
    tbd_pub *p = calloc(n ? n : 1, sizeof(*p));
    if (!p) {
        reply_published(c, 0, n);
        json_decref(root);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *item = batch ? json_array_get(root, i) : root;
        const json_t *h = json_object_get(item, "headers");
        const json_t *rk = json_object_get(h, "routing_key");
        p[i] = (tbd_pub){.raw_headers = h, .raw_body = json_object_get(item, "body"),
                         .raw_routing_key = json_is_string(rk) ? json_string_value(rk) : ""};
    }
    reply_published(c, bus->ops->publish(bus, p, n), n);
    free(p);
    json_decref(root);
}

static void on_api_auth(void *arg, int status, tbd_token *tok)
{
    tbd_conn *c = arg;
    if (c->closed || !c->http) {
        if (tok)
            tbd_token_unref(tok);
        tbd_conn_unref(c);
        return;
    }
    const tbd_http_req *req = tbd_http_current(c);
    api_err e = {0};
    if (status != TBD_AUTH_OK) {
        fail(&e, status == TBD_AUTH_UNAVAILABLE ? 503 : 401,
             status == TBD_AUTH_UNAVAILABLE ? "auth_unavailable" : "unauthorized", NULL,
             status == TBD_AUTH_UNAVAILABLE ? "the auth server cannot be reached"
                                            : "unknown or expired token");
        reply_err(c, &e, -1);
    } else if (strcmp(req->path, "/api/events/raw") == 0) {
        publish_raw(c, tok, req);
    } else {
        publish_events(c, tok, req);
    }
    if (tok)
        tbd_token_unref(tok);
    tbd_conn_unref(c);
}

void tbd_api_handle(tbd_conn *c, const tbd_http_req *req)
{
    tbd_server *srv = c->w->srv;
    bool publish = strcmp(req->path, "/api/events") == 0 || strcmp(req->path, "/api/events/raw") == 0;
    bool status = strcmp(req->path, "/status") == 0;
    bool metrics = strcmp(req->path, "/metrics") == 0;
    api_err e = {0};
    int st;
    const char *ctype, *body;
    size_t len;
    if (req->method == HTTP_GET && tbd_catalogue_resource(srv->catalogue, req->path, &st, &ctype, &body, &len)) {
        tbd_http_respond(c, st, ctype, body, len);
        return;
    }
    if (!publish && !status && !metrics && tbd_console_path(req->path) && tbd_console_handle(c, req))
        return;
    if (!publish && !status && !metrics) {
        fail(&e, 404, "not_found", NULL, "no such resource");
        reply_err(c, &e, -1);
        return;
    }
    if ((publish && req->method != HTTP_POST) || (!publish && req->method != HTTP_GET)) {
        fail(&e, 405, "method_not_allowed", NULL, publish ? "use POST" : "use GET");
        reply_err(c, &e, -1);
        return;
    }
    if (status) {
        tbd_http_respond_json(c, 200, tbd_status_json(srv));
        return;
    }
    if (metrics) {
        char *text = tbd_metrics_text(srv);
        if (text)
            tbd_http_respond(c, 200, "text/plain; version=0.0.4", text, strlen(text));
        else
            tbd_conn_abort(c);
        free(text);
        return;
    }
    const char *token = req->hdr[H_AUTH_TOKEN];
    if (!token || !*token) {
        fail(&e, 401, "unauthorized", NULL, "missing X-Auth-Token header");
        reply_err(c, &e, -1);
        return;
    }
    c->refs++;
    srv->auth->ops->lookup(srv->auth, c->w, token, on_api_auth, c);
}
