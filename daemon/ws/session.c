/* The WebSocket phase: wazo-websocketd protocol v1/v2 (DESIGN.md §3).
 *
 * Messages of a session are handled strictly in order: while a token lookup
 * is pending (initial auth or renewal), input processing is paused, so a
 * later command never overtakes an earlier one, and `start`'s reply is
 * queued before any event can be (events are only queued once the session is
 * TBD_SESS_STARTED). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ws/session.h"
#include "core/log.h"
#include "core/server.h"
#include "core/stats.h"
#include "net/conn.h"
#include "route/route.h"
#include "ws/expiry.h"
#include "ws/wsproto.h"

static double wall_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void send_text(tbd_conn *c, const char *s)
{
    tbd_conn_send(c, tbd_buf_frame(TB_WS_OP_TEXT, s, strlen(s)));
}

static void send_ack(tbd_conn *c, const char *op)
{
    char buf[64];
    snprintf(buf, sizeof(buf), "{\"op\":\"%s\",\"code\":0,\"data\":null}", op);
    send_text(c, buf);
}

static void schedule_check(tbd_conn *c, bool soon_if_expired)
{
    const tbd_config *cfg = c->w->srv->cfg;
    double d = tbd_check_delay(cfg->auth_check_strategy, cfg->auth_check_static_interval,
                               c->tok->expires_at, wall_now(), soon_if_expired);
    c->next_check = tbd_now_ms(c->w) + (uint64_t)(d * 1000.0 + 0.5);
}

/* Installs a (new) token: re-indexes, since a renewal may change the
 * user, tenant or role the session is routed by. Takes the ref. */
static void set_token(tbd_conn *c, tbd_token *tok)
{
    tbd_route_del(c->w, c);
    if (c->tok)
        tbd_token_unref(c->tok);
    c->tok = tok;
    tbd_route_add(c->w, c);
    schedule_check(c, true);
}

static bool token_acceptable(int status, tbd_token *tok)
{
    return status == TBD_AUTH_OK && tok && tbd_token_grants(tok, "websocketd");
}

static const char *or_dash(const char *s)
{
    return s ? s : "-";
}

/* An auth answer for a session that has closed meanwhile: drop it and the
 * ref its request held. */
static bool stale_answer(tbd_conn *c, tbd_token *tok)
{
    if (!c->closed && c->state == TBD_CONN_WS)
        return false;
    if (tok)
        tbd_token_unref(tok);
    tbd_conn_unref(c);
    return true;
}

/* The session is authenticated and the bus is up: index it, say init. */
static void session_open(tbd_conn *c, tbd_token *tok)
{
    c->sess = TBD_SESS_OPEN;
    set_token(c, tok);
    char init[64];
    snprintf(init, sizeof(init), "{\"op\":\"init\",\"code\":0,\"data\":{\"version\":%d}}", c->version);
    send_text(c, init);
    TBD_STAT_INC(c->w, TBD_ST_SESSIONS_OPENED);
    atomic_fetch_add_explicit(&c->w->stats.sessions, 1, memory_order_relaxed);
    tbd_log_info("session start user=%s tenant=%s session=%s purpose=%s admin=%s version=%d worker=%u peer=%s",
             or_dash(tok->user_uuid), or_dash(tok->tenant_uuid), or_dash(tok->session_uuid),
             or_dash(tok->purpose), tok->admin ? "true" : "false", c->version, c->w->id, c->peer);
}

/* ---- sessions waiting on the bus ----
 * A session waits, paused and holding a ref, (a) after authentication,
 * while a bus connection attempt is in progress (DESIGN.md §5): the entry
 * holds its token, c->deadline bounds the wait; (b) after a subscribe or
 * start whose names are not yet bound on the node's queue (DESIGN.md §3: a
 * reply is a promise): the entry holds the reply to send. Input stays
 * paused meanwhile, so later commands keep their order. The bus wakes the
 * workers on every change (tbd_bus_host.state_changed); the sweep re-checks too,
 * for deadlines. */
enum { ACK_NONE = 0, ACK_SUBSCRIBE, ACK_START };

struct tbd_waiter {
    tbd_conn *c;
    tbd_token *tok;        /* (a): the authenticated token; NULL for (b) */
    uint8_t ack;           /* (b): ACK_* */
};

static int waiter_push(tbd_worker *w, tbd_conn *c, tbd_token *tok, uint8_t ack)
{
    if (w->n_waiters == w->cap_waiters) {
        size_t ncap = w->cap_waiters ? 2 * w->cap_waiters : 16;
        struct tbd_waiter *n = realloc(w->waiters, ncap * sizeof(*n));
        if (!n)
            return -1;
        w->waiters = n;
        w->cap_waiters = ncap;
    }
    w->waiters[w->n_waiters++] = (struct tbd_waiter){c, tok, ack};
    c->refs++;
    tbd_conn_pause(c);
    return 0;
}

static bool subs_bound(tbd_conn *c)
{
    tbd_server *srv = c->w->srv;
    if (c->star && !tbd_server_sub_bound(srv, "*"))
        return false;
    for (uint16_t i = 0; i < c->n_subs; i++)
        if (!tbd_server_sub_bound(srv, c->subs[i]))
            return false;
    return true;
}

static void do_start(tbd_conn *c)
{
    /* DESIGN.md §3: events before start are dropped, not queued; an
     * event already dispatched but not yet routed here counts as before. */
    if (c->sess != TBD_SESS_STARTED)
        c->start_seq = atomic_load(&c->w->srv->dispatched);
    c->sess = TBD_SESS_STARTED;
    send_ack(c, "start");
}

/* An authenticated session may open once the bus is up and the master
 * tenant is known (roles depend on it). While either is still coming (a bus
 * connection attempt in progress; wazo-auth's first service login at
 * start-up), it waits, bounded by tenbus.bus_wait_timeout. */
typedef enum { OPEN_NOW, OPEN_WAIT, OPEN_REFUSE } open_verdict;

static bool master_pending(tbd_server *srv)
{
    return srv->auth->ops->master_pending && srv->auth->ops->master_pending(srv->auth);
}

static open_verdict can_open(tbd_conn *c, uint64_t now, bool waiting)
{
    tbd_server *srv = c->w->srv;
    tbd_bus_state st = tbd_server_bus_state(srv);
    bool master = tbd_server_master_tenant(srv) != NULL;
    if (st == TBD_BUS_UP && master)
        return OPEN_NOW;
    if (st == TBD_BUS_DOWN || (!master && !master_pending(srv)) || !srv->cfg->bus_wait_timeout ||
        (waiting && now >= c->deadline))
        return OPEN_REFUSE;
    return OPEN_WAIT;
}

/* Refuses an authenticated session that could not open; takes tok. */
static void refuse_open(tbd_conn *c, tbd_token *tok)
{
    tbd_server *srv = c->w->srv;
    tbd_bus_state st = tbd_server_bus_state(srv);
    tbd_token_unref(tok);
    if (!tbd_server_master_tenant(srv)) {
        tbd_log_warn("refused peer=%s: master tenant not known yet", c->peer);
        tbd_conn_close_ws(c, 4002, "authentication failed");
        return;
    }
    tbd_log_info("refused peer=%s: %s", c->peer, st == TBD_BUS_CONNECTING
             ? "bus connection attempt still in progress (tenbus.bus_wait_timeout)"
             : "bus connection attempt failed");
    tbd_conn_close_ws(c, TB_WS_CLOSE_INTERNAL, "bus connection error");
}

/* 1: done with e (resume), 0: keep waiting, -1: refused (closed). */
static int waiter_check(struct tbd_waiter *e, uint64_t now)
{
    tbd_conn *c = e->c;
    if (e->tok) {
        open_verdict v = can_open(c, now, true);
        if (v == OPEN_WAIT)
            return 0;
        tbd_token *tok = e->tok;
        e->tok = NULL;
        if (v == OPEN_REFUSE) {
            refuse_open(c, tok);
            return -1;
        }
        session_open(c, tok);
        return 1;
    }
    tbd_bus_state st = tbd_server_bus_state(c->w->srv);
    if (st != TBD_BUS_UP) {
        tbd_conn_close_ws(c, TB_WS_CLOSE_INTERNAL, "bus connection lost");
        return -1;
    }
    if (!subs_bound(c))
        return 0;
    if (e->ack == ACK_SUBSCRIBE)
        send_ack(c, "subscribe");
    else if (e->ack == ACK_START)
        do_start(c);
    return 1;
}

void tbd_session_wake_waiters(tbd_worker *w)
{
    if (!w->n_waiters)
        return;
    /* Resuming a session may make it wait again (its next command): it
     * then joins the fresh array, not the one walked here. */
    struct tbd_waiter *arr = w->waiters;
    size_t n = w->n_waiters;
    w->waiters = NULL;
    w->n_waiters = w->cap_waiters = 0;
    uint64_t now = tbd_now_ms(w);
    for (size_t i = 0; i < n; i++) {
        struct tbd_waiter *e = &arr[i];
        tbd_conn *c = e->c;
        int r = -1;
        if (!c->closed && c->state == TBD_CONN_WS && !atomic_load(&w->stopping))
            r = waiter_check(e, now);
        if (r == 0) {
            /* Keep: re-push without taking another ref or pausing again. */
            if (waiter_push(w, c, e->tok, e->ack) == 0) {
                c->refs--;
                continue;
            }
            tbd_log_error("out of memory: session closed peer=%s", c->peer);
            tbd_conn_close_ws(c, TB_WS_CLOSE_INTERNAL, "");
        }
        if (e->tok)
            tbd_token_unref(e->tok);
        if (r == 1)
            tbd_conn_resume(c);
        tbd_conn_unref(c);
    }
    free(arr);
}

void tbd_session_free_waiters(tbd_worker *w)
{
    for (size_t i = 0; i < w->n_waiters; i++) {
        if (w->waiters[i].tok)
            tbd_token_unref(w->waiters[i].tok);
        tbd_conn_unref(w->waiters[i].c);
    }
    free(w->waiters);
    w->waiters = NULL;
    w->n_waiters = w->cap_waiters = 0;
}

static void on_auth_initial(void *arg, int status, tbd_token *tok)
{
    tbd_conn *c = arg;
    tbd_server *srv = c->w->srv;
    if (stale_answer(c, tok))
        return;
    open_verdict v;
    if (!token_acceptable(status, tok)) {
        tbd_log_info("authentication failed peer=%s: %s", c->peer,
                 status == TBD_AUTH_UNAVAILABLE ? "auth backend unavailable"
                 : status == TBD_AUTH_OK ? "token lacks acl websocketd" : "invalid or expired token");
        if (tok)
            tbd_token_unref(tok);
        tbd_conn_close_ws(c, 4002, "authentication failed");
    } else if ((v = can_open(c, tbd_now_ms(c->w), false)) == OPEN_NOW) {
        session_open(c, tok);
    } else if (v == OPEN_WAIT) {
        /* Stays paused; the waiter's ref and token carry it on. */
        c->deadline = tbd_now_ms(c->w) + (uint64_t)srv->cfg->bus_wait_timeout * 1000;
        c->sess = TBD_SESS_WAITING_BUS;
        if (waiter_push(c->w, c, tok, ACK_NONE) == 0) {
            tbd_log_debug("waiting for the bus connection attempt or the master tenant peer=%s", c->peer);
            tbd_conn_unref(c);
            return;
        }
        tbd_token_unref(tok);
        tbd_conn_close_ws(c, TB_WS_CLOSE_INTERNAL, "");
    } else {
        refuse_open(c, tok);
    }
    tbd_conn_resume(c);
    tbd_conn_unref(c);
}

void tbd_session_begin(tbd_conn *c, const char *token, const char *version)
{
    tbd_server *srv = c->w->srv;
    tb__ws_limits lim = {
        .max_frame = srv->cfg->limits.max_frame_size,
        .max_message = srv->cfg->limits.max_message_size,
    };
    tb__ws_reader_init(&c->rd, true, &lim);
    c->opened_at = tbd_now_ms(c->w);
    int v = tbd_wsp_parse_version(version);
    if (v < 0) {
        tbd_log_info("refused peer=%s: unsupported version", c->peer);
        tbd_conn_close_ws(c, 4004, "");
        return;
    }
    c->version = (uint8_t)v;
    if (!token || !*token) {
        tbd_conn_close_ws(c, 4001, "no token");
        return;
    }
    /* A master tenant still being learned is waited for after
     * authentication (can_open). */
    if (!tbd_server_master_tenant(srv) && !master_pending(srv)) {
        tbd_log_warn("refused peer=%s: master tenant not known yet", c->peer);
        tbd_conn_close_ws(c, 4002, "authentication failed");
        return;
    }
    tbd_conn_pause(c);
    c->refs++;
    c->sess = TBD_SESS_AUTHENTICATING;
    srv->auth->ops->lookup(srv->auth, c->w, token, on_auth_initial, c);
}

static void on_auth_renew(void *arg, int status, tbd_token *tok)
{
    tbd_conn *c = arg;
    c->renewing = false;
    if (stale_answer(c, tok))
        return;
    if (!token_acceptable(status, tok)) {
        tbd_log_info("token renewal refused user=%s tenant=%s", or_dash(c->tok->user_uuid),
                 or_dash(c->tok->tenant_uuid));
        if (tok)
            tbd_token_unref(tok);
        tbd_conn_close_ws(c, 4002, "authentication failed");
    } else {
        tbd_log_debug("token renewed user=%s tenant=%s -> user=%s tenant=%s", or_dash(c->tok->user_uuid),
                  or_dash(c->tok->tenant_uuid), or_dash(tok->user_uuid), or_dash(tok->tenant_uuid));
        set_token(c, tok);
        if (c->version == 2 || c->sess != TBD_SESS_STARTED)
            send_ack(c, "token");
    }
    tbd_conn_resume(c);
    tbd_conn_unref(c);
}

static void on_auth_check(void *arg, int status, tbd_token *tok)
{
    tbd_conn *c = arg;
    c->checking = false;
    if (stale_answer(c, tok))
        return;
    if (status != TBD_AUTH_OK) {
        tbd_log_info("token no longer valid user=%s tenant=%s: %s", or_dash(c->tok->user_uuid),
                 or_dash(c->tok->tenant_uuid),
                 status == TBD_AUTH_UNAVAILABLE ? "auth backend unavailable" : "invalid or expired");
        tbd_conn_close_ws(c, 4003, "authentication expired");
    } else if (!tok) {
        schedule_check(c, false); /* still valid; the backend had nothing newer */
    } else if (strcmp(tok->token, c->tok->token) != 0) {
        /* Renewed while this check was in flight: the check is moot, the
         * renewal's own schedule stands. */
        tbd_token_unref(tok);
        if (!c->next_check)
            schedule_check(c, false);
    } else {
        set_token(c, tok);
    }
    tbd_conn_unref(c);
}

/* Called by the worker's sweep when c->next_check is due. */
void tbd_session_check_token(tbd_conn *c)
{
    if (c->checking || !c->tok)
        return;
    tbd_server *srv = c->w->srv;
    c->checking = true;
    c->next_check = 0;
    c->refs++;
    srv->auth->ops->check(srv->auth, c->w, c->tok->token, on_auth_check, c);
}

/* Takes name. 1: in place, 0: its binding is pending, -1: closed. */
static int subscribe(tbd_conn *c, char *name)
{
    tbd_server *srv = c->w->srv;
    if (strcmp(name, "*") == 0) {
        free(name);
        if (!c->star && tbd_server_sub_add(srv, "*") < 0) {
            tbd_conn_close_ws(c, TB_WS_CLOSE_INTERNAL, "");
            return -1;
        }
        c->star = true;
        return tbd_server_sub_bound(srv, "*");
    }
    for (uint16_t i = 0; i < c->n_subs; i++)
        if (strcmp(c->subs[i], name) == 0) {
            free(name);
            return tbd_server_sub_bound(srv, c->subs[i]);
        }
    if (c->n_subs >= srv->cfg->limits.max_subscriptions) {
        free(name);
        tbd_log_info("too many subscriptions user=%s tenant=%s limit=%u", or_dash(c->tok->user_uuid),
                 or_dash(c->tok->tenant_uuid), srv->cfg->limits.max_subscriptions);
        tbd_conn_close_ws(c, TB_WS_CLOSE_POLICY, "too many subscriptions");
        return -1;
    }
    char **n = realloc(c->subs, (c->n_subs + 1u) * sizeof(*n));
    if (!n || tbd_server_sub_add(srv, name) < 0) {
        if (n)
            c->subs = n;
        free(name);
        tbd_conn_close_ws(c, TB_WS_CLOSE_INTERNAL, "");
        return -1;
    }
    c->subs = n;
    c->subs[c->n_subs++] = name;
    return tbd_server_sub_bound(srv, name);
}

/* The reply (if any) once every subscribed name is bound (DESIGN.md §3). */
static void reply_when_bound(tbd_conn *c, uint8_t ack)
{
    if (waiter_push(c->w, c, NULL, ack) < 0)
        tbd_conn_close_ws(c, TB_WS_CLOSE_INTERNAL, "");
}

static void handle_text(tbd_conn *c, const uint8_t *text, size_t len)
{
    tbd_wsp_cmd cmd;
    if (tbd_wsp_decode((const char *)text, len, &cmd) < 0) {
        tbd_log_debug("protocol error user=%s: bad command", or_dash(c->tok->user_uuid));
        tbd_conn_close_ws(c, 4004, "");
        return;
    }
    switch (cmd.op) {
    case TBD_WSP_SUBSCRIBE: {
        bool ack = c->version == 2 || c->sess != TBD_SESS_STARTED;
        int r = subscribe(c, cmd.arg);
        cmd.arg = NULL;
        if (r > 0 && ack)
            send_ack(c, "subscribe");
        else if (r == 0)
            reply_when_bound(c, ack ? ACK_SUBSCRIBE : ACK_NONE);
        break;
    }
    case TBD_WSP_START:
        if (subs_bound(c))
            do_start(c);
        else
            reply_when_bound(c, ACK_START);
        break;
    case TBD_WSP_TOKEN:
        tbd_conn_pause(c);
        c->refs++;
        c->renewing = true;
        c->w->srv->auth->ops->lookup(c->w->srv->auth, c->w, cmd.arg, on_auth_renew, c);
        break;
    case TBD_WSP_PING:
        if (c->version == 2) {
            json_t *j = json_pack("{s:s,s:i,s:{s:s}}", "op", "pong", "code", 0, "data", "payload", cmd.arg);
            char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
            json_decref(j);
            if (s)
                send_text(c, s);
            free(s);
        }
        break;
    }
    tbd_wsp_cmd_clear(&cmd);
}

ssize_t tbd_session_feed(tbd_conn *c, uint8_t *data, size_t len)
{
    tb__ws_msg m;
    size_t used = 0;
    int r = tb__ws_reader_next(&c->rd, data, len, &used, &m);
    if (c->draining)
        return (ssize_t)len;
    if (r < 0) {
        if (c->state == TBD_CONN_CLOSING) {
            tbd_conn_abort(c);
            return -1;
        }
        /* The peer may still be sending the rest of what we refused (a
         * message over the limit): read and discard it rather than close
         * with unread input, which would reset the connection before the
         * peer reads our close frame (conn.c shuts the write side down
         * once the close frame is out, and closes on the peer's EOF). */
        c->draining = true;
        tbd_log_info("websocket error user=%s peer=%s: close %d", c->tok ? or_dash(c->tok->user_uuid) : "-",
                 c->peer, -r);
        tbd_conn_close_ws(c, (uint16_t)-r, "");
        return (ssize_t)len; /* the rest of the input is not worth parsing */
    }
    if (r == 0)
        return (ssize_t)used;
    if (c->state == TBD_CONN_CLOSING) {
        if (m.opcode == TB_WS_OP_CLOSE) {
            c->peer_closed = true;
            if (!c->writing && c->q_len == 0)
                tbd_conn_abort(c);
        }
        return c->closed ? -1 : (ssize_t)used;
    }
    switch (m.opcode) {
    case TB_WS_OP_TEXT:
        handle_text(c, m.data, m.len);
        break;
    case TB_WS_OP_BINARY:
        tbd_conn_close_ws(c, 4004, "");
        break;
    case TB_WS_OP_PING:
        tbd_conn_send(c, tbd_buf_frame(TB_WS_OP_PONG, m.data, m.len));
        break;
    case TB_WS_OP_PONG:
        break;
    case TB_WS_OP_CLOSE:
        /* RFC 6455 §5.5.1: echo the status code, then close the TCP connection. */
        c->peer_closed = true;
        tbd_conn_close_ws(c, m.close_code == TB_WS_CLOSE_NO_STATUS ? TB_WS_CLOSE_NORMAL : m.close_code,
                          "");
        break;
    }
    return c->closed ? -1 : (ssize_t)used;
}

void tbd_session_end(tbd_conn *c)
{
    if (c->sess == TBD_SESS_ENDED)
        return;
    c->sess = TBD_SESS_ENDED;
    tbd_route_del(c->w, c);
    if (c->star)
        tbd_server_sub_del(c->w->srv, "*");
    for (uint16_t i = 0; i < c->n_subs; i++)
        tbd_server_sub_del(c->w->srv, c->subs[i]);
    if (!c->tok)
        return; /* never authenticated: the refusal was logged already */
    atomic_fetch_sub_explicit(&c->w->stats.sessions, 1, memory_order_relaxed);
    uint64_t ms = tbd_now_ms(c->w) - c->opened_at;
    tbd_log_info("session end user=%s tenant=%s session=%s code=%u reason=\"%s\" duration=%.1fs delivered=%llu",
             or_dash(c->tok->user_uuid), or_dash(c->tok->tenant_uuid), or_dash(c->tok->session_uuid),
             c->close_code, c->close_code == 1006 ? "connection lost" : or_dash(c->close_reason),
             ms / 1000.0, (unsigned long long)c->n_delivered);
}

/* ---- the phase's operations (net/conn.h) ---- */

static void ws_sweep(tbd_conn *c, uint64_t now)
{
    uint64_t ping_timeout = c->w->ping_timeout_ms;
    /* Any bytes count as an answer: a client busy sending is alive, and one
     * that never answers pings is not (RFC 6455 §5.5.2). */
    if (c->tok && !c->paused && ping_timeout && now - c->last_seen >= ping_timeout) {
        tbd_log_info("ping timeout user=%s peer=%s idle_ms=%llu", or_dash(c->tok->user_uuid), c->peer,
                 (unsigned long long)(now - c->last_seen));
        tbd_conn_close_ws(c, TB_WS_CLOSE_INTERNAL, "ping timeout");
        return;
    }
    if (c->next_check && now >= c->next_check && !c->renewing)
        tbd_session_check_token(c);
}

static void ws_stop(tbd_conn *c)
{
    tbd_conn_close_ws(c, TB_WS_CLOSE_GOING_AWAY, "server shutdown");
}

const tbd_conn_phase tbd_ws_phase = {
    .name = "websocket", .feed = tbd_session_feed, .sweep = ws_sweep, .stop = ws_stop,
    .leave = tbd_session_end,
};

/* Our close frame is queued: read until the peer's, or the deadline. The
 * worker's stop closes these once the frame is written. */
static void closing_sweep(tbd_conn *c, uint64_t now)
{
    if (now >= c->deadline)
        tbd_conn_abort(c);
}

const tbd_conn_phase tbd_ws_closing_phase = {
    .name = "closing", .feed = tbd_session_feed, .sweep = closing_sweep,
};
