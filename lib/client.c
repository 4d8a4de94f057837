/* The service-side client over RabbitMQ (include/tenbus/client.h).
 *
 * Two AMQP connections, as wazo-bus has: one to publish (channel 1, in
 * confirm mode when asked), one to consume (channel 1: the client's queue,
 * its bindings, basic.consume). Each is opened on first use and dropped on
 * any error: after a channel or connection exception AMQP leaves nothing
 * worth saving, and re-opening re-declares everything. All I/O is
 * synchronous, bounded by the configured timeout, on the caller's thread. */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "wsx.h"
#include "tenbus/catalogue.h" /* tb_level_name */
#include "tenbus/client.h"
#include "tenbus/hdrmatch.h"
#include "tenbus/wire_amqp.h"

#define CHANNEL 1
#define FRAME_MAX 131072
#define DEFAULT_TIMEOUT_MS 10000
#define DEFAULT_PREFETCH 256
#define BACKOFF_MAX_MS 32000

typedef struct sub {
    unsigned id;
    json_t *args;        /* binding arguments: x-match, name, filter */
    char *key;           /* canonical dump of args: identical filters share a binding */
    tb_message_cb cb;
    void *arg;
    bool dead;           /* unsubscribed while a dispatch was running */
} sub;

/* One AMQP connection; conn == NULL while down. */
typedef struct amqp_link {
    amqp_connection_state_t conn;
    const char *role;    /* "publisher" / "consumer", for messages and the broker's UI */
} amqp_link;

struct tb_client {
    /* configuration (owned copies) */
    char *host, *user, *pass, *vhost, *exchange, *exchange_type, *queue_cfg;
    int port;
    bool auto_ack, confirms;
    int timeout_ms;
    unsigned prefetch;

    amqp_link pub, con;
    uint64_t pub_seq;       /* delivery tag of the last publish on this connection */
    tb_wire_text body;      /* the body being published, reused from one event to the next */
    char *queue;            /* the consumer queue's actual name (server-named or configured) */

    sub **subs;
    size_t n_subs, cap_subs;
    unsigned next_id;
    int dispatching;        /* > 0 inside callbacks: unsubscribe only marks */

    int64_t retry_at_ms;    /* consumer reconnection due (monotonic ms), or -1 */
    int backoff_ms;

    /* ws:// (a tenbusd node): HTTP API to publish, a WebSocket session to
     * consume. `path` is the URL's path ("" or "/prefix"), raw. */
    bool ws;
    char *path, *token;
    tb__ws *wsc;
    bool ws_started;
    struct pending *pend_head, **pend_tail; /* events read while waiting for a reply */

    tb_client_stats st;
    char err[512];
};

struct pending {
    struct pending *next;
    size_t len;
    char text[];
};

/* ws:// transport, at the end of this file. */
static void ws_drop(tb_client *c);
static tb_err ws_publish(tb_client *c, const tb_event *const *evs, size_t n);
static tb_err ws_session_open(tb_client *c);
static tb_err ws_subscribe_name(tb_client *c, const char *name);
static tb_err ws_drain(tb_client *c, int wait_ms);

/* ---- small helpers ------------------------------------------------------ */

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static tb_err fail(tb_client *c, tb_err rc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static tb_err fail(tb_client *c, tb_err rc, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(c->err, sizeof c->err, fmt, ap);
    va_end(ap);
    return rc;
}

static amqp_bytes_t cstr(const char *s)
{
    return amqp_cstring_bytes(s ? s : "");
}

static struct timeval tv_of(int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    return tv;
}

/* ---- URL ---------------------------------------------------------------- */

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* A percent-decoded copy of s[0..n), or NULL (bad escape, NUL, ENOMEM). */
static char *pct_decode(const char *s, size_t n, bool *nomem)
{
    char *out = malloc(n + 1), *o = out;

    if (!out) {
        *nomem = true;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '%') {
            *o++ = s[i];
            continue;
        }
        int a = i + 1 < n ? hexval((unsigned char)s[i + 1]) : -1;
        int b = i + 2 < n ? hexval((unsigned char)s[i + 2]) : -1;
        if (a < 0 || b < 0 || (a == 0 && b == 0)) {
            free(out);
            return NULL;
        }
        *o++ = (char)(a * 16 + b);
        i += 2;
    }
    *o = '\0';
    return out;
}

/* amqp://[user[:pass]@]host[:port][/vhost] */
static tb_err parse_url(tb_client *c, const char *url)
{
    const char *p, *at, *slash, *hostp, *colon, *end;
    bool nomem = false;

    if (strncmp(url, "amqp://", 7) != 0) {
        if (strncmp(url, "amqps://", 8) == 0)
            return fail(c, TB_EURL, "amqps:// (TLS) is not supported; use amqp://");
        if (!strncmp(url, "wss://", 6))
            return fail(c, TB_EURL, "wss:// (TLS) is not supported; use ws:// or amqp://");
        if (strncmp(url, "ws://", 5) != 0)
            return fail(c, TB_EURL, "URL must start with amqp:// or ws://: %s", url);
        c->ws = true;
    }
    p = url + (c->ws ? 5 : 7);
    end = p + strcspn(p, "?#");
    if (*end)
        return fail(c, TB_EURL, "URL query and fragment are not supported: %s", url);
    slash = memchr(p, '/', (size_t)(end - p));
    if (!slash)
        slash = end;
    at = NULL;
    for (const char *q = p; q < slash; q++)
        if (*q == '@')
            at = q;
    c->user = c->pass = NULL;
    if (at && c->ws)
        return fail(c, TB_EURL, "ws:// URLs take no user: pass the token in the configuration");
    if (at) {
        const char *sep = memchr(p, ':', (size_t)(at - p));
        c->user = pct_decode(p, (size_t)((sep ? sep : at) - p), &nomem);
        c->pass = sep ? pct_decode(sep + 1, (size_t)(at - sep - 1), &nomem) : strdup("guest");
        if (!c->user || !c->pass)
            return nomem ? TB_ENOMEM : fail(c, TB_EURL, "bad percent-escape in URL user or password");
        hostp = at + 1;
    } else {
        if (!(c->user = strdup("guest")) || !(c->pass = strdup("guest")))
            return TB_ENOMEM;
        hostp = p;
    }
    if (*hostp == '[') {
        const char *rb = memchr(hostp, ']', (size_t)(slash - hostp));
        if (!rb)
            return fail(c, TB_EURL, "unbalanced '[' in URL host");
        c->host = strndup(hostp + 1, (size_t)(rb - hostp - 1));
        colon = rb + 1 < slash && rb[1] == ':' ? rb + 1 : NULL;
        if (rb + 1 < slash && !colon)
            return fail(c, TB_EURL, "junk after ']' in URL host");
    } else {
        colon = memchr(hostp, ':', (size_t)(slash - hostp));
        c->host = strndup(hostp, (size_t)((colon ? colon : slash) - hostp));
    }
    if (!c->host)
        return TB_ENOMEM;
    if (!*c->host) {
        free(c->host);
        if (!(c->host = strdup("localhost")))
            return TB_ENOMEM;
    }
    c->port = c->ws ? 80 : 5672;
    if (colon) {
        char *e;
        long v = strtol(colon + 1, &e, 10);
        if (e != slash || colon + 1 == slash || v < 1 || v > 65535)
            return fail(c, TB_EURL, "bad port in URL: %.*s", (int)(slash - colon - 1), colon + 1);
        c->port = (int)v;
    }
    if (c->ws) {
        /* A path prefix (reverse proxy) is kept for both the API and the
         * WebSocket; a trailing slash is dropped. */
        size_t n = (size_t)(end - slash);
        while (n && slash[n - 1] == '/')
            n--;
        c->path = strndup(slash, n);
        return c->path ? TB_OK : TB_ENOMEM;
    }
    /* Empty or absent vhost => "/", as the issue and kombu's as_url() do. */
    if (slash == end || slash + 1 == end)
        c->vhost = strdup("/");
    else if (!(c->vhost = pct_decode(slash + 1, (size_t)(end - slash - 1), &nomem)))
        return nomem ? TB_ENOMEM : fail(c, TB_EURL, "bad percent-escape in URL vhost");
    return c->vhost ? TB_OK : TB_ENOMEM;
}

/* ---- connections -------------------------------------------------------- */

static tb_err reply_err(tb_client *c, amqp_rpc_reply_t r, const char *what)
{
    switch (r.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        return TB_OK;
    case AMQP_RESPONSE_NONE:
        return fail(c, TB_ECONN, "%s: no reply", what);
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        return fail(c, r.library_error == AMQP_STATUS_TIMEOUT ? TB_ETIMEOUT : TB_ECONN,
                    "%s: %s", what, amqp_error_string2(r.library_error));
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
            amqp_connection_close_t *m = r.reply.decoded;
            return fail(c, TB_EBROKER, "%s: connection closed by the broker: %u %.*s", what,
                        m->reply_code, (int)m->reply_text.len, (char *)m->reply_text.bytes);
        }
        if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
            amqp_channel_close_t *m = r.reply.decoded;
            return fail(c, TB_EBROKER, "%s: refused by the broker: %u %.*s", what,
                        m->reply_code, (int)m->reply_text.len, (char *)m->reply_text.bytes);
        }
        return fail(c, TB_EBROKER, "%s: unexpected broker method 0x%08x", what, r.reply.id);
    }
    return fail(c, TB_ECONN, "%s: unknown reply", what);
}

static tb_err rpc_check(tb_client *c, amqp_link *l, const char *what)
{
    return reply_err(c, amqp_get_rpc_reply(l->conn), what);
}

static void link_drop(amqp_link *l)
{
    if (!l->conn)
        return;
    /* A polite close may hang on a dead peer: the RPC timeout bounds it. */
    amqp_connection_close(l->conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(l->conn);
    l->conn = NULL;
}

/* Opens connection + channel 1 and declares the exchange as wazo-bus does:
 * durable, not auto-delete, not internal, no arguments. */
static tb_err link_open(tb_client *c, amqp_link *l)
{
    amqp_socket_t *sock;
    struct timeval to = tv_of(c->timeout_ms);
    amqp_table_entry_t props[2];
    amqp_table_t ptable = {.num_entries = 2, .entries = props};
    char cname[96];
    int st;
    tb_err rc;

    if (!(l->conn = amqp_new_connection()))
        return TB_ENOMEM;
    if (!(sock = amqp_tcp_socket_new(l->conn))) {
        link_drop(l);
        return TB_ENOMEM;
    }
    st = amqp_socket_open_noblock(sock, c->host, c->port, &to);
    if (st != AMQP_STATUS_OK) {
        amqp_destroy_connection(l->conn);
        l->conn = NULL;
        return fail(c, TB_ECONN, "%s: cannot connect to %s:%d: %s", l->role, c->host, c->port,
                    amqp_error_string2(st));
    }
    amqp_set_rpc_timeout(l->conn, &to);
    amqp_set_handshake_timeout(l->conn, &to);
    /* connection_name: how the broker's tools name this connection. */
    snprintf(cname, sizeof cname, "tenbus-client pid=%ld %s", (long)getpid(), l->role);
    props[0] = (amqp_table_entry_t){.key = amqp_cstring_bytes("connection_name"),
                                    .value = {.kind = AMQP_FIELD_KIND_UTF8,
                                              .value.bytes = amqp_cstring_bytes(cname)}};
    props[1] = (amqp_table_entry_t){.key = amqp_cstring_bytes("product"),
                                    .value = {.kind = AMQP_FIELD_KIND_UTF8,
                                              .value.bytes = amqp_cstring_bytes("libtenbus")}};
    rc = reply_err(c, amqp_login_with_properties(l->conn, c->vhost, 0, FRAME_MAX, 0, &ptable,
                                                 AMQP_SASL_METHOD_PLAIN, c->user, c->pass),
                   "login");
    if (rc == TB_OK) {
        amqp_channel_open(l->conn, CHANNEL);
        rc = rpc_check(c, l, "channel.open");
    }
    if (rc == TB_OK) {
        amqp_exchange_declare(l->conn, CHANNEL, cstr(c->exchange), cstr(c->exchange_type), 0, 1, 0,
                              0, amqp_empty_table);
        rc = rpc_check(c, l, "exchange.declare");
    }
    if (rc != TB_OK) {
        amqp_destroy_connection(l->conn);
        l->conn = NULL;
    }
    return rc;
}

/* ---- lifecycle ---------------------------------------------------------- */

tb_err tb_client_new(const tb_client_config *cfg, tb_client **out)
{
    tb_client *c;
    tb_err rc;

    if (!cfg || !out || !cfg->url)
        return TB_EINVAL;
    if (!(c = calloc(1, sizeof *c)))
        return TB_ENOMEM;
    c->pub.role = "publisher";
    c->con.role = "consumer";
    c->retry_at_ms = -1;
    c->next_id = 1;
    c->auto_ack = cfg->auto_ack;
    c->confirms = cfg->confirms;
    c->timeout_ms = cfg->timeout_ms > 0 ? cfg->timeout_ms : DEFAULT_TIMEOUT_MS;
    c->prefetch = cfg->prefetch ? cfg->prefetch : DEFAULT_PREFETCH;
    if (c->prefetch > UINT16_MAX)
        c->prefetch = UINT16_MAX;
    if ((rc = parse_url(c, cfg->url)) != TB_OK)
        goto fail;
    rc = TB_ENOMEM;
    if (!(c->exchange = strdup(cfg->exchange && *cfg->exchange ? cfg->exchange : "wazo-headers")) ||
        !(c->exchange_type = strdup(cfg->exchange_type && *cfg->exchange_type ? cfg->exchange_type
                                                                              : "headers")))
        goto fail;
    if (cfg->queue && *cfg->queue && !(c->queue_cfg = strdup(cfg->queue)))
        goto fail;
    if (c->ws) {
        if (!cfg->token || !*cfg->token || strpbrk(cfg->token, "\r\n")) {
            rc = fail(c, TB_EINVAL, "a ws:// bus needs a token (master-tenant or internal), "
                                    "on one line");
            goto fail;
        }
        if (!(c->token = strdup(cfg->token)))
            goto fail;
    }
    c->pend_tail = &c->pend_head;
    if (strlen(c->exchange) > 255 || (c->queue_cfg && strlen(c->queue_cfg) > 255)) {
        rc = fail(c, TB_EINVAL, "exchange and queue names are at most 255 bytes");
        goto fail;
    }
    *out = c;
    return TB_OK;
fail:
    if (cfg->errbuf && cfg->errbuf_size)
        snprintf(cfg->errbuf, cfg->errbuf_size, "%s", c->err[0] ? c->err : tb_strerror(rc));
    tb_client_free(c);
    return rc;
}

static void sub_free(sub *s)
{
    if (!s)
        return;
    json_decref(s->args);
    free(s->key);
    free(s);
}

void tb_client_free(tb_client *c)
{
    if (!c)
        return;
    link_drop(&c->pub);
    link_drop(&c->con);
    ws_drop(c);
    free(c->path);
    free(c->token);
    tb_wire_text_free(&c->body);
    for (size_t i = 0; i < c->n_subs; i++)
        sub_free(c->subs[i]);
    free(c->subs);
    free(c->queue);
    free(c->host);
    free(c->user);
    free(c->pass);
    free(c->vhost);
    free(c->exchange);
    free(c->exchange_type);
    free(c->queue_cfg);
    free(c);
}

const char *tb_client_errmsg(const tb_client *c)
{
    return c ? c->err : "no client";
}

void tb_client_get_stats(const tb_client *c, tb_client_stats *out)
{
    if (c && out)
        *out = c->st;
}

/* ---- publishing --------------------------------------------------------- */

static tb_err pub_ensure(tb_client *c)
{
    tb_err rc;

    if (c->pub.conn)
        return TB_OK;
    if ((rc = link_open(c, &c->pub)) != TB_OK)
        return rc;
    c->pub_seq = 0;
    if (c->confirms) {
        amqp_confirm_select(c->pub.conn, CHANNEL);
        if ((rc = rpc_check(c, &c->pub, "confirm.select")) != TB_OK) {
            link_drop(&c->pub);
            return rc;
        }
    }
    return TB_OK;
}

/* Reads one frame on the publisher connection, waiting until `deadline`
 * (-1: do not wait). Returns TB_OK with *got set when a frame arrived. An
 * exception from the broker is returned as TB_EBROKER. */
static tb_err pub_read_frame(tb_client *c, int64_t deadline, amqp_frame_t *f, bool *got)
{
    int64_t left = deadline < 0 ? 0 : deadline - now_ms();
    struct timeval tv = tv_of(left > 0 ? (int)left : 0);
    int st = amqp_simple_wait_frame_noblock(c->pub.conn, f, &tv);

    *got = false;
    if (st == AMQP_STATUS_TIMEOUT)
        return TB_OK;
    if (st != AMQP_STATUS_OK)
        return fail(c, TB_ECONN, "publisher: %s", amqp_error_string2(st));
    *got = true;
    if (f->frame_type != AMQP_FRAME_METHOD)
        return TB_OK;
    if (f->payload.method.id == AMQP_CHANNEL_CLOSE_METHOD) {
        amqp_channel_close_t *m = f->payload.method.decoded;
        return fail(c, TB_EBROKER, "publish refused by the broker: %u %.*s", m->reply_code,
                    (int)m->reply_text.len, (char *)m->reply_text.bytes);
    }
    if (f->payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
        amqp_connection_close_t *m = f->payload.method.decoded;
        return fail(c, TB_EBROKER, "publisher connection closed by the broker: %u %.*s",
                    m->reply_code, (int)m->reply_text.len, (char *)m->reply_text.bytes);
    }
    return TB_OK;
}

/* Without confirms nothing answers a publish; an exception the broker sent
 * (e.g. the exchange deleted under us) is picked up here, without waiting. */
static tb_err pub_poll_errors(tb_client *c)
{
    struct pollfd pfd = {.fd = amqp_get_sockfd(c->pub.conn), .events = POLLIN};
    amqp_frame_t f;
    bool got;
    tb_err rc;

    while (amqp_frames_enqueued(c->pub.conn) || amqp_data_in_buffer(c->pub.conn) ||
           poll(&pfd, 1, 0) > 0) {
        if ((rc = pub_read_frame(c, -1, &f, &got)) != TB_OK)
            return rc;
        if (!got)
            break;
        pfd.revents = 0;
    }
    return TB_OK;
}

/* Waits for the confirms of tags first..c->pub_seq. Acks may be single or
 * "multiple" (everything up to the tag); they are tracked in a bitmap. */
static tb_err pub_wait_confirms(tb_client *c, uint64_t first)
{
    uint64_t n = c->pub_seq - first + 1, settled = 0, low = first;
    uint8_t *done = calloc((size_t)n, 1);
    int64_t deadline = now_ms() + c->timeout_ms;
    bool nacked = false, got;
    amqp_frame_t f;
    tb_err rc = TB_OK;

    if (!done)
        return TB_ENOMEM;
    while (settled < n) {
        if ((rc = pub_read_frame(c, deadline, &f, &got)) != TB_OK)
            break;
        if (!got) {
            rc = fail(c, TB_ETIMEOUT, "publisher: %llu of %llu messages not confirmed within %d ms",
                      (unsigned long long)(n - settled), (unsigned long long)n, c->timeout_ms);
            break;
        }
        if (f.frame_type != AMQP_FRAME_METHOD ||
            (f.payload.method.id != AMQP_BASIC_ACK_METHOD &&
             f.payload.method.id != AMQP_BASIC_NACK_METHOD))
            continue;
        uint64_t tag;
        bool multiple;
        if (f.payload.method.id == AMQP_BASIC_ACK_METHOD) {
            amqp_basic_ack_t *a = f.payload.method.decoded;
            tag = a->delivery_tag;
            multiple = a->multiple;
        } else {
            amqp_basic_nack_t *a = f.payload.method.decoded;
            tag = a->delivery_tag;
            multiple = a->multiple;
            nacked = true;
        }
        if (tag < first || tag > c->pub_seq)
            continue; /* an older batch's late confirm */
        for (uint64_t t = multiple ? low : tag; t <= tag; t++) {
            if (!done[t - first]) {
                done[t - first] = 1;
                settled++;
                if (f.payload.method.id == AMQP_BASIC_ACK_METHOD)
                    c->st.confirmed++;
            }
        }
        while (low <= c->pub_seq && done[low - first])
            low++;
    }
    free(done);
    if (rc == TB_OK && nacked)
        rc = fail(c, TB_ENACK, "the broker nacked a published message");
    return rc;
}

/* Sends one event as the codec encodes it (tenbus/wire.h, DESIGN.md §1):
 * the header table and the body come from one walk of tb_wire_amqp. */
static tb_err pub_send(tb_client *c, const tb_event *ev, amqp_pool_t *pool)
{
    const tb_wire_event *w = ev ? tb_event_wire(ev) : NULL;
    amqp_table_t headers;
    tb_err rc;
    int st;

    if (!w)
        return fail(c, TB_EINVAL, "publish: no event");
    if ((rc = tb_wire_amqp(w, pool, &headers, &c->body)) != TB_OK)
        return fail(c, rc, "publish: the event has no AMQP form: %s", tb_strerror(rc));
    /* kombu's defaults for a JSON body, which wazo-bus leaves alone. */
    amqp_basic_properties_t props = {
        ._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_CONTENT_ENCODING_FLAG |
                  AMQP_BASIC_HEADERS_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG |
                  AMQP_BASIC_PRIORITY_FLAG,
        .content_type = amqp_cstring_bytes("application/json"),
        .content_encoding = amqp_cstring_bytes("utf-8"),
        .headers = headers,
        .delivery_mode = AMQP_DELIVERY_PERSISTENT,
        .priority = 0,
    };
    st = amqp_basic_publish(c->pub.conn, CHANNEL, cstr(c->exchange),
                            cstr(tb_wire_routing_key(w)), 0, 0, &props,
                            (amqp_bytes_t){.len = c->body.len, .bytes = c->body.p});
    if (st != AMQP_STATUS_OK)
        return fail(c, TB_ECONN, "publish: %s", amqp_error_string2(st));
    c->pub_seq++;
    c->st.published++;
    return TB_OK;
}

tb_err tb_client_publish_batch(tb_client *c, const tb_event *const *evs, size_t n)
{
    amqp_pool_t pool;
    uint64_t first;
    tb_err rc;

    if (!c || (!evs && n))
        return TB_EINVAL;
    if (!n)
        return TB_OK;
    c->err[0] = '\0';
    if (c->ws)
        return ws_publish(c, evs, n);
    if ((rc = pub_ensure(c)) != TB_OK)
        return rc;
    first = c->pub_seq + 1;
    init_amqp_pool(&pool, 4096);
    for (size_t i = 0; i < n && rc == TB_OK; i++) {
        rc = pub_send(c, evs[i], &pool);
        recycle_amqp_pool(&pool);
    }
    empty_amqp_pool(&pool);
    if (rc == TB_EINVAL || rc == TB_ENOMEM) {
        if (c->pub_seq < first) /* nothing sent */
            return rc;
    } else if (rc != TB_OK) {
        link_drop(&c->pub);
        return rc;
    }
    tb_err wrc = c->pub_seq < first ? TB_OK
               : c->confirms        ? pub_wait_confirms(c, first)
                                    : pub_poll_errors(c);
    if (wrc != TB_OK) {
        link_drop(&c->pub);
        return wrc;
    }
    return rc;
}

tb_err tb_client_publish(tb_client *c, const tb_event *ev)
{
    tb_err rc;

    if (!c || !ev)
        return TB_EINVAL;
    rc = tb_client_publish_batch(c, &ev, 1);
    /* A connection found dead on this publish (broker restarted since the
     * last one) is re-opened once, at once. */
    if (rc == TB_ECONN && c->st.published > 0 && !c->ws)
        rc = tb_client_publish_batch(c, &ev, 1);
    return rc;
}

/* ---- consuming ---------------------------------------------------------- */

static tb_err bind_args(tb_client *c, const sub *s, amqp_pool_t *pool, amqp_table_t *t)
{
    tb_err rc = tb_amqp_table_from_json(s->args, pool, t);

    return rc == TB_OK ? TB_OK : fail(c, rc, "subscribe: the filter has no AMQP form");
}

static tb_err do_bind(tb_client *c, const sub *s, bool bind)
{
    amqp_pool_t pool;
    amqp_table_t t;
    tb_err rc;

    init_amqp_pool(&pool, 1024);
    rc = bind_args(c, s, &pool, &t);
    if (rc == TB_OK) {
        if (bind)
            amqp_queue_bind(c->con.conn, CHANNEL, cstr(c->queue), cstr(c->exchange),
                            amqp_empty_bytes, t);
        else
            amqp_queue_unbind(c->con.conn, CHANNEL, cstr(c->queue), cstr(c->exchange),
                              amqp_empty_bytes, t);
        rc = rpc_check(c, &c->con, bind ? "queue.bind" : "queue.unbind");
    }
    empty_amqp_pool(&pool);
    return rc;
}

static bool key_in_use(const tb_client *c, const char *key, const sub *except)
{
    for (size_t i = 0; i < c->n_subs; i++)
        if (c->subs[i] != except && !c->subs[i]->dead && strcmp(c->subs[i]->key, key) == 0)
            return true;
    return false;
}

static bool con_up(const tb_client *c)
{
    return c->ws ? c->wsc != NULL : c->con.conn != NULL;
}

static void con_lost(tb_client *c)
{
    link_drop(&c->con);
    ws_drop(c);
    if (c->retry_at_ms < 0) {
        c->backoff_ms = 1000;
        c->retry_at_ms = now_ms() + c->backoff_ms;
    }
}

/* Opens the consumer: exchange, queue, prefetch, every live binding, then
 * basic.consume. */
static tb_err con_open(tb_client *c)
{
    amqp_queue_declare_ok_t *q;
    bool named = c->queue_cfg != NULL;
    tb_err rc;

    if (c->ws)
        return ws_session_open(c);
    if ((rc = link_open(c, &c->con)) != TB_OK)
        return rc;
    q = amqp_queue_declare(c->con.conn, CHANNEL, cstr(c->queue_cfg), 0, named, !named, !named,
                           amqp_empty_table);
    if ((rc = rpc_check(c, &c->con, "queue.declare")) != TB_OK || !q)
        goto fail;
    free(c->queue);
    if (!(c->queue = strndup(q->queue.bytes, q->queue.len))) {
        rc = TB_ENOMEM;
        goto fail;
    }
    if (!c->auto_ack) {
        amqp_basic_qos(c->con.conn, CHANNEL, 0, (uint16_t)c->prefetch, 0);
        if ((rc = rpc_check(c, &c->con, "basic.qos")) != TB_OK)
            goto fail;
    }
    for (size_t i = 0; i < c->n_subs; i++) {
        if (c->subs[i]->dead)
            continue;
        /* One bind per distinct filter: the first live sub with it. */
        bool first = true;
        for (size_t j = 0; j < i; j++)
            if (!c->subs[j]->dead && strcmp(c->subs[j]->key, c->subs[i]->key) == 0)
                first = false;
        if (first && (rc = do_bind(c, c->subs[i], true)) != TB_OK)
            goto fail;
    }
    amqp_basic_consume(c->con.conn, CHANNEL, cstr(c->queue), amqp_empty_bytes, 0, c->auto_ack, 0,
                       amqp_empty_table);
    if ((rc = rpc_check(c, &c->con, "basic.consume")) != TB_OK)
        goto fail;
    c->retry_at_ms = -1;
    c->backoff_ms = 0;
    return TB_OK;
fail:
    link_drop(&c->con);
    return rc;
}

tb_err tb_client_subscribe(tb_client *c, const char *name, const json_t *headers,
                           bool match_all, tb_message_cb cb, void *arg, unsigned *id)
{
    sub *s = NULL;
    tb_err rc;
    bool bound;

    if (!c || !cb || (headers && !json_is_object(headers)))
        return TB_EINVAL;
    c->err[0] = '\0';
    if (name && headers && json_object_get(headers, "name"))
        return fail(c, TB_EINVAL, "subscribe: the filter names the event: use `name`");
    if (headers && json_object_get(headers, "x-match"))
        return fail(c, TB_EINVAL, "subscribe: x-match comes from match_all");
    if (!(s = calloc(1, sizeof *s)) || !(s->args = headers ? json_deep_copy(headers) : json_object()))
        goto nomem;
    if (json_object_set_new(s->args, "x-match", json_string(match_all ? "all" : "any")) < 0)
        goto nomem;
    if (name) {
        json_t *n = json_string(name);
        if (!n) {
            sub_free(s);
            return fail(c, TB_EINVAL, "subscribe: name is not UTF-8");
        }
        if (json_object_set_new(s->args, "name", n) < 0)
            goto nomem;
    }
    if (!(s->key = json_dumps(s->args, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY)))
        goto nomem;
    {
        /* Refuse a filter that cannot be encoded before anything is sent. */
        amqp_pool_t pool;
        amqp_table_t t;
        init_amqp_pool(&pool, 1024);
        rc = bind_args(c, s, &pool, &t);
        empty_amqp_pool(&pool);
        if (rc != TB_OK) {
            sub_free(s);
            return rc;
        }
    }
    s->cb = cb;
    s->arg = arg;
    bound = key_in_use(c, s->key, NULL);
    if (c->n_subs == c->cap_subs) {
        size_t cap = c->cap_subs ? c->cap_subs * 2 : 8;
        sub **p = realloc(c->subs, cap * sizeof *p);
        if (!p)
            goto nomem;
        c->subs = p;
        c->cap_subs = cap;
    }
    c->subs[c->n_subs++] = s; /* before con_open: it binds every sub */
    if (!con_up(c)) {
        rc = con_open(c);
    } else if (c->ws) {
        rc = ws_subscribe_name(c, name ? name : "*");
        if (rc != TB_OK && rc != TB_ENOMEM)
            con_lost(c);
    } else {
        rc = bound ? TB_OK : do_bind(c, s, true);
        if (rc != TB_OK && rc != TB_ENOMEM)
            con_lost(c);
    }
    if (rc != TB_OK) {
        c->n_subs--;
        sub_free(s);
        return rc;
    }
    s->id = c->next_id++;
    if (id)
        *id = s->id;
    return TB_OK;
nomem:
    sub_free(s);
    return TB_ENOMEM;
}

static void subs_compact(tb_client *c)
{
    size_t j = 0;

    for (size_t i = 0; i < c->n_subs; i++) {
        if (c->subs[i]->dead)
            sub_free(c->subs[i]);
        else
            c->subs[j++] = c->subs[i];
    }
    c->n_subs = j;
}

tb_err tb_client_unsubscribe(tb_client *c, unsigned id)
{
    sub *s = NULL;
    tb_err rc = TB_OK;

    if (!c)
        return TB_EINVAL;
    for (size_t i = 0; i < c->n_subs && !s; i++)
        if (c->subs[i]->id == id && !c->subs[i]->dead)
            s = c->subs[i];
    if (!s)
        return fail(c, TB_EINVAL, "unsubscribe: no subscription %u", id);
    s->dead = true;
    /* The WebSocket protocol has no unsubscribe: the session keeps the
     * name, and what arrives for it alone is counted as unmatched. */
    if (!c->ws && c->con.conn && !key_in_use(c, s->key, s)) {
        rc = do_bind(c, s, false);
        if (rc != TB_OK && rc != TB_ENOMEM)
            con_lost(c);
    }
    if (!c->dispatching)
        subs_compact(c);
    return rc;
}

static const char *name_of(const json_t *headers, const json_t *body)
{
    const json_t *n = json_object_get(headers, "name");

    if (json_is_string(n))
        return json_string_value(n);
    n = json_object_get(body, "name");
    return json_is_string(n) ? json_string_value(n) : NULL;
}

/* Hands one decoded message to every subscription whose filter matches.
 * Takes `headers` and `body` (either may be NULL: the message is bad). */
static void dispatch_parsed(tb_client *c, const char *rk, json_t *headers, json_t *body,
                            bool redelivered)
{
    tb_message m = {.routing_key = rk, .headers = headers, .body = body,
                    .redelivered = redelivered, .delivery_id = ++c->st.delivered};
    bool any = false;

    if (!headers || !json_is_object(body) || !(m.name = name_of(headers, body))) {
        c->st.bad++;
        goto out;
    }
    c->dispatching++;
    for (size_t i = 0, n = c->n_subs; i < n; i++) {
        sub *s = c->subs[i];
        if (s->dead || !tb_hdr_match(s->args, headers))
            continue;
        any = true;
        c->st.dispatched++;
        if (s->cb(&m, s->arg) != 0)
            c->st.handler_errors++;
    }
    c->dispatching--;
    if (!c->dispatching)
        subs_compact(c);
    if (!any)
        c->st.unmatched++;
out:
    json_decref(headers);
    json_decref(body);
}

static void dispatch(tb_client *c, const amqp_envelope_t *env)
{
    const amqp_basic_properties_t *p = &env->message.properties;
    json_t *headers, *body;
    char *rk = strndup(env->routing_key.len ? env->routing_key.bytes : "", env->routing_key.len);

    body = json_loadb(env->message.body.len ? env->message.body.bytes : "",
                      env->message.body.len, JSON_REJECT_DUPLICATES, NULL);
    headers = p->_flags & AMQP_BASIC_HEADERS_FLAG ? tb_amqp_table_to_json(&p->headers) : json_object();
    if (!rk || strlen(rk) != env->routing_key.len) { /* a NUL in the key */
        json_decref(headers);
        headers = NULL;
    }
    dispatch_parsed(c, rk, headers, body, env->redelivered);
    free(rk);
}

/* Handles a frame that is not a delivery. Returns TB_ECONN when the
 * consumer is gone (channel/connection closed, consumer cancelled). */
static tb_err con_other_frame(tb_client *c)
{
    amqp_frame_t f;
    struct timeval zero = {0, 0};
    int st = amqp_simple_wait_frame_noblock(c->con.conn, &f, &zero);

    if (st == AMQP_STATUS_TIMEOUT)
        return TB_OK;
    if (st != AMQP_STATUS_OK)
        return fail(c, TB_ECONN, "consumer: %s", amqp_error_string2(st));
    if (f.frame_type != AMQP_FRAME_METHOD)
        return TB_OK;
    switch (f.payload.method.id) {
    case AMQP_CHANNEL_CLOSE_METHOD: {
        amqp_channel_close_t *m = f.payload.method.decoded;
        return fail(c, TB_ECONN, "consumer channel closed by the broker: %u %.*s", m->reply_code,
                    (int)m->reply_text.len, (char *)m->reply_text.bytes);
    }
    case AMQP_CONNECTION_CLOSE_METHOD: {
        amqp_connection_close_t *m = f.payload.method.decoded;
        return fail(c, TB_ECONN, "consumer connection closed by the broker: %u %.*s",
                    m->reply_code, (int)m->reply_text.len, (char *)m->reply_text.bytes);
    }
    case AMQP_BASIC_CANCEL_METHOD:
        return fail(c, TB_ECONN, "consumer cancelled by the broker (queue %s deleted?)",
                    c->queue ? c->queue : "-");
    default:
        return TB_OK;
    }
}

/* Dispatches every delivery already received or buffered; waits up to
 * `wait_ms` for the first one (0: none). */
static tb_err con_drain(tb_client *c, int wait_ms)
{
    for (;;) {
        amqp_envelope_t env;
        struct timeval tv = tv_of(wait_ms > 0 ? wait_ms : 0);
        amqp_rpc_reply_t r;

        amqp_maybe_release_buffers(c->con.conn);
        r = amqp_consume_message(c->con.conn, &env, wait_ms < 0 ? NULL : &tv, 0);
        wait_ms = 0;
        if (r.reply_type == AMQP_RESPONSE_NORMAL) {
            uint64_t tag = env.delivery_tag;
            dispatch(c, &env);
            amqp_destroy_envelope(&env);
            if (!c->con.conn) /* cannot happen: callbacks may not process */
                return TB_ECONN;
            if (!c->auto_ack && amqp_basic_ack(c->con.conn, CHANNEL, tag, 0) != AMQP_STATUS_OK)
                return fail(c, TB_ECONN, "consumer: cannot acknowledge");
            continue;
        }
        if (r.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
            if (r.library_error == AMQP_STATUS_TIMEOUT)
                return TB_OK;
            if (r.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
                tb_err rc = con_other_frame(c);
                if (rc != TB_OK)
                    return rc;
                continue;
            }
        }
        tb_err rc = reply_err(c, r, "consume");
        return rc == TB_ETIMEOUT ? TB_ECONN : rc;
    }
}

tb_err tb_client_process(tb_client *c, int timeout_ms)
{
    tb_err rc;

    if (!c)
        return TB_EINVAL;
    if (!c->n_subs)
        return fail(c, TB_EINVAL, "process: no subscription");
    if (!con_up(c)) {
        int64_t wait = c->retry_at_ms - now_ms();
        if (wait > 0) {
            if (timeout_ms >= 0 && wait > timeout_ms) {
                if (timeout_ms > 0)
                    poll(NULL, 0, timeout_ms);
                return TB_ECONN;
            }
            poll(NULL, 0, (int)wait);
        }
        if ((rc = con_open(c)) != TB_OK) {
            c->backoff_ms = c->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : c->backoff_ms * 2;
            c->retry_at_ms = now_ms() + c->backoff_ms;
            return rc == TB_ENOMEM ? rc : TB_ECONN;
        }
        c->st.reconnects++;
        timeout_ms = 0;
    }
    rc = c->ws ? ws_drain(c, timeout_ms) : con_drain(c, timeout_ms);
    if (rc != TB_OK && rc != TB_ENOMEM) {
        con_lost(c);
        return TB_ECONN;
    }
    return rc;
}

int tb_client_fd(const tb_client *c)
{
    if (c && c->ws)
        return tb__ws_fd(c->wsc);
    return c && c->con.conn ? amqp_get_sockfd(c->con.conn) : -1;
}

int tb_client_timeout(const tb_client *c)
{
    int64_t left;

    if (!c || con_up(c) || c->retry_at_ms < 0)
        return -1;
    left = c->retry_at_ms - now_ms();
    return left < 0 ? 0 : left > INT_MAX ? INT_MAX : (int)left;
}

/* ---- ws:// : a tenbusd node --------------------------------------------- */

static void ws_drop(tb_client *c)
{
    struct pending *p = c->pend_head, *next;

    tb__ws_close(c->wsc);
    c->wsc = NULL;
    c->ws_started = false;
    for (; p; p = next) {
        next = p->next;
        free(p);
    }
    c->pend_head = NULL;
    c->pend_tail = &c->pend_head;
}

static void api_member(tb_wire_text *t, const char *key, const char *s)
{
    tb_wire_text_put(t, ",\"", 2);
    tb_wire_text_put(t, key, strlen(key));
    tb_wire_text_put(t, "\":", 2);
    if (s)
        tb_wire_text_put_string(t, s, strlen(s));
    else
        tb_wire_text_put(t, "null", 4);
}

/* Appends the POST /api/events form of a built event (docs/http-api.md),
 * read from its wire description: its level and addressing as they are,
 * the routing key and required ACL it was built with. The node encodes it
 * with the same codec (tenbus/wire.h), with its own origin_uuid and
 * timestamp. */
static void api_event(tb_wire_text *t, const tb_event *ev)
{
    const tb_wire_event *w = tb_event_wire(ev);

    tb_wire_text_put(t, "{\"name\":", 8);
    tb_wire_text_put_string(t, w->name, strlen(w->name));
    api_member(t, "level", tb_level_name(w->level));
    api_member(t, "routing_key", tb_wire_routing_key(w));
    api_member(t, "required_acl", tb_event_required_acl(ev));
    if (w->level != TB_LEVEL_SERVICE)
        api_member(t, "tenant_uuid", w->tenant_uuid);
    if (w->level == TB_LEVEL_USER)
        api_member(t, "user_uuid", w->user_uuid);
    if (w->level == TB_LEVEL_MULTI_USER) {
        tb_wire_text_put(t, ",\"user_uuids\":[", 15);
        for (size_t i = 0; i < w->n_user_uuids; i++) {
            if (i)
                tb_wire_text_put(t, ",", 1);
            tb_wire_text_put_string(t, w->user_uuids[i], strlen(w->user_uuids[i]));
        }
        tb_wire_text_put(t, "]", 1);
    }
    if (w->n_extra) {
        tb_wire_text_put(t, ",\"headers\":{", 12);
        for (size_t i = 0; i < w->n_extra; i++) {
            if (i)
                tb_wire_text_put(t, ",", 1);
            tb_wire_text_put_string(t, w->extra[i].key, strlen(w->extra[i].key));
            tb_wire_text_put(t, ":", 1);
            tb_wire_text_put_value(t, &w->extra[i].value);
        }
        tb_wire_text_put(t, "}", 1);
    }
    tb_wire_text_put(t, ",\"data\":", 8);
    if (w->data)
        tb_wire_text_put_value(t, w->data);
    else
        tb_wire_text_put(t, "{}", 2);
    tb_wire_text_put(t, "}", 1);
}

static tb_err ws_publish(tb_client *c, const tb_event *const *evs, size_t n)
{
    tb_wire_text *text = &c->body;
    char *resp = NULL, target[1024], hdr[4200];
    int status = 0;
    tb_err rc;

    tb_wire_text_reset(text);
    tb_wire_text_put(text, "[", 1);
    for (size_t i = 0; i < n; i++) {
        if (!evs[i])
            return fail(c, TB_EINVAL, "publish: no event");
        if (i)
            tb_wire_text_put(text, ",", 1);
        api_event(text, evs[i]);
    }
    tb_wire_text_put(text, "]", 1);
    if (text->oom)
        return TB_ENOMEM;
    snprintf(target, sizeof target, "%s/api/events", c->path);
    if (strlen(c->token) > 4000)
        return fail(c, TB_EINVAL, "token too long");
    snprintf(hdr, sizeof hdr, "X-Auth-Token: %s\r\n", c->token);
    rc = tb__http_post(c->host, c->port, target, hdr, text->p, text->len, c->timeout_ms, &status,
                       &resp, c->err, sizeof c->err);
    if (rc == TB_OK && status != 202)
        rc = fail(c, TB_EBROKER, "POST %s: HTTP %d %.300s", target, status, resp);
    free(resp);
    if (rc != TB_OK)
        return rc;
    /* 202: the node handed every event to its bus, the nearest thing to a
     * broker confirm over HTTP. */
    c->st.published += n;
    c->st.confirmed += n;
    return TB_OK;
}

/* Queues an event that arrived while waiting for a reply. */
static tb_err ws_hold(tb_client *c, const char *msg, size_t len)
{
    struct pending *p = malloc(sizeof *p + len + 1);

    if (!p)
        return TB_ENOMEM;
    p->next = NULL;
    p->len = len;
    memcpy(p->text, msg, len);
    p->text[len] = '\0';
    *c->pend_tail = p;
    c->pend_tail = &p->next;
    return TB_OK;
}

/* Waits for the reply to `op` (v2 answers every command, in order). */
static tb_err ws_wait_reply(tb_client *c, const char *op)
{
    int64_t deadline = now_ms() + c->timeout_ms;

    for (;;) {
        const char *msg;
        size_t len;
        int64_t left = deadline - now_ms();
        tb_err rc;

        if (left <= 0)
            return fail(c, TB_ETIMEOUT, "no reply to %s within %d ms", op, c->timeout_ms);
        rc = tb__ws_next(c->wsc, (int)left, &msg, &len, c->err, sizeof c->err);
        if (rc != TB_OK)
            return rc;
        if (!msg)
            continue;
        json_t *j = json_loadb(msg, len, 0, NULL);
        const char *got = json_string_value(json_object_get(j, "op"));
        json_t *code = json_object_get(j, "code");
        if (got && strcmp(got, op) == 0) {
            rc = json_is_integer(code) && json_integer_value(code) == 0
                     ? TB_OK
                     : fail(c, TB_EBROKER, "%s refused by the node: %.200s", op, msg);
            json_decref(j);
            return rc;
        }
        rc = got && strcmp(got, "event") == 0 ? ws_hold(c, msg, len) : TB_OK;
        json_decref(j);
        if (rc != TB_OK)
            return rc;
    }
}

static tb_err ws_send_op(tb_client *c, json_t *m)
{
    char *text = m ? json_dumps(m, JSON_COMPACT) : NULL;
    tb_err rc = text ? tb__ws_send_text(c->wsc, text, strlen(text)) : TB_ENOMEM;

    free(text);
    json_decref(m);
    return rc == TB_ECONN ? fail(c, TB_ECONN, "session lost while sending") : rc;
}

static tb_err ws_subscribe_name(tb_client *c, const char *name)
{
    tb_err rc = ws_send_op(c, json_pack("{s:s, s:{s:s}}", "op", "subscribe", "data",
                                        "event_name", name));

    if (rc == TB_OK)
        rc = ws_wait_reply(c, "subscribe");
    if (rc == TB_OK && !c->ws_started &&
        (rc = ws_send_op(c, json_pack("{s:s, s:n}", "op", "start", "data"))) == TB_OK &&
        (rc = ws_wait_reply(c, "start")) == TB_OK)
        c->ws_started = true;
    return rc;
}

/* Opens the session: handshake, init, one subscribe per live name, start. */
static tb_err ws_session_open(tb_client *c)
{
    char target[4200];
    tb_err rc;

    snprintf(target, sizeof target, "%s/?token=", c->path);
    if (tb__pct_encode_append(target, sizeof target - 16, c->token) < 0)
        return fail(c, TB_EINVAL, "token too long");
    strcat(target, "&version=2");
    if ((rc = tb__ws_open(c->host, c->port, target, c->timeout_ms, &c->wsc, c->err,
                          sizeof c->err)) != TB_OK)
        return rc;
    rc = ws_wait_reply(c, "init");
    for (size_t i = 0; i < c->n_subs && rc == TB_OK; i++) {
        const char *name = json_string_value(json_object_get(c->subs[i]->args, "name"));
        if (!c->subs[i]->dead)
            rc = ws_subscribe_name(c, name ? name : "*");
    }
    if (rc != TB_OK) {
        ws_drop(c);
        return rc;
    }
    c->retry_at_ms = -1;
    c->backoff_ms = 0;
    return TB_OK;
}

/* An event frame: the body is the bus body, its members but data are the
 * headers (with their JSON types); the routing key is not carried. */
static void ws_dispatch(tb_client *c, const char *msg, size_t len)
{
    json_t *j = json_loadb(msg, len, JSON_REJECT_DUPLICATES, NULL), *body, *headers = NULL;
    const char *op = json_string_value(json_object_get(j, "op"));

    if (!op || strcmp(op, "event") != 0) {
        json_decref(j);
        return; /* a late reply, a pong */
    }
    body = json_incref(json_object_get(j, "data"));
    if (json_is_object(body) && (headers = json_deep_copy(body)))
        json_object_del(headers, "data");
    json_decref(j);
    dispatch_parsed(c, NULL, headers, body, false);
}

static tb_err ws_drain(tb_client *c, int wait_ms)
{
    while (c->pend_head) {
        struct pending *p = c->pend_head;
        c->pend_head = p->next;
        if (!c->pend_head)
            c->pend_tail = &c->pend_head;
        ws_dispatch(c, p->text, p->len);
        free(p);
        wait_ms = 0;
    }
    for (;;) {
        const char *msg;
        size_t len;
        tb_err rc = tb__ws_next(c->wsc, wait_ms, &msg, &len, c->err, sizeof c->err);

        if (rc != TB_OK)
            return rc;
        if (!msg)
            return TB_OK;
        ws_dispatch(c, msg, len);
        wait_ms = 0;
    }
}
