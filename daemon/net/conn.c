/* One TCP connection's I/O: reads, the outbound frame queue, closing.
 *
 * Reads land in the worker's shared buffer; only bytes left over (a partial
 * frame or request) are copied into the connection's own `in`, which is
 * freed as soon as it is empty, so an idle session holds no input buffer.
 * Writes: frames (shared refs) queue per connection; the worker's check
 * handle flushes each dirty connection with one uv_write of all its queued
 * frames (one writev) per loop iteration (DESIGN.md §7). A connection is
 * freed only from its close callback, when no async operation holds it.
 *
 * TLS (c->tls, tls.h): ciphertext read into the shared buffer is decrypted
 * record by record and the plaintext goes through the same input path. On
 * write, the queued frames (still shared) are encrypted at flush time into
 * one ciphertext block that replaces them at the head of the queue: it is
 * written and released like a frame, so ordering, the queue limit and the
 * in-flight bookkeeping are those of plain connections. */
#include <stdlib.h>
#include <string.h>
#include <utlist.h>

#include "net/conn.h"
#include "core/log.h"
#include "core/stats.h"
#include "core/worker.h"
#include "http/http_conn.h"
#include "ws/session.h"

static const tbd_conn_phase *const phases[TBD_CONN_N_PHASES] = {
    [TBD_CONN_HTTP] = &tbd_http_phase,
    [TBD_CONN_WS] = &tbd_ws_phase,
    [TBD_CONN_CLOSING] = &tbd_ws_closing_phase,
};

const tbd_conn_phase *tbd_conn_phase_of(const tbd_conn *c)
{
    return phases[c->state];
}

#define TBD_MAX_IOV 256
#define TBD_WREQ_KEEP 256

/* A write request lives only while a write is in flight: idle sessions do
 * not carry a uv_write_t (192 bytes); a per-worker free list recycles them. */
struct tbd_wreq {
    uv_write_t req;
    struct tbd_wreq *next;
};

static struct tbd_wreq *wreq_get(tbd_worker *w)
{
    struct tbd_wreq *r = w->wfree;
    if (r) {
        w->wfree = r->next;
        w->n_wfree--;
        return r;
    }
    return malloc(sizeof(*r));
}

static void wreq_put(tbd_worker *w, struct tbd_wreq *r)
{
    if (w->n_wfree >= TBD_WREQ_KEEP) {
        free(r);
        return;
    }
    r->next = w->wfree;
    w->wfree = r;
    w->n_wfree++;
}

void tbd_conn_free_wreqs(tbd_worker *w)
{
    while (w->wfree) {
        struct tbd_wreq *r = w->wfree;
        w->wfree = r->next;
        free(r);
    }
    w->n_wfree = 0;
}
#define TBD_CLOSE_WAIT_MS 2000

static void conn_free(tbd_conn *c)
{
    for (uint32_t i = 0; i < c->q_len; i++)
        tbd_buf_unref(c->q[(c->q_head + i) % c->q_cap]);
    free(c->q);
    free(c->in);
    tbd_tls_free(c->tls);
    if (c->http)
        tbd_http_free(c);
    tb__ws_reader_free(&c->rd);
    if (c->tok)
        tbd_token_unref(c->tok);
    for (uint16_t i = 0; i < c->n_subs; i++)
        free(c->subs[i]);
    free(c->subs);
    free(c);
}

void tbd_conn_unref(tbd_conn *c)
{
    if (--c->refs == 0)
        conn_free(c);
}

static void on_close(uv_handle_t *h)
{
    tbd_conn *c = h->data;
    tbd_worker *w = c->w;
    DL_DELETE(w->conns, c);
    if (c->dirty) {
        /* Not reachable in practice (flushes run before close callbacks in
         * the same iteration), but a dangling dirty entry would be fatal. */
        tbd_conn **pp = &w->dirty;
        while (*pp && *pp != c)
            pp = &(*pp)->dnext;
        if (*pp)
            *pp = c->dnext;
    }
    atomic_fetch_sub(&w->srv->n_conns, 1);
    tbd_conn_unref(c);
}

void tbd_conn_abort(tbd_conn *c)
{
    if (c->closed)
        return;
    const tbd_conn_phase *ph = phases[c->state];
    if (ph->leave)
        ph->leave(c);
    c->closed = true;
    if (c->tls && !c->writing) {
        /* Best effort, never waited for: close_notify (or the alert of a
         * failed handshake), unless a write in flight is mid-record. */
        tbd_tls_shutdown(c->tls);
        tbd_buf *b = tbd_tls_take(c->tls);
        if (b) {
            uv_buf_t ub = uv_buf_init((char *)b->data, b->len);
            uv_try_write((uv_stream_t *)&c->tcp, &ub, 1);
            tbd_buf_unref(b);
        }
    }
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_close((uv_handle_t *)&c->tcp, on_close);
}

static void mark_dirty(tbd_conn *c)
{
    if (c->dirty)
        return;
    c->dirty = true;
    c->dnext = c->w->dirty;
    c->w->dirty = c;
}

static int q_reserve(tbd_conn *c)
{
    if (c->q_len == c->q_cap) {
        uint32_t ncap = c->q_cap ? c->q_cap * 2 : 8;
        tbd_buf **nq = malloc(ncap * sizeof(*nq));
        if (!nq)
            return -1;
        for (uint32_t i = 0; i < c->q_len; i++)
            nq[i] = c->q[(c->q_head + i) % c->q_cap];
        free(c->q);
        c->q = nq;
        c->q_cap = ncap;
        c->q_head = 0;
    }
    return 0;
}

static int q_push(tbd_conn *c, tbd_buf *b)
{
    if (q_reserve(c) < 0)
        return -1;
    c->q[(c->q_head + c->q_len) % c->q_cap] = b;
    c->q_len++;
    c->q_bytes += b->len;
    mark_dirty(c);
    return 0;
}

/* Drops queued frames not yet handed to the kernel (a slow consumer's
 * backlog, before its close frame). */
static void q_drop_pending(tbd_conn *c)
{
    while (c->q_len > c->n_inflight) {
        uint32_t idx = (c->q_head + c->q_len - 1) % c->q_cap;
        c->q_bytes -= c->q[idx]->len;
        tbd_buf_unref(c->q[idx]);
        c->q_len--;
    }
}

int tbd_conn_send(tbd_conn *c, tbd_buf *b)
{
    if (!b)
        return -1;
    if (c->closed || c->state == TBD_CONN_CLOSING || c->slow) {
        tbd_buf_unref(b);
        return -1;
    }
    uint64_t limit = c->w->srv->cfg->limits.max_queue_bytes;
    if (c->state == TBD_CONN_WS && limit && c->q_bytes + b->len > limit) {
        /* Closed at the next flush, not here: routing is iterating the
         * index this session is in. */
        c->slow = true;
        mark_dirty(c);
        tbd_buf_unref(b);
        return -1;
    }
    if (q_push(c, b) < 0) {
        tbd_buf_unref(b);
        c->slow = true;
        mark_dirty(c);
        return -1;
    }
    return 0;
}

void tbd_conn_close_ws(tbd_conn *c, uint16_t code, const char *reason)
{
    if (c->closed || c->state == TBD_CONN_CLOSING)
        return;
    c->close_code = code;
    c->close_reason = reason;
    const tbd_conn_phase *ph = phases[c->state];
    if (ph->leave)
        ph->leave(c);
    static const uint16_t codes[] = {
#define X(n) n,
        TBD_CLOSE_CODES(X)
#undef X
    };
    for (unsigned i = 0; i < TBD_N_CLOSE_CODES; i++)
        if (codes[i] == code)
            atomic_fetch_add_explicit(&c->w->stats.closes[i], 1, memory_order_relaxed);
    if (c->slow)
        q_drop_pending(c);
    c->state = TBD_CONN_CLOSING;
    c->close_after_flush = true;
    c->deadline = tbd_now_ms(c->w) + TBD_CLOSE_WAIT_MS;
    tbd_buf *b = tbd_buf_close(code, reason);
    if (!b || q_push(c, b) < 0) {
        tbd_buf_unref(b);
        tbd_conn_abort(c);
    }
}

static void pop_written(tbd_conn *c, uint32_t n)
{
    for (uint32_t i = 0; i < n; i++) {
        tbd_buf *b = c->q[c->q_head];
        c->q_bytes -= b->len;
        tbd_buf_unref(b);
        c->q_head = (c->q_head + 1) % c->q_cap;
        c->q_len--;
    }
    if (c->q_len == 0) {
        /* An idle session keeps no queue array. */
        free(c->q);
        c->q = NULL;
        c->q_cap = c->q_head = 0;
    }
}

/* Everything queued so far is written and no write is in flight. Frames
 * queued meanwhile wait for the next flush (this iteration's check phase),
 * where they are merged into one write. */
static void on_shutdown(uv_shutdown_t *req, int status)
{
    tbd_conn *c = req->data;
    free(req);
    tbd_conn_unref(c);
}

/* Draining (session.c): the close frame is written; FIN after it, so the
 * peer reads it and closes, and our close then finds no unread input. */
static void shutdown_write(tbd_conn *c)
{
    uv_shutdown_t *req = malloc(sizeof(*req));
    c->shut_wr = true;
    if (!req || uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) < 0) {
        free(req);
        tbd_conn_abort(c);
        return;
    }
    req->data = c;
    c->refs++;
}

static void write_done(tbd_conn *c)
{
    if (c->closed)
        return;
    if (c->q_len || (c->tls && tbd_tls_pending(c->tls)))
        mark_dirty(c);
    else if (c->close_after_flush && (c->state == TBD_CONN_HTTP || c->peer_closed))
        tbd_conn_abort(c);
    else if (c->close_after_flush && c->draining && !c->shut_wr)
        shutdown_write(c);
    else if (phases[c->state]->written)
        phases[c->state]->written(c);
}

static void on_write(uv_write_t *req, int status)
{
    tbd_conn *c = req->data;
    wreq_put(c->w, (struct tbd_wreq *)req);
    pop_written(c, c->n_inflight);
    c->n_inflight = 0;
    c->writing = false;
    if (status < 0) {
        if (status != UV_ECANCELED)
            tbd_log_debug("write failed peer=%s: %s", c->peer, uv_strerror(status));
        tbd_conn_abort(c);
    } else {
        write_done(c);
    }
    tbd_conn_unref(c);
}

#define TBD_TLS_SEAL_MAX (256 * 1024)

/* TLS: encrypts queued frames, in order, after whatever OpenSSL has
 * produced itself (handshake, tickets, alerts), into one ciphertext block
 * that takes their place at the head of the queue; stops past
 * TBD_TLS_SEAL_MAX so a backlog is not encrypted all at once. Runs only
 * with no write in flight, when the queue holds plaintext frames only. The
 * frames are released here; the block stays queued until written. Returns
 * 1 if the head is now a block to write, 0 if there is nothing to write
 * (or the connection was aborted). */
static uint32_t tls_seal(tbd_conn *c)
{
    uint32_t k = 0;
    if (tbd_tls_ready(c->tls)) {
        while (k < c->q_len && tbd_tls_pending(c->tls) < TBD_TLS_SEAL_MAX) {
            tbd_buf *b = c->q[(c->q_head + k) % c->q_cap];
            if (tbd_tls_write(c->tls, b->data, b->len) < 0) {
                tbd_log_debug("TLS write failed peer=%s", c->peer);
                tbd_conn_abort(c);
                return 0;
            }
            k++;
        }
    }
    /* Frames cannot be queued before the handshake ends (requests come
     * after it); should one be, it waits behind the handshake bytes. */
    tbd_buf *out = tbd_tls_take(c->tls);
    if (!out)
        return 0;
    if (k == 0 && q_reserve(c) < 0) {
        tbd_buf_unref(out);
        tbd_conn_abort(c);
        return 0;
    }
    for (uint32_t i = 0; i < k; i++) {
        tbd_buf *b = c->q[(c->q_head + i) % c->q_cap];
        c->q_bytes -= b->len;
        tbd_buf_unref(b);
    }
    /* k frames out, one block in, at the head. */
    c->q_head = (c->q_head + c->q_cap + k - 1) % c->q_cap;
    c->q_len = c->q_len + 1 - k;
    c->q[c->q_head] = out;
    c->q_bytes += out->len;
    return 1;
}

/* Writes the queue: first straight to the socket (uv_try_write: one writev,
 * no request, no poll registration: the usual case, the kernel takes it
 * all), then, for what the socket did not take, a uv_write that completes
 * when it becomes writable. Measured on the broadcast benchmark: uv_write
 * alone cost one epoll_ctl per write on top of the writev. */
static void flush(tbd_conn *c)
{
    uv_buf_t bufs[TBD_MAX_IOV];
    while (!c->writing && !c->closed && (c->q_len || c->tls)) {
        uint32_t n = c->q_len < TBD_MAX_IOV ? c->q_len : TBD_MAX_IOV;
        if (c->tls && !(n = tls_seal(c)))
            return;
        for (uint32_t i = 0; i < n; i++) {
            tbd_buf *b = c->q[(c->q_head + i) % c->q_cap];
            bufs[i] = uv_buf_init((char *)b->data, b->len);
        }
        int w = uv_try_write((uv_stream_t *)&c->tcp, bufs, n);
        if (w == UV_EAGAIN)
            w = 0;
        if (w < 0) {
            tbd_log_debug("write failed peer=%s: %s", c->peer, uv_strerror(w));
            tbd_conn_abort(c);
            return;
        }
        size_t left = (size_t)w;
        uint32_t full = 0;
        while (full < n && left >= bufs[full].len)
            left -= bufs[full++].len;
        uint32_t rest = n - full;
        if (rest == 0) {
            pop_written(c, full);
            if (c->q_len == 0)
                write_done(c);
            continue;
        }
        /* The socket is full: hand the rest to libuv. The partly written
         * frame stays queued (and referenced) until the write completes. */
        struct tbd_wreq *wr = wreq_get(c->w);
        if (!wr) {
            tbd_conn_abort(c);
            return;
        }
        bufs[full].base += left;
        bufs[full].len -= left;
        c->refs++;
        wr->req.data = c;
        int r = uv_write(&wr->req, (uv_stream_t *)&c->tcp, bufs + full, rest, on_write);
        if (r < 0) {
            wreq_put(c->w, wr);
            c->refs--;
            tbd_log_debug("write failed peer=%s: %s", c->peer, uv_strerror(r));
            tbd_conn_abort(c);
            return;
        }
        /* Frames wholly written by the try are released now; on_write
         * releases the rest. */
        pop_written(c, full);
        c->n_inflight = rest;
        c->writing = true;
    }
}

void tbd_conn_flush_all(tbd_worker *w)
{
    while (w->dirty) {
        tbd_conn *c = w->dirty;
        w->dirty = c->dnext;
        c->dirty = false;
        c->dnext = NULL;
        if (c->closed)
            continue;
        if (c->slow && c->state == TBD_CONN_WS) {
            TBD_STAT_INC(w, TBD_ST_SLOW_CONSUMER_CLOSES);
            tbd_log_warn("slow consumer closed user=%s tenant=%s queued_bytes=%llu limit=%llu",
                     c->tok && c->tok->user_uuid ? c->tok->user_uuid : "-",
                     c->tok && c->tok->tenant_uuid ? c->tok->tenant_uuid : "-",
                     (unsigned long long)c->q_bytes,
                     (unsigned long long)w->srv->cfg->limits.max_queue_bytes);
            tbd_conn_close_ws(c, TB_WS_CLOSE_POLICY, "slow consumer");
            c->dirty = false; /* close_ws re-marked it; we flush right now */
            if (w->dirty == c)
                w->dirty = c->dnext;
        }
        flush(c);
    }
}

/* Feeds bytes to the current phase until it needs more, pauses or closes;
 * keeps what is left in c->in. `data` may be c->in itself. */
void tbd_conn_process_input(tbd_conn *c, uint8_t *data, size_t len)
{
    size_t off = 0;
    while (off < len && !c->closed && !c->paused) {
        ssize_t n = phases[c->state]->feed(c, data + off, len - off);
        if (n < 0 || c->closed)
            return;
        if (n == 0)
            break;
        off += (size_t)n;
    }
    size_t left = len - off;
    if (left == 0) {
        free(c->in);
        c->in = NULL;
        c->in_len = c->in_cap = 0;
        return;
    }
    if (data == c->in) {
        memmove(c->in, c->in + off, left);
    } else {
        if (c->in_cap < left) {
            uint8_t *n = realloc(c->in, left);
            if (!n) {
                tbd_conn_abort(c);
                return;
            }
            c->in = n;
            c->in_cap = (uint32_t)left;
        }
        memcpy(c->in, data + off, left);
    }
    c->in_len = (uint32_t)left;
}

/* TLS: decrypts what was read, record by record, into the input path.
 * Leftover plaintext (a partial frame, or input held while paused)
 * accumulates in c->in as for plain connections; no ciphertext is kept. */
static void tls_input(tbd_conn *c, const uint8_t *data, size_t len)
{
    static _Thread_local uint8_t plain[TBD_TLS_RECORD];
    char err[128];
    tbd_tls_input(c->tls, data, len);
    for (;;) {
        int n = tbd_tls_read(c->tls, plain, sizeof plain, err, sizeof err);
        if (n == 0)
            break;
        if (n < 0) {
            if (n == TBD_TLS_CLOSED)
                tbd_log_debug("TLS close_notify peer=%s", c->peer);
            else if (tbd_tls_ready(c->tls) || c->state != TBD_CONN_HTTP)
                tbd_log_info("TLS error peer=%s: %s", c->peer, err);
            else
                tbd_log_info("TLS handshake failed peer=%s: %s", c->peer, err);
            if (c->state == TBD_CONN_WS && !c->close_code)
                c->close_code = 1006;
            tbd_conn_abort(c);
            return;
        }
        if (c->in_len == 0) {
            tbd_conn_process_input(c, plain, (size_t)n);
        } else {
            size_t need = (size_t)c->in_len + (size_t)n;
            if (c->in_cap < need) {
                uint8_t *p = realloc(c->in, need);
                if (!p) {
                    tbd_conn_abort(c);
                    return;
                }
                c->in = p;
                c->in_cap = (uint32_t)need;
            }
            memcpy(c->in + c->in_len, plain, (size_t)n);
            c->in_len = (uint32_t)need;
            tbd_conn_process_input(c, c->in, c->in_len);
        }
        if (c->closed)
            return;
    }
    /* Handshake messages and tickets go out even with no frame queued. */
    if (tbd_tls_pending(c->tls))
        mark_dirty(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    tbd_conn *c = h->data;
    tbd_worker *w = c->w;
    if ((c->in_len == 0 || c->tls) && !w->rbuf_busy) {
        w->rbuf_busy = true;
        *buf = uv_buf_init((char *)w->rbuf, TBD_RBUF_SIZE);
        return;
    }
    if (c->tls) {
        /* c->in holds plaintext: ciphertext must not land after it. Not
         * reached: the shared buffer is only busy within on_read. */
        *buf = uv_buf_init(NULL, 0);
        return;
    }
    size_t need = (size_t)c->in_len + 16384;
    if (c->in_cap < need) {
        uint8_t *n = realloc(c->in, need);
        if (!n) {
            *buf = uv_buf_init(NULL, 0); /* libuv reports UV_ENOBUFS */
            return;
        }
        c->in = n;
        c->in_cap = (uint32_t)need;
    }
    *buf = uv_buf_init((char *)c->in + c->in_len, c->in_cap - c->in_len);
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    tbd_conn *c = s->data;
    tbd_worker *w = c->w;
    bool shared = buf->base == (char *)w->rbuf;
    if (nread < 0) {
        if (shared)
            w->rbuf_busy = false;
        if (c->state == TBD_CONN_WS && !c->close_code)
            c->close_code = 1006; /* peer went away without a close frame */
        tbd_conn_abort(c);
        return;
    }
    if (nread > 0)
        c->last_seen = tbd_now_ms(w);
    if (shared) {
        if (nread > 0 && c->tls)
            tls_input(c, w->rbuf, (size_t)nread);
        else if (nread > 0)
            tbd_conn_process_input(c, w->rbuf, (size_t)nread);
        w->rbuf_busy = false;
    } else if (nread > 0) {
        c->in_len += (uint32_t)nread;
        tbd_conn_process_input(c, c->in, c->in_len);
    }
    /* Bound what a connection that sends faster than it is served can hold:
     * the largest legitimate leftover is one frame or request head+body. */
    const tbd_limits *lim = &w->srv->cfg->limits;
    uint64_t cap = (lim->max_message_size > lim->max_body_size ? lim->max_message_size : lim->max_body_size)
                   + lim->max_header_size + TB_WS_MAX_HEADER;
    if (!c->closed && c->in_len > cap) {
        tbd_log_warn("input backlog over limit peer=%s bytes=%u", c->peer, c->in_len);
        tbd_conn_abort(c);
        return;
    }
    if (!c->closed && c->paused && c->reading) {
        uv_read_stop(s);
        c->reading = false;
    }
}

/* Stops input processing (and, after this read, reading) until resume:
 * used while an async step (auth lookup, HTTP response) must finish before
 * the next message is handled. Takes no ref: whoever resumes holds one. */
void tbd_conn_pause(tbd_conn *c)
{
    c->paused = true;
}

void tbd_conn_resume(tbd_conn *c)
{
    c->paused = false;
    /* Nothing was read while paused: the peer's silence only counts from here. */
    c->last_seen = tbd_now_ms(c->w);
    if (!c->closed) {
        if (c->in_len)
            tbd_conn_process_input(c, c->in, c->in_len);
        if (!c->closed && !c->paused && !c->reading) {
            uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
            c->reading = true;
        }
    }
}

void tbd_conn_accept(tbd_worker *w)
{
    tbd_conn *c = calloc(1, sizeof(*c));
    if (!c)
        return;
    uv_tcp_init(&w->loop, &c->tcp);
    c->tcp.data = c;
    c->w = w;
    c->refs = 1;
    c->state = TBD_CONN_HTTP;
    c->version = 1;
    c->opened_at = tbd_now_ms(w);
    c->deadline = c->opened_at + (uint64_t)w->srv->cfg->limits.handshake_timeout * 1000;
    DL_APPEND(w->conns, c);
    int n = atomic_fetch_add(&w->srv->n_conns, 1) + 1;
    if (uv_accept((uv_stream_t *)&w->listener, (uv_stream_t *)&c->tcp) < 0) {
        c->closed = true;
        uv_close((uv_handle_t *)&c->tcp, on_close);
        return;
    }
    struct sockaddr_storage ss;
    int sl = sizeof(ss);
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0) {
        char ip[40] = "?";
        int port = 0;
        if (ss.ss_family == AF_INET6) {
            uv_ip6_name((struct sockaddr_in6 *)&ss, ip, sizeof(ip));
            port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
        } else {
            uv_ip4_name((struct sockaddr_in *)&ss, ip, sizeof(ip));
            port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
        }
        snprintf(c->peer, sizeof(c->peer), "%s:%d", ip, port);
    }
    uv_tcp_nodelay(&c->tcp, 1);
    TBD_STAT_INC(w, TBD_ST_CONNS_ACCEPTED);
    if (tbd_http_begin(c) < 0) {
        tbd_conn_abort(c);
        return;
    }
    /* One load: SIGHUP may swap the context (tls_reload.c); SSL_new takes
     * its own reference before this callback returns. */
    tbd_tls_ctx *tls_ctx = __atomic_load_n(&w->srv->tls_ctx, __ATOMIC_ACQUIRE);
    if (tls_ctx && !(c->tls = tbd_tls_new(tls_ctx))) {
        tbd_log_error("TLS: cannot create a session for peer=%s (out of memory)", c->peer);
        tbd_conn_abort(c);
        return;
    }
    uint32_t max = w->srv->cfg->limits.max_connections;
    if (max && (uint32_t)n > max) {
        TBD_STAT_INC(w, TBD_ST_CONNS_REFUSED);
        tbd_log_warn("connection refused peer=%s: max_connections=%u reached", c->peer, max);
        if (c->tls) {
            /* A 503 would need the handshake first, i.e. reading. */
            tbd_conn_abort(c);
            return;
        }
        c->close_after_flush = true;
        tbd_http_respond(c, 503, "application/json",
                         "{\"error\":\"too many connections\"}", 32);
        return;
    }
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    c->reading = true;
}
