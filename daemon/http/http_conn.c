/* HTTP/1.1 requests before the upgrade: the WebSocket handshake (RFC 6455
 * §4.2) and the HTTP API, with keep-alive and pipelining. One request is
 * handled at a time: the connection is paused from the end of a request
 * until its response has been written. */
#include <ctype.h>
#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http/http_conn.h"
#include "core/log.h"
#include "core/stats.h"
#include "http/api.h"
#include "net/conn.h"
#include "ws/session.h"

struct tbd_http {
    http_parser p;           /* p.data = this struct */
    uint64_t max_body;       /* tenbus.limits.max_body_size */
    uint32_t max_head;       /* tenbus.limits.max_header_size */
    tbd_http_req req;
    char *url;
    size_t url_len;
    char field[32];          /* current header name (longer names are not ours) */
    size_t field_len;
    bool field_long, in_value;
    int cur;                 /* H_* being captured, or -1 */
    size_t head_bytes;       /* bytes of the current request head so far */
    bool headers_done, busy, too_large;
    bool responded;          /* the busy request's response is queued */
    bool want_continue;      /* Expect: 100-continue seen, interim reply not sent yet */
    size_t body_cap;
};

static const char *const hdr_names[H__COUNT] = {
    "upgrade", "connection", "sec-websocket-key", "sec-websocket-version",
    "x-auth-token", "content-type", "expect",
};

/* Keep-alive publishers send one body after another: the body buffer is
 * kept for the next request up to this size (reallocating it per request
 * showed in profiles as glibc consolidating its free lists). */
#define TBD_HTTP_KEEP_BODY (256 * 1024)

static void req_reset(tbd_http *h, bool keep_body)
{
    free(h->req.path);
    free(h->req.query);
    for (int i = 0; i < H__COUNT; i++)
        free(h->req.hdr[i]);
    char *body = h->req.body;
    size_t body_cap = h->body_cap;
    if (!keep_body || body_cap > TBD_HTTP_KEEP_BODY) {
        free(body);
        body = NULL;
        body_cap = 0;
    }
    free(h->url);
    memset(&h->req, 0, sizeof(h->req));
    h->req.body = body;
    if (body)
        body[0] = '\0'; /* body_len is 0: nothing of the last request shows */
    h->url = NULL;
    h->url_len = 0;
    h->field_len = 0;
    h->field_long = h->in_value = false;
    h->cur = -1;
    h->head_bytes = 0;
    h->headers_done = h->too_large = false;
    h->body_cap = body_cap;
}

static int append(char **dst, size_t *len, const char *at, size_t n)
{
    char *p = realloc(*dst, *len + n + 1);
    if (!p)
        return -1;
    memcpy(p + *len, at, n);
    *len += n;
    p[*len] = '\0';
    *dst = p;
    return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
    tbd_http *h = p->data;
    return append(&h->url, &h->url_len, at, n);
}

static int on_header_field(http_parser *p, const char *at, size_t n)
{
    tbd_http *h = p->data;
    if (h->in_value) {
        h->in_value = false;
        h->field_len = 0;
        h->field_long = false;
    }
    if (h->field_len + n >= sizeof(h->field)) {
        h->field_long = true;
        return 0;
    }
    memcpy(h->field + h->field_len, at, n);
    h->field_len += n;
    return 0;
}

static int on_header_value(http_parser *p, const char *at, size_t n)
{
    tbd_http *h = p->data;
    if (!h->in_value) {
        h->in_value = true;
        h->cur = -1;
        if (!h->field_long) {
            h->field[h->field_len] = '\0';
            for (int i = 0; i < H__COUNT; i++)
                if (strcasecmp(h->field, hdr_names[i]) == 0)
                    h->cur = i;
            if (h->cur >= 0) {
                free(h->req.hdr[h->cur]);
                h->req.hdr[h->cur] = NULL;
            }
        }
    }
    if (h->cur < 0)
        return 0;
    size_t len = h->req.hdr[h->cur] ? strlen(h->req.hdr[h->cur]) : 0;
    return append(&h->req.hdr[h->cur], &len, at, n);
}

static int on_headers_complete(http_parser *p)
{
    tbd_http *h = p->data;
    h->headers_done = true;
    h->req.method = p->method;
    h->req.http11 = p->http_major > 1 || (p->http_major == 1 && p->http_minor >= 1);
    if (!p->upgrade && (p->flags & F_CONTENTLENGTH) && p->content_length > h->max_body) {
        h->too_large = true;
        return -1; /* stop parsing: answered with 413 */
    }
    h->want_continue = !p->upgrade && h->req.hdr[H_EXPECT] &&
                       strcasecmp(h->req.hdr[H_EXPECT], "100-continue") == 0;
    return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    tbd_http *h = p->data;
    if (h->req.body_len + n > h->max_body) {
        h->too_large = true;
        return -1;
    }
    if (h->req.body_len + n + 1 > h->body_cap) {
        size_t cap = h->body_cap ? h->body_cap : 1024;
        while (cap < h->req.body_len + n + 1)
            cap *= 2;
        char *b = realloc(h->req.body, cap);
        if (!b)
            return -1;
        h->req.body = b;
        h->body_cap = cap;
    }
    memcpy(h->req.body + h->req.body_len, at, n);
    h->req.body_len += n;
    h->req.body[h->req.body_len] = '\0';
    return 0;
}

static int on_message_complete(http_parser *p)
{
    tbd_http *h = p->data;
    if (!p->upgrade)
        http_parser_pause(p, 1); /* one request at a time */
    h->req.keep_alive = http_should_keep_alive(p);
    h->req.method = p->method;
    return 0;
}

static const http_parser_settings settings = {
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

const tbd_http_req *tbd_http_current(tbd_conn *c)
{
    return c->http ? &c->http->req : NULL;
}

tbd_http *tbd_http_parser_new(uint64_t max_body, uint32_t max_head)
{
    tbd_http *h = calloc(1, sizeof(*h));
    if (!h)
        return NULL;
    http_parser_init(&h->p, HTTP_REQUEST);
    h->p.data = h;
    h->max_body = max_body;
    h->max_head = max_head;
    h->cur = -1;
    return h;
}

void tbd_http_parser_free(tbd_http *h)
{
    if (!h)
        return;
    req_reset(h, false);
    free(h);
}

int tbd_http_begin(tbd_conn *c)
{
    const tbd_limits *lim = &c->w->srv->cfg->limits;
    c->http = tbd_http_parser_new(lim->max_body_size, lim->max_header_size);
    return c->http ? 0 : -1;
}

void tbd_http_free(tbd_conn *c)
{
    tbd_http_parser_free(c->http);
    c->http = NULL;
}

static const char *status_text(int status)
{
    switch (status) {
    case 101: return "Switching Protocols";
    case 200: return "OK";
    case 202: return "Accepted";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 413: return "Payload Too Large";
    case 426: return "Upgrade Required";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default: return "Unknown";
    }
}

void tbd_http_respond(tbd_conn *c, int status, const char *ctype, const char *body, size_t len)
{
    tbd_http_respond_ex(c, status, ctype, NULL, body, len);
}

void tbd_http_respond_ex(tbd_conn *c, int status, const char *ctype, const char *extra,
                         const char *body, size_t len)
{
    bool keep = c->http && c->http->req.keep_alive && !c->close_after_flush && status < 500 &&
                status != 413 && status != 431 && status != 408;
    if (!keep)
        c->close_after_flush = true;
    char head[1024];
    int hl = snprintf(head, sizeof(head),
                      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                      "Connection: %s\r\n%s%s\r\n",
                      status, status_text(status), ctype, len, keep ? "keep-alive" : "close",
                      status == 426 ? "Sec-WebSocket-Version: 13\r\n" : "", extra ? extra : "");
    if (hl < 0 || (size_t)hl >= sizeof(head)) {
        tbd_conn_abort(c);
        return;
    }
    tbd_buf *b = tbd_buf_new((size_t)hl + len);
    if (!b) {
        tbd_conn_abort(c);
        return;
    }
    memcpy(b->data, head, (size_t)hl);
    if (len)
        memcpy(b->data + hl, body, len);
    TBD_STAT_INC(c->w, TBD_ST_HTTP_REQUESTS);
    if (c->http)
        c->http->responded = true;
    tbd_conn_send(c, b);
}

void tbd_http_respond_json(tbd_conn *c, int status, json_t *body)
{
    char *s = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!s) {
        tbd_conn_abort(c);
        return;
    }
    tbd_http_respond(c, status, "application/json", s, strlen(s));
    free(s);
}

/* Refuses a request and closes after the response. */
static void refuse(tbd_conn *c, int status, const char *why)
{
    tbd_log_info("http refused peer=%s status=%d reason=\"%s\"", c->peer, status, why);
    c->close_after_flush = true;
    json_t *j = json_pack("{s:s}", "error", why);
    if (j)
        tbd_http_respond_json(c, status, j);
    else
        tbd_conn_abort(c);
}

static bool has_token(const char *list, const char *tok)
{
    /* Comma-separated, case-insensitive token list (RFC 7230 §7). */
    size_t tl = strlen(tok);
    for (const char *p = list; p && *p;) {
        while (*p == ' ' || *p == '\t' || *p == ',')
            p++;
        const char *e = p;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > p && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if ((size_t)(t - p) == tl && strncasecmp(p, tok, tl) == 0)
            return true;
        p = e;
    }
    return false;
}

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

static char *pct_decode(const char *s, size_t n)
{
    char *out = malloc(n + 1), *o = out;
    if (!out)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n && (hi = hexval((unsigned char)s[i + 1])) >= 0 &&
            (lo = hexval((unsigned char)s[i + 2])) >= 0) {
            *o++ = (char)(hi * 16 + lo);
            i += 2;
        } else {
            *o++ = s[i];
        }
    }
    *o = '\0';
    return out;
}

char *tbd_query_param(const char *query, const char *key)
{
    size_t kl = strlen(key);
    for (const char *p = query; p && *p;) {
        const char *e = strchr(p, '&');
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n > kl && strncmp(p, key, kl) == 0 && p[kl] == '=')
            return pct_decode(p + kl + 1, n - kl - 1);
        if (n == kl && strncmp(p, key, kl) == 0)
            return strdup("");
        p = e ? e + 1 : NULL;
    }
    return NULL;
}

static int split_url(tbd_http *h)
{
    struct http_parser_url u;
    http_parser_url_init(&u);
    if (!h->url || http_parser_parse_url(h->url, h->url_len, 0, &u) != 0)
        return -1;
    if (u.field_set & (1 << UF_PATH))
        h->req.path = pct_decode(h->url + u.field_data[UF_PATH].off, u.field_data[UF_PATH].len);
    else
        h->req.path = strdup("/");
    if (u.field_set & (1 << UF_QUERY))
        h->req.query = strndup(h->url + u.field_data[UF_QUERY].off, u.field_data[UF_QUERY].len);
    return h->req.path ? 0 : -1;
}

/* RFC 6455 §4.2.1 checks, then 101 and hand-over to the session. The
 * protocol-level checks (version, token) come after the upgrade, with close
 * codes, as wazo-websocketd does (DESIGN.md §3). */
int tbd_http_upgrade_check(const tbd_http_req *r, char accept[29], const char **why)
{
    if (r->method != HTTP_GET || !r->hdr[H_UPGRADE] || !has_token(r->hdr[H_UPGRADE], "websocket") ||
        !has_token(r->hdr[H_CONNECTION], "upgrade")) {
        *why = "not a websocket upgrade request";
        return 400;
    }
    if (!r->http11) {
        *why = "websocket upgrade needs HTTP/1.1 or later";
        return 400;
    }
    if (!r->hdr[H_WS_VERSION] || strcmp(r->hdr[H_WS_VERSION], "13") != 0) {
        *why = "unsupported Sec-WebSocket-Version";
        return 426;
    }
    if (!r->hdr[H_WS_KEY] || tb__ws_accept_key(r->hdr[H_WS_KEY], accept) < 0) {
        *why = "bad Sec-WebSocket-Key";
        return 400;
    }
    return 0;
}

static void upgrade(tbd_conn *c)
{
    tbd_http *h = c->http;
    tbd_http_req *r = &h->req;
    char accept[29];
    const char *why;
    int status = tbd_http_upgrade_check(r, accept, &why);
    if (status) {
        refuse(c, status, why);
        return;
    }
    char head[160];
    int hl = snprintf(head, sizeof(head),
                      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept);
    tbd_buf *b = tbd_buf_new((size_t)hl);
    if (!b) {
        tbd_conn_abort(c);
        return;
    }
    memcpy(b->data, head, (size_t)hl);
    tbd_conn_send(c, b);

    char *token = tbd_query_param(r->query, "token");
    if (!token && r->hdr[H_AUTH_TOKEN])
        token = strdup(r->hdr[H_AUTH_TOKEN]);
    char *version = tbd_query_param(r->query, "version");
    tbd_http_free(c);
    c->state = TBD_CONN_WS;
    tbd_session_begin(c, token, version);
    free(token);
    free(version);
}

tbd_http_event tbd_http_parse(tbd_http *h, const uint8_t *data, size_t len, size_t *used,
                              int *status, const char **why)
{
    *used = 0;
    if (HTTP_PARSER_ERRNO(&h->p) == HPE_PAUSED)
        return TBD_HTTP_MORE;   /* a completed request awaits tbd_http_parser_next */
    /* While the head is incomplete, hand the parser no more than the head
     * may still grow by: a head that completes within one read is then
     * bounded too, not only one that spans reads. */
    if (!h->headers_done) {
        if (h->head_bytes >= h->max_head) {
            *status = 431;
            *why = "request head too large";
            return TBD_HTTP_REFUSE;
        }
        if (len > h->max_head - h->head_bytes)
            len = h->max_head - h->head_bytes;
    }
    size_t n = http_parser_execute(&h->p, &settings, (const char *)data, len);
    enum http_errno e = HTTP_PARSER_ERRNO(&h->p);
    *used = n;
    if (!h->headers_done) {
        h->head_bytes += n;
        if (h->head_bytes >= h->max_head && e == HPE_OK) {
            *status = 431;
            *why = "request head too large";
            return TBD_HTTP_REFUSE;
        }
    }
    if (h->too_large) {
        *status = 413;
        *why = "body too large";
        return TBD_HTTP_REFUSE;
    }
    if (e != HPE_OK && e != HPE_PAUSED) {
        *status = 400;
        *why = http_errno_description(e);
        return TBD_HTTP_REFUSE;
    }
    if (h->p.upgrade || e == HPE_PAUSED) {
        if (split_url(h) < 0) {
            *status = 400;
            *why = "bad request target";
            return TBD_HTTP_REFUSE;
        }
        return h->p.upgrade ? TBD_HTTP_UPGRADE : TBD_HTTP_REQUEST;
    }
    return TBD_HTTP_MORE;
}

tbd_http_req *tbd_http_parsed(tbd_http *h)
{
    return &h->req;
}

void tbd_http_parser_next(tbd_http *h)
{
    req_reset(h, true);
    http_parser_pause(&h->p, 0);
}

ssize_t tbd_http_feed(tbd_conn *c, uint8_t *data, size_t len)
{
    tbd_http *h = c->http;
    if (h->busy)
        return 0;
    size_t n;
    int status = 0;
    const char *why = NULL;
    int r = tbd_http_parse(h, data, len, &n, &status, &why);
    if (h->want_continue && r != TBD_HTTP_REFUSE) {
        /* RFC 7231 §5.1.1: a client announcing a body with Expect:
         * 100-continue (curl does above 1 KiB) waits for this first. */
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        tbd_buf *b = tbd_buf_new(sizeof(cont) - 1);
        h->want_continue = false;
        if (b) {
            memcpy(b->data, cont, sizeof(cont) - 1);
            tbd_conn_send(c, b);
        }
    }
    switch (r) {
    case TBD_HTTP_REFUSE:
        refuse(c, status, why);
        return -1;
    case TBD_HTTP_UPGRADE:
        upgrade(c);
        return c->closed ? -1 : (ssize_t)n;
    case TBD_HTTP_REQUEST:
        h->busy = true;
        tbd_conn_pause(c);
        tbd_api_handle(c, &h->req);
        return (ssize_t)n;
    case TBD_HTTP_MORE:
        break;
    }
    return (ssize_t)n;
}

/* The response is written: go on with the next request. */
static void request_done(tbd_conn *c)
{
    tbd_http *h = c->http;
    /* Only once the response itself is written (not an interim 100). */
    if (!h || !h->busy || !h->responded)
        return;
    h->busy = false;
    h->responded = false;
    tbd_http_parser_next(h);
    c->deadline = tbd_now_ms(c->w) + (uint64_t)c->w->srv->cfg->limits.handshake_timeout * 1000;
    tbd_conn_resume(c);
}

/* ---- the phase's operations (net/conn.h) ---- */

static void http_sweep(tbd_conn *c, uint64_t now)
{
    if (!c->paused && now >= c->deadline) {
        TBD_STAT_INC(c->w, TBD_ST_HANDSHAKE_TIMEOUTS);
        tbd_log_debug("idle/handshake timeout peer=%s", c->peer);
        tbd_conn_abort(c);
    }
}

/* A request being handled (paused) finishes and answers first. */
static void http_stop(tbd_conn *c)
{
    if (!c->paused)
        tbd_conn_abort(c);
}

const tbd_conn_phase tbd_http_phase = {
    .name = "http", .feed = tbd_http_feed, .sweep = http_sweep, .stop = http_stop,
    .written = request_done,
};
