/* tenbus-bench: load generator for tenbusd. One epoll loop drives every
 * WebSocket session and the HTTP publisher connections, so the bench itself
 * costs one core at most and its measurements do not depend on thread
 * scheduling between its own parts. */
#define _GNU_SOURCE /* memmem, strcasestr, memrchr */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "ws_frame.h"

#ifndef IP_BIND_ADDRESS_NO_PORT
#define IP_BIND_ADDRESS_NO_PORT 24
#endif

#define NS 1000000000LL
#define RBUF_SIZE (1u << 20)
#define MAX_SERVER_FRAME (1u << 20)
#define SAMPLE_NS 100000000LL

enum scenario { SC_IDLE, SC_BROADCAST, SC_UNICAST, SC_MIXED };
static const char *const scenario_names[] = {"idle", "broadcast", "unicast", "mixed"};

enum { S_NONE, S_CONNECTING, S_UPGRADING, S_INIT, S_ACKS, S_READY, S_DEAD };
enum { EV_BCAST = 1, EV_UNI = 2 };

typedef struct conn {
    int fd;
    uint8_t state, acks;
    uint32_t rlen, rcap;       /* bytes of an incomplete frame kept between reads */
    char *rbuf;
    uint64_t got;
} conn;

/* What must happen to one published event: `remaining` deliveries to the
 * sessions of `target` (a tenant for EV_BCAST, a user for EV_UNI). */
typedef struct evrec {
    int64_t ts;
    int32_t remaining;
    uint32_t target;
    uint8_t kind;
} evrec;

typedef struct hconn {
    int fd;
    bool busy;
    char *out; size_t out_len, out_off, out_cap;
    char in[16384]; size_t in_len;
    uint32_t n_ev;
} hconn;

typedef struct sample {
    double t;                  /* seconds since the publish phase began */
    double ev_rate, dl_rate;   /* per second over the sample */
    double p50, p99, max;      /* latency, ms */
    double stall;              /* longest bench loop gap, ms */
} sample;

static struct opts {
    const char *spawn, *url, *tokens, *publisher_token, *write_tokens;
    const char *json, *plot, *perf, *subscribe, *event_name;
    const char *daemon_set[B_MAX_DAEMON_SET + 1]; /* NULL-terminated */
    int n_daemon_set;
    uint32_t sessions, tenants, batch, http_conns, concurrency, src_per_addr, payload;
    uint64_t window;           /* 0 = 100 per session (see --help) */
    int scenario, daemon_workers;
    double duration, rate, bshare, drain, settle, connect_timeout;
    uint64_t seed;
    bool verbose, keep, amqp;
    const char *amqp_exchange;
} O = {
    .sessions = 1000, .tenants = 1, .batch = 100, .http_conns = 2, .concurrency = 256,
    .src_per_addr = 20000, .window = 0, .scenario = SC_BROADCAST, .duration = 10,
    .rate = 0, .bshare = 0.01, .drain = 5, .settle = 2, .connect_timeout = 120, .seed = 1,
    .subscribe = "*", .event_name = "bench_event", .amqp_exchange = "wazo-headers",
};

static struct state {
    b_pop pop;
    b_daemon d;
    bool spawned;
    char host[64];
    int port;
    bool loopback;
    int ep;
    conn *c;
    hconn *h;
    char *rbuf;
    uint64_t rng;

    /* connect phase */
    uint32_t next_conn, inflight, n_ready, n_failed, n_closed_late;
    uint32_t close_codes[5000];
    char first_err[256];

    /* publish phase */
    evrec *ev; uint32_t n_ev, cap_ev;
    uint64_t ev_acked, outstanding, deliveries, unexpected, duplicates, unknown;
    uint64_t bad_frames, other_frames;
    int64_t t0, t_last_delivery, t_pub_end;
    bool publishing;
    hist total, iv;
    uint64_t iv_ev, iv_dl;
    int64_t iv_stall;          /* longest time the bench loop was not polling */
    sample *samples; size_t n_samples, cap_samples;
    uint32_t loud;
} G;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("tenbus-bench: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    if (G.spawned && G.d.pid > 0)
        daemon_stop(&G.d, 5);
    exit(2);
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n);
    if (!q)
        die("out of memory");
    return q;
}

static uint64_t rnd(void)
{
    /* xorshift64*: cheap and good enough to pick targets. */
    G.rng ^= G.rng >> 12;
    G.rng ^= G.rng << 25;
    G.rng ^= G.rng >> 27;
    return G.rng * 2685821657736338717ULL;
}

/* ---- WebSocket sessions ---------------------------------------------- */

static void sess_gone(uint32_t i, int code)
{
    conn *c = &G.c[i];
    if (c->state == S_DEAD)
        return;
    if (c->state == S_READY) {
        b_sess *s = &G.pop.sess[i];
        G.pop.tenants[s->tenant].n_ready--;
        G.pop.users[s->user].n_ready--;
        G.n_ready--;
        G.n_closed_late++;
    } else if (c->state != S_NONE) {
        G.inflight--;
        G.n_failed++;
    }
    if (code >= 0 && code < (int)(sizeof(G.close_codes) / sizeof(G.close_codes[0])))
        G.close_codes[code]++;
    c->state = S_DEAD;
    if (c->fd >= 0) {
        epoll_ctl(G.ep, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    free(c->rbuf);
    c->rbuf = NULL;
    c->rlen = c->rcap = 0;
}

static void sess_fail(uint32_t i, const char *why)
{
    if (!G.first_err[0])
        snprintf(G.first_err, sizeof(G.first_err), "session %u: %s", i, why);
    sess_gone(i, 0);
}

/* Client frames are tiny (commands, pongs) and the socket's send buffer is
 * empty when they go, so a short write means the connection is broken. */
static int sess_write(uint32_t i, const void *p, size_t len)
{
    ssize_t n = write(G.c[i].fd, p, len);
    if (n != (ssize_t)len) {
        sess_fail(i, n < 0 ? strerror(errno) : "short write");
        return -1;
    }
    return 0;
}

static int sess_send_frame(uint32_t i, int op, const void *payload, size_t len)
{
    uint8_t buf[TB_WS_MAX_HEADER + 256];
    if (len > 256)
        return -1;
    uint32_t r = (uint32_t)rnd();
    uint8_t mask[4] = {(uint8_t)r, (uint8_t)(r >> 8), (uint8_t)(r >> 16), (uint8_t)(r >> 24)};
    size_t h = tb__ws_write_header(buf, op, true, len, mask);
    memcpy(buf + h, payload, len);
    tb__ws_mask(buf + h, len, mask, 0);
    return sess_write(i, buf, h + len);
}

static void sess_connect(uint32_t i)
{
    conn *c = &G.c[i];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        die("socket: %s (raise the open files limit or lower --sessions)", strerror(errno));
    c->fd = fd;
    c->state = S_CONNECTING;
    G.inflight++;
    if (G.loopback) {
        /* One source address gives ~28k ports towards one destination; each
         * block of --src-per-addr sessions gets its own 127.0.0.x. Without
         * IP_BIND_ADDRESS_NO_PORT, bind() would reserve a port for every
         * destination and exhaust them much earlier. */
        int one = 1;
        setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
        struct sockaddr_in src = {.sin_family = AF_INET};
        src.sin_addr.s_addr = htonl(0x7f000001u + i / O.src_per_addr);
        if (bind(fd, (struct sockaddr *)&src, sizeof(src)) < 0) {
            sess_fail(i, strerror(errno));
            return;
        }
    }
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)G.port)};
    inet_pton(AF_INET, G.host, &dst.sin_addr);
    if (connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0 && errno != EINPROGRESS) {
        sess_fail(i, strerror(errno));
        return;
    }
    struct epoll_event e = {.events = EPOLLOUT, .data.u64 = i};
    if (epoll_ctl(G.ep, EPOLL_CTL_ADD, fd, &e) < 0)
        die("epoll_ctl: %s", strerror(errno));
}

static void key_for(uint32_t i, char out[25])
{
    uint8_t raw[16];
    for (int k = 0; k < 16; k += 8) {
        uint64_t r = rnd() ^ i;
        memcpy(raw + k, &r, 8);
    }
    EVP_EncodeBlock((unsigned char *)out, raw, 16);
}

static void sess_connected(uint32_t i)
{
    conn *c = &G.c[i];
    int err = 0;
    socklen_t el = sizeof(err);
    getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
    if (err) {
        sess_fail(i, strerror(err));
        return;
    }
    char key[25], req[1024];
    key_for(i, key);
    int n = snprintf(req, sizeof(req),
                     "GET /?token=%s&version=2 HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                     "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n",
                     G.pop.sess[i].token, G.host, G.port, key);
    if (sess_write(i, req, (size_t)n) < 0)
        return;
    /* The accept key is checked against this one when the 101 arrives. */
    c->rbuf = xrealloc(NULL, 256);
    c->rcap = 256;
    memcpy(c->rbuf, key, 25);
    c->rlen = 0;
    c->state = S_UPGRADING;
    struct epoll_event e = {.events = EPOLLIN, .data.u64 = i};
    epoll_ctl(G.ep, EPOLL_CTL_MOD, c->fd, &e);
}

static void sess_ready(uint32_t i)
{
    b_sess *s = &G.pop.sess[i];
    G.c[i].state = S_READY;
    G.inflight--;
    G.n_ready++;
    G.pop.tenants[s->tenant].n_ready++;
    G.pop.users[s->user].n_ready++;
}

static void loud(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void loud(const char *fmt, ...)
{
    if (G.loud++ >= 20)
        return;
    va_list ap;
    va_start(ap, fmt);
    fputs("tenbus-bench: !!! ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

/* Finds `"key":` and parses the integer after it; the daemon writes compact
 * JSON, and the bench names its fields so they occur nowhere else. */
static bool find_int(const char *p, size_t len, const char *key, size_t klen, int64_t *out)
{
    const char *k = memmem(p, len, key, klen);
    if (!k)
        return false;
    const char *q = k + klen, *end = p + len;
    while (q < end && *q == ' ')
        q++;
    int64_t v = 0;
    bool any = false;
    while (q < end && *q >= '0' && *q <= '9') {
        v = v * 10 + (*q++ - '0');
        any = true;
    }
    *out = v;
    return any;
}

static void on_event(uint32_t i, const char *p, size_t len, int64_t now)
{
    int64_t seq, ts;
    if (!find_int(p, len, "\"tbseq\":", 8, &seq) || !find_int(p, len, "\"tbts\":", 7, &ts)) {
        G.other_frames++;
        return;
    }
    b_sess *s = &G.pop.sess[i];
    if (seq < 0 || (uint64_t)seq >= G.n_ev) {
        G.unknown++;
        G.unexpected++;
        loud("session %u (tenant %s) got event seq %lld that was never published", i,
             G.pop.tenants[s->tenant].uuid, (long long)seq);
        return;
    }
    evrec *e = &G.ev[seq];
    bool mine = e->kind == EV_BCAST ? s->tenant == e->target : s->user == e->target;
    if (!mine) {
        G.unexpected++;
        loud("WRONG DELIVERY (tenant isolation): seq %lld for %s %s reached session %u of "
             "tenant %s user %s", (long long)seq, e->kind == EV_BCAST ? "tenant" : "user",
             e->kind == EV_BCAST ? G.pop.tenants[e->target].uuid : G.pop.users[e->target].uuid, i,
             G.pop.tenants[s->tenant].uuid, G.pop.users[s->user].uuid);
        return;
    }
    if (--e->remaining < 0) {
        G.duplicates++;
        G.unexpected++;
        loud("duplicate delivery of seq %lld to session %u", (long long)seq, i);
        return;
    }
    G.outstanding--;
    G.deliveries++;
    G.iv_dl++;
    G.c[i].got++;
    G.t_last_delivery = now;
    uint64_t lat = now > ts ? (uint64_t)(now - ts) : 0;
    hist_add(&G.iv, lat);
}

static void on_text(uint32_t i, const char *p, size_t len, int64_t now)
{
    conn *c = &G.c[i];
    if (c->state == S_READY) {
        on_event(i, p, len, now);
        return;
    }
    if (c->state == S_INIT) {
        if (!memmem(p, len, "\"op\":\"init\"", 11)) {
            sess_fail(i, "first frame is not init");
            return;
        }
        char sub[256];
        int n = snprintf(sub, sizeof(sub), "{\"op\":\"subscribe\",\"data\":{\"event_name\":\"%s\"}}",
                         O.subscribe);
        static const char start[] = "{\"op\":\"start\"}";
        if (sess_send_frame(i, TB_WS_OP_TEXT, sub, (size_t)n) == 0)
            sess_send_frame(i, TB_WS_OP_TEXT, start, sizeof(start) - 1);
        if (c->state == S_INIT)
            c->state = S_ACKS;
        return;
    }
    if (c->state == S_ACKS) {
        bool ok = memmem(p, len, "\"code\":0", 8) != NULL;
        if (memmem(p, len, "\"op\":\"subscribe\"", 16))
            c->acks |= ok ? 1 : 4;
        else if (memmem(p, len, "\"op\":\"start\"", 12))
            c->acks |= ok ? 2 : 4;
        if (c->acks & 4)
            sess_fail(i, "subscribe or start refused");
        else if (c->acks == 3)
            sess_ready(i);
    }
}

/* Parses the server frames in buf; returns the bytes consumed. Server frames
 * are parsed here rather than with tb__ws_reader: the daemon's framing is tested
 * elsewhere, and skipping UTF-8 validation keeps the single receiving core
 * for counting deliveries. */
static size_t on_frames(uint32_t i, char *buf, size_t len, int64_t now)
{
    size_t off = 0;
    while (G.c[i].state != S_DEAD) {
        const uint8_t *p = (const uint8_t *)buf + off;
        size_t left = len - off;
        if (left < 2)
            break;
        if ((p[0] & 0x70) || !(p[0] & 0x80) || (p[1] & 0x80)) {
            G.bad_frames++;
            sess_fail(i, "unexpected frame header (RSV, fragmented or masked)");
            break;
        }
        uint64_t pl = p[1] & 0x7f;
        size_t h = 2;
        if (pl == 126) {
            if (left < 4)
                break;
            pl = (uint64_t)p[2] << 8 | p[3];
            h = 4;
        } else if (pl == 127) {
            if (left < 10)
                break;
            pl = 0;
            for (int k = 2; k < 10; k++)
                pl = pl << 8 | p[k];
            h = 10;
        }
        if (pl > MAX_SERVER_FRAME) {
            G.bad_frames++;
            sess_fail(i, "server frame too large");
            break;
        }
        if (left - h < pl)
            break;
        int op = p[0] & 0x0f;
        const char *payload = (const char *)p + h;
        off += h + pl;
        if (op == TB_WS_OP_TEXT) {
            on_text(i, payload, pl, now);
        } else if (op == TB_WS_OP_PING) {
            sess_send_frame(i, TB_WS_OP_PONG, payload, pl);
        } else if (op == TB_WS_OP_CLOSE) {
            int code = pl >= 2 ? ((uint8_t)payload[0] << 8 | (uint8_t)payload[1]) : 1005;
            if (G.c[i].state != S_READY && !G.first_err[0])
                snprintf(G.first_err, sizeof(G.first_err), "session %u closed by the daemon: %d %.*s",
                         i, code, (int)(pl > 2 ? pl - 2 : 0), payload + 2);
            sess_gone(i, code);
        } else if (op != TB_WS_OP_PONG) {
            G.other_frames++;
        }
    }
    return off;
}

/* The 101 response: status, accept key, then any frames already behind it. */
static size_t on_upgrade(uint32_t i, char *buf, size_t len, int64_t now)
{
    conn *c = &G.c[i];
    char *end = memmem(buf, len, "\r\n\r\n", 4);
    if (!end) {
        if (len > 4096)
            sess_fail(i, "handshake response too long");
        return 0;
    }
    size_t hl = (size_t)(end - buf) + 4;
    if (len < 12 || memcmp(buf, "HTTP/1.1 101", 12) != 0) {
        char why[160];
        char *eol = memchr(buf, '\r', len);
        snprintf(why, sizeof(why), "upgrade refused: %.*s", (int)(eol ? eol - buf : 40), buf);
        sess_fail(i, why);
        return hl;
    }
    char want[29];
    tb__ws_accept_key(c->rbuf, want);
    if (!memmem(buf, hl, want, 28)) {
        sess_fail(i, "wrong Sec-WebSocket-Accept");
        return hl;
    }
    c->state = S_INIT;
    return hl + on_frames(i, buf + hl, len - hl, now);
}

static void sess_readable(uint32_t i, int64_t now)
{
    conn *c = &G.c[i];
    char *buf = G.rbuf;
    size_t have = 0;
    if (c->state == S_UPGRADING) {
        /* rbuf holds the key (25 bytes) then the partial response. */
        memcpy(buf, c->rbuf + 25, c->rlen);
    } else {
        memcpy(buf, c->rbuf, c->rlen);
    }
    have = c->rlen;
    ssize_t n = read(c->fd, buf + have, RBUF_SIZE - have);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            return;
        sess_fail(i, n == 0 ? "connection closed by the daemon" : strerror(errno));
        return;
    }
    have += (size_t)n;
    size_t used = c->state == S_UPGRADING ? on_upgrade(i, buf, have, now) : on_frames(i, buf, have, now);
    if (c->state == S_DEAD)
        return;
    size_t left = have - used;
    size_t off = c->state == S_UPGRADING ? 25 : 0;
    if (left + off > c->rcap) {
        c->rcap = (uint32_t)(left + off);
        c->rbuf = xrealloc(c->rbuf, c->rcap);
    }
    memcpy(c->rbuf + off, buf + used, left);
    c->rlen = (uint32_t)left;
}

/* ---- HTTP publisher --------------------------------------------------- */

static void h_reserve(hconn *h, size_t more)
{
    if (h->out_len + more > h->out_cap) {
        while (h->out_len + more > h->out_cap)
            h->out_cap = h->out_cap ? h->out_cap * 2 : 65536;
        h->out = xrealloc(h->out, h->out_cap);
    }
}


static uint32_t pick(int kind)
{
    /* Only targets with a ready session: an event nobody may receive would
     * test nothing. A few tries, then give up on this event. */
    for (int tries = 0; tries < 64; tries++) {
        if (kind == EV_BCAST) {
            uint32_t t = (uint32_t)(rnd() % G.pop.n_tenants);
            if (G.pop.tenants[t].n_ready)
                return t;
        } else {
            uint32_t u = (uint32_t)(rnd() % G.pop.n_users);
            if (G.pop.users[u].n_ready)
                return u;
        }
    }
    return UINT32_MAX;
}

static void h_flush(uint32_t k)
{
    hconn *h = &G.h[k];
    while (h->out_off < h->out_len) {
        ssize_t n = write(h->fd, h->out + h->out_off, h->out_len - h->out_off);
        if (n < 0) {
            if (errno == EAGAIN || errno == EINTR)
                break;
            die("publisher connection %u: write: %s", k, strerror(errno));
        }
        h->out_off += (size_t)n;
    }
    struct epoll_event e = {.events = EPOLLIN | (h->out_off < h->out_len ? EPOLLOUT : 0),
                            .data.u64 = (1ULL << 32) | k};
    epoll_ctl(G.ep, EPOLL_CTL_MOD, h->fd, &e);
}

static char *pad_str;

typedef struct picked {
    uint32_t seq;
    const b_user *u;           /* NULL for a tenant (broadcast) event */
    const char *tenant;
} picked;

/* Chooses the next event of the scenario and records what must receive it.
 * 1: picked; 0: no target with a ready session (skip); -1: the window is
 * full (end the batch). */
static int next_event(bool windowed, uint32_t sent, uint64_t *batch_expect, int64_t now, picked *pk)
{
    int kind = O.scenario == SC_BROADCAST ? EV_BCAST
             : O.scenario == SC_UNICAST   ? EV_UNI
             : ((double)(rnd() >> 11) / 9007199254740992.0 < O.bshare ? EV_BCAST : EV_UNI);
    uint32_t t = pick(kind);
    if (t == UINT32_MAX)
        return 0;
    uint32_t expect = kind == EV_BCAST ? G.pop.tenants[t].n_ready : G.pop.users[t].n_ready;
    /* A quarter of the window per POST: the next batch can go while this
     * one is still being delivered, so the pipeline never runs dry. */
    if (windowed && sent > 0 &&
        (G.outstanding + expect > O.window || *batch_expect + expect > O.window / 4))
        return -1;
    *batch_expect += expect;
    if (G.n_ev == G.cap_ev) {
        G.cap_ev = G.cap_ev ? G.cap_ev * 2 : 65536;
        G.ev = xrealloc(G.ev, G.cap_ev * sizeof(*G.ev));
    }
    pk->seq = G.n_ev++;
    G.ev[pk->seq] = (evrec){.ts = now, .remaining = (int32_t)expect, .target = t, .kind = (uint8_t)kind};
    G.outstanding += expect;
    pk->u = kind == EV_UNI ? &G.pop.users[t] : NULL;
    pk->tenant = G.pop.tenants[pk->u ? pk->u->tenant : t].uuid;
    return 1;
}

static void h_send_batch(uint32_t k, uint32_t n, bool windowed, int64_t now)
{
    static char *body;
    static size_t body_cap;
    size_t blen = 0;
    hconn *h = &G.h[k];
    uint32_t sent = 0;
    uint64_t batch_expect = 0;
    for (uint32_t j = 0; j < n; j++) {
        picked pk;
        int r = next_event(windowed, sent, &batch_expect, now, &pk);
        if (r < 0)
            break;
        if (r == 0)
            continue;
        if (blen + 512 + O.payload > body_cap) {
            body_cap = (blen + 512 + O.payload) * 2;
            body = xrealloc(body, body_cap);
        }
        const b_user *u = pk.u;
        blen += (size_t)snprintf(body + blen, body_cap - blen,
                                 "%s{\"name\":\"%s\",\"tenant_uuid\":\"%s\"%s%s%s,"
                                 "\"data\":{\"tbseq\":%u,\"tbts\":%lld%s%s%s}}",
                                 sent ? "," : "[", O.event_name, pk.tenant,
                                 u ? ",\"user_uuid\":\"" : "", u ? u->uuid : "", u ? "\"" : "",
                                 pk.seq, (long long)now, pad_str ? ",\"pad\":\"" : "",
                                 pad_str ? pad_str : "", pad_str ? "\"" : "");
        sent++;
    }
    if (!sent)
        return;
    body[blen++] = ']';
    h->out_len = h->out_off = 0;
    h_reserve(h, blen + 512);
    h->out_len = (size_t)snprintf(h->out, h->out_cap,
                                  "POST /api/events HTTP/1.1\r\nHost: %s:%d\r\nX-Auth-Token: %s\r\n"
                                  "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n",
                                  G.host, G.port, G.pop.publisher, blen);
    memcpy(h->out + h->out_len, body, blen);
    h->out_len += blen;
    h->busy = true;
    h->n_ev = sent;
    h_flush(k);
}

/* --publish-amqp: the same events, straight to the exchange (no HTTP API);
 * counted as published once handed to the broker connection. */
static void a_send_batch(uint32_t n, bool windowed, int64_t now)
{
    uint32_t sent = 0;
    uint64_t batch_expect = 0;
    for (uint32_t j = 0; j < n; j++) {
        picked pk;
        int r = next_event(windowed, sent, &batch_expect, now, &pk);
        if (r < 0)
            break;
        if (r == 0)
            continue;
        if (amqp_pub_event(O.event_name, pk.tenant, pk.u ? pk.u->uuid : NULL, pk.seq, now) < 0)
            die("AMQP publish failed");
        sent++;
    }
    G.ev_acked += sent;
    G.iv_ev += sent;
}

static void h_readable(uint32_t k)
{
    hconn *h = &G.h[k];
    ssize_t n = read(h->fd, h->in + h->in_len, sizeof(h->in) - 1 - h->in_len);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0)
        die("publisher connection %u closed by the daemon%s%s", k, n < 0 ? ": " : "",
            n < 0 ? strerror(errno) : "");
    h->in_len += (size_t)n;
    h->in[h->in_len] = 0;
    char *end = strstr(h->in, "\r\n\r\n");
    if (!end)
        return;
    int code = 0;
    size_t cl = 0;
    sscanf(h->in, "HTTP/1.%*d %d", &code);
    char *p = strcasestr(h->in, "\r\ncontent-length:");
    if (p && p < end)
        cl = strtoul(p + 17, NULL, 10);
    size_t total = (size_t)(end - h->in) + 4 + cl;
    if (h->in_len < total)
        return;
    if (code != 202)
        die("publish refused: HTTP %d: %.*s", code, (int)cl, end + 4);
    G.ev_acked += h->n_ev;
    G.iv_ev += h->n_ev;
    h->busy = false;
    memmove(h->in, h->in + total, h->in_len - total);
    h->in_len -= total;
}

static void h_open(uint32_t k)
{
    hconn *h = &G.h[k];
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in dst = {.sin_family = AF_INET, .sin_port = htons((uint16_t)G.port)};
    inet_pton(AF_INET, G.host, &dst.sin_addr);
    if (fd < 0 || connect(fd, (struct sockaddr *)&dst, sizeof(dst)) < 0)
        die("publisher connection: %s", strerror(errno));
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    h->fd = fd;
    struct epoll_event e = {.events = EPOLLIN, .data.u64 = (1ULL << 32) | k};
    if (epoll_ctl(G.ep, EPOLL_CTL_ADD, fd, &e) < 0)
        die("epoll_ctl: %s", strerror(errno));
}

/* ---- the loop ---------------------------------------------------------- */

static void loop_once(int timeout_ms)
{
    static struct epoll_event evs[1024];
    int64_t t_call = now_ns();
    int n = epoll_wait(G.ep, evs, 1024, timeout_ms);
    if (n < 0 && errno != EINTR)
        die("epoll_wait: %s", strerror(errno));
    /* A wait that overran its timeout, or a long pass over the events, is
     * time the bench was not receiving: recorded so that a gap in the
     * deliveries can be told apart from a daemon stall. */
    int64_t t_ret = now_ns();
    int64_t over = (t_ret - t_call) - (int64_t)timeout_ms * 1000000;
    if (over > G.iv_stall)
        G.iv_stall = over;
    for (int j = 0; j < n; j++) {
        uint64_t tag = evs[j].data.u64;
        uint32_t ev = evs[j].events;
        if (tag >> 32) {
            uint32_t k = (uint32_t)tag;
            if (ev & EPOLLOUT)
                h_flush(k);
            if (ev & (EPOLLIN | EPOLLERR | EPOLLHUP))
                h_readable(k);
            continue;
        }
        uint32_t i = (uint32_t)tag;
        if (G.c[i].state == S_CONNECTING)
            sess_connected(i);
        else if (G.c[i].state != S_DEAD)
            sess_readable(i, now_ns());
    }
    int64_t busy = now_ns() - t_ret;
    if (busy > G.iv_stall)
        G.iv_stall = busy;
}

static void take_sample(int64_t at, double dt)
{
    if (G.n_samples == G.cap_samples) {
        G.cap_samples = G.cap_samples ? G.cap_samples * 2 : 1024;
        G.samples = xrealloc(G.samples, G.cap_samples * sizeof(*G.samples));
    }
    G.samples[G.n_samples++] = (sample){
        .t = (double)(at - G.t0) / 1e9,
        .ev_rate = (double)G.iv_ev / dt, .dl_rate = (double)G.iv_dl / dt,
        .p50 = (double)hist_quantile(&G.iv, 0.5) / 1e6,
        .p99 = (double)hist_quantile(&G.iv, 0.99) / 1e6,
        .max = (double)G.iv.max / 1e6,
        .stall = (double)G.iv_stall / 1e6,
    };
    G.iv_stall = 0;
    hist_merge(&G.total, &G.iv);
    hist_reset(&G.iv);
    G.iv_ev = G.iv_dl = 0;
}

static void check_daemon(void)
{
    int st = 0;
    if (G.spawned && !daemon_alive(&G.d, &st)) {
        if (WIFSIGNALED(st))
            die("!!! THE DAEMON DIED with signal %d (%s); log: %s", WTERMSIG(st), strsignal(WTERMSIG(st)),
                G.d.log);
        die("!!! the daemon exited with status %d; log: %s", WEXITSTATUS(st), G.d.log);
    }
}

static void connect_phase(double *secs)
{
    int64_t t0 = now_ns(), last = t0, deadline = t0 + (int64_t)(O.connect_timeout * 1e9);
    uint32_t n = G.pop.n_sess;
    while (G.n_ready + G.n_failed + G.n_closed_late < n) {
        while (G.inflight < O.concurrency && G.next_conn < n)
            sess_connect(G.next_conn++);
        loop_once(10);
        int64_t now = now_ns();
        if (now - last >= NS) {
            last = now;
            check_daemon();
            fprintf(stderr, "connect: %u/%u ready, %u failed, %u in flight, %.0f/s\n", G.n_ready, n,
                    G.n_failed, G.inflight, G.n_ready / ((double)(now - t0) / 1e9));
        }
        if (now > deadline) {
            fprintf(stderr, "tenbus-bench: connect phase timed out after %.0f s with %u in flight\n",
                    O.connect_timeout, G.inflight);
            for (uint32_t i = 0; i < G.next_conn; i++)
                if (G.c[i].state != S_READY && G.c[i].state != S_DEAD)
                    sess_fail(i, "timed out");
            break;
        }
    }
    *secs = (double)(now_ns() - t0) / 1e9;
    if (G.first_err[0])
        fprintf(stderr, "tenbus-bench: first session error: %s\n", G.first_err);
}

/* Keeps the sessions serviced (pings) while nothing is measured. */
static void idle_for(double s)
{
    int64_t end = now_ns() + (int64_t)(s * 1e9);
    while (now_ns() < end)
        loop_once(50);
}

static pid_t perf_start(void)
{
    if (!O.perf || !G.spawned)
        return 0;
    pid_t p = fork();
    if (p == 0) {
        char pid[16];
        snprintf(pid, sizeof(pid), "%d", (int)G.d.pid);
        int devnull = open("/dev/null", O_WRONLY);
        if (devnull >= 0)
            dup2(devnull, 1);
        execlp("perf", "perf", "record", "-q", "-g", "-o", O.perf, "-p", pid, (char *)NULL);
        _exit(127);
    }
    usleep(300000);   /* let perf attach before the load starts */
    return p;
}

static void perf_stop(pid_t p)
{
    if (p <= 0)
        return;
    kill(p, SIGINT);
    int st;
    waitpid(p, &st, 0);
    /* perf re-raises the SIGINT it was stopped with once its file is written. */
    bool ok = (WIFEXITED(st) && WEXITSTATUS(st) == 0) || (WIFSIGNALED(st) && WTERMSIG(st) == SIGINT);
    if (!ok)
        fprintf(stderr, "tenbus-bench: perf record failed (status %d)\n", st);
    else
        fprintf(stderr, "perf data: %s (perf report -i %s --no-children)\n", O.perf, O.perf);
}

/* How many events to send now: at a fixed rate, what is due by the clock
 * (at most a batch); flat out, a batch while the window has room (the
 * batch itself then stops at the window). 0 = nothing now. */
static uint32_t batch_due(int64_t now)
{
    if (O.rate > 0) {
        int64_t due = (int64_t)(O.rate * (double)(now - G.t0) / 1e9) - (int64_t)G.n_ev;
        return due <= 0 ? 0 : (uint32_t)(due < O.batch ? due : O.batch);
    }
    return G.outstanding < O.window ? O.batch : 0;
}

static void publish_phase(void)
{
    G.h = calloc(O.http_conns, sizeof(*G.h));
    for (uint32_t k = 0; !O.amqp && k < O.http_conns; k++)
        h_open(k);
    if (O.amqp && amqp_pub_open("127.0.0.1", 5672, O.amqp_exchange) < 0)
        die("--publish-amqp: no broker");
    hist_reset(&G.total);
    hist_reset(&G.iv);
    G.publishing = true;
    G.t0 = now_ns();
    int64_t t_end = G.t0 + (int64_t)(O.duration * 1e9), next_sample = G.t0 + SAMPLE_NS,
            last = G.t0;
    uint64_t last_dl = 0, last_ev = 0;
    bool issuing = true;
    int64_t drain_end = 0;
    for (;;) {
        int64_t now = now_ns();
        if (issuing && now >= t_end)
            issuing = false;
        bool idle = true;
        uint32_t n;
        if (O.amqp && issuing) {
            if ((n = batch_due(now)))
                a_send_batch(n, O.rate <= 0, now);
            idle = false;
        }
        for (uint32_t k = 0; !O.amqp && k < O.http_conns; k++) {
            if (G.h[k].busy) {
                idle = false;
                continue;
            }
            if (!issuing)
                continue;
            if (!(n = batch_due(now)))
                break;
            h_send_batch(k, n, O.rate <= 0, now);
            idle = false;
        }
        if (!issuing && idle) {
            if (!drain_end) {
                G.t_pub_end = now;
                drain_end = now + (int64_t)(O.drain * 1e9);
            }
            if (G.outstanding == 0 || now >= drain_end)
                break;
        }
        loop_once(O.rate > 0 ? 1 : 10);
        now = now_ns();
        while (now >= next_sample) {
            take_sample(next_sample, (double)SAMPLE_NS / 1e9);
            next_sample += SAMPLE_NS;
        }
        if (now - last >= NS) {
            double dt = (double)(now - last) / 1e9;
            check_daemon();
            fprintf(stderr, "publish: t=%.0fs events %.0f/s deliveries %.0f/s outstanding %llu "
                            "sessions %u\n", (double)(now - G.t0) / 1e9, (double)(G.ev_acked - last_ev) / dt,
                    (double)(G.deliveries - last_dl) / dt, (unsigned long long)G.outstanding, G.n_ready);
            last = now;
            last_dl = G.deliveries;
            last_ev = G.ev_acked;
        }
    }
    /* The last, partial interval: rates over its real length. */
    int64_t end = now_ns();
    take_sample(end, (double)(end - (next_sample - SAMPLE_NS)) / 1e9);
    G.publishing = false;
    if (O.amqp)
        amqp_pub_close();
}

/* ---- reporting --------------------------------------------------------- */

typedef struct results {
    double connect_s, sessions_per_s;
    long rss_before, rss_after;
    double pub_s, events_per_s, deliveries_per_s, expected, lost;
    double cpu_daemon, cpu_bench;
    double load_start, load_end;
    double idle_cpu;                 /* daemon CPU s per s while idle */
    uint64_t p50, p99, p999, max;
} results;

static void write_plot(const char *prefix)
{
    char dat[4096], gp[4096];
    snprintf(dat, sizeof(dat), "%s.dat", prefix);
    snprintf(gp, sizeof(gp), "%s.gp", prefix);
    FILE *f = fopen(dat, "w");
    if (!f)
        die("%s: %s", dat, strerror(errno));
    fprintf(f, "# t_s events_per_s deliveries_per_s p50_ms p99_ms max_ms bench_stall_ms (per 100 ms)\n");
    for (size_t i = 0; i < G.n_samples; i++) {
        const sample *s = &G.samples[i];
        fprintf(f, "%.2f %.0f %.0f %.4f %.4f %.4f %.4f\n", s->t, s->ev_rate, s->dl_rate, s->p50, s->p99, s->max,
                s->stall);
    }
    fclose(f);
    if (!(f = fopen(gp, "w")))
        die("%s: %s", gp, strerror(errno));
    /* Latency on a log axis: p50 and max differ by orders of magnitude. */
    fprintf(f,
            "set terminal pngcairo size 1200,600 noenhanced\n"
            "set grid\nset key top left\nset xlabel 'time since publishing began (s)'\n"
            "set output '%s-latency.png'\n"
            "set title 'tenbus-bench %s: publish-to-receipt latency per 100 ms'\n"
            "set ylabel 'latency (ms)'\nset logscale y\n"
            "plot '%s' using 1:($4>0?$4:NaN) with lines lw 2 title 'p50', "
            "'' using 1:($5>0?$5:NaN) with lines lw 2 title 'p99', "
            "'' using 1:($6>0?$6:NaN) with lines title 'max'\n"
            "unset logscale y\n"
            "set output '%s-rate.png'\n"
            /* Two panels rather than two y axes: with one event reaching
             * 10,000 sessions the two rates differ by orders of magnitude. */
            "set multiplot layout 2,1 title 'tenbus-bench %s: throughput per 100 ms'\n"
            "unset title\nunset xlabel\nset yrange [0:*]\nset ylabel 'deliveries/s'\n"
            "plot '%s' using 1:3 with lines lw 2 title 'deliveries/s'\n"
            "set xlabel 'time since publishing began (s)'\nset ylabel 'events/s'\n"
            "plot '%s' using 1:2 with lines lw 2 lc 2 title 'events/s (accepted by the API)'\n"
            "unset multiplot\n",
            prefix, scenario_names[O.scenario], dat, prefix, scenario_names[O.scenario], dat, dat);
    fclose(f);
    char cmd[8300];
    snprintf(cmd, sizeof(cmd), "gnuplot '%s'", gp);
    if (system(cmd) != 0)
        fprintf(stderr, "tenbus-bench: gnuplot failed (install gnuplot-nox: scripts/deps.sh bench)\n");
    else
        fprintf(stderr, "plots: %s-latency.png %s-rate.png\n", prefix, prefix);
}

static void write_json(const char *path, const results *r, const char *metrics)
{
    json_t *samples = json_array();
    for (size_t i = 0; i < G.n_samples; i++) {
        const sample *s = &G.samples[i];
        json_array_append_new(samples, json_pack("{s:f,s:f,s:f,s:f,s:f,s:f,s:f}", "t", s->t, "events_per_s",
                                                 s->ev_rate, "deliveries_per_s", s->dl_rate, "p50_ms", s->p50,
                                                 "p99_ms", s->p99, "max_ms", s->max, "bench_stall_ms",
                                                 s->stall));
    }
    json_t *codes = json_object();
    for (size_t c = 0; c < sizeof(G.close_codes) / sizeof(G.close_codes[0]); c++)
        if (G.close_codes[c]) {
            char k[16];
            snprintf(k, sizeof(k), "%zu", c);
            json_object_set_new(codes, k, json_integer(G.close_codes[c]));
        }
    double bps = G.n_ready ? (double)(r->rss_after - r->rss_before) / G.n_ready : 0;
    json_t *j = json_pack(
        "{s:{s:s,s:i,s:i,s:f,s:f,s:i,s:i,s:i,s:f,s:i,s:s,s:b},"
        " s:{s:i,s:i,s:i,s:i,s:f,s:f,s:o},"
        " s:{s:I,s:I,s:f,s:f},"
        " s:{s:f,s:I,s:I,s:f,s:f,s:I,s:I,s:I,s:I,s:I,s:I,s:I},"
        " s:{s:f,s:f,s:f,s:f,s:f},"
        " s:{s:f,s:f,s:f,s:f},"
        " s:o}",
        "params", "scenario", scenario_names[O.scenario], "sessions", (int)G.pop.n_sess, "tenants",
        (int)G.pop.n_tenants, "duration_s", O.duration, "rate", O.rate, "batch", (int)O.batch,
        "http_conns", (int)O.http_conns, "window", (int)O.window, "broadcast_share", O.bshare,
        "payload", (int)O.payload, "daemon", G.spawned ? "spawned" : "attached", "spawned", G.spawned,
        "sessions", "opened", (int)G.n_ready, "failed", (int)G.n_failed, "closed_during_run",
        (int)G.n_closed_late, "concurrency", (int)O.concurrency, "connect_s", r->connect_s,
        "opened_per_s", r->sessions_per_s, "close_codes", codes,
        "memory", "rss_before", (json_int_t)r->rss_before, "rss_after", (json_int_t)r->rss_after,
        "bytes_per_session", bps, "daemon_idle_cpu_fraction", r->idle_cpu,
        "publish", "seconds", r->pub_s, "events", (json_int_t)G.ev_acked, "deliveries",
        (json_int_t)G.deliveries, "events_per_s", r->events_per_s, "deliveries_per_s", r->deliveries_per_s,
        "expected", (json_int_t)r->expected, "lost", (json_int_t)r->lost, "unexpected",
        (json_int_t)G.unexpected, "duplicates", (json_int_t)G.duplicates, "unknown_seq",
        (json_int_t)G.unknown, "bad_frames", (json_int_t)G.bad_frames, "other_frames",
        (json_int_t)G.other_frames,
        "latency_ms", "p50", (double)r->p50 / 1e6, "p99", (double)r->p99 / 1e6, "p999",
        (double)r->p999 / 1e6, "max", (double)r->max / 1e6, "mean_unused", 0.0,
        "cpu", "daemon_s", r->cpu_daemon, "bench_s", r->cpu_bench, "daemon_us_per_event",
        G.ev_acked ? r->cpu_daemon * 1e6 / (double)G.ev_acked : 0.0, "daemon_ns_per_delivery",
        G.deliveries ? r->cpu_daemon * 1e9 / (double)G.deliveries : 0.0,
        "samples", samples);
    if (!j)
        die("building the JSON report failed");
    json_object_del(json_object_get(j, "latency_ms"), "mean_unused");
    if (metrics)
        json_object_set_new(j, "daemon_metrics", json_string(metrics));
    json_object_set_new(j, "machine", json_pack("{s:f,s:f,s:i}", "loadavg_start", r->load_start,
                                                "loadavg_end", r->load_end, "cores",
                                                (int)sysconf(_SC_NPROCESSORS_ONLN)));
    if (json_dump_file(j, path, JSON_INDENT(2)) < 0)
        die("%s: cannot write", path);
    json_decref(j);
}

/* The 1-minute load average: the reference machine is shared, and a figure
 * taken while other jobs run says so in its own report. */
static double loadavg(void)
{
    double l = -1;
    FILE *f = fopen("/proc/loadavg", "r");
    if (f) {
        if (fscanf(f, "%lf", &l) != 1)
            l = -1;
        fclose(f);
    }
    return l;
}

static double self_cpu(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

/* Metric lines worth a look after a run (non-zero drops, closes, refusals). */
static void print_metrics(const char *m)
{
    if (!m)
        return;
    const char *p = m;
    while (*p) {
        const char *eol = strchr(p, '\n');
        size_t len = eol ? (size_t)(eol - p) : strlen(p);
        if (*p != '#' && (memmem(p, len, "drop", 4) || memmem(p, len, "slow", 4) ||
                          memmem(p, len, "refused", 7) || memmem(p, len, "closes", 6))) {
            const char *sp = memrchr(p, ' ', len);
            if (sp && strtod(sp + 1, NULL) != 0)
                fprintf(stderr, "  daemon metric: %.*s\n", (int)len, p);
        }
        p += len + (eol ? 1 : 0);
    }
}

static void usage(FILE *out)
{
    fprintf(out,
"Usage: tenbus-bench [OPTIONS]\n"
"\n"
"Load generator for tenbusd: opens N WebSocket sessions (protocol v2, one user\n"
"token each) over T tenants, subscribes them and sends start, then publishes\n"
"through the HTTP API (POST /api/events, batches) and checks every delivery:\n"
"publish-to-receipt latency, lost and unexpected deliveries (an unexpected one\n"
"is a tenant-isolation bug and is printed loudly).\n"
"\n"
"Daemon:\n"
"  --spawn PATH          start this tenbusd (default: tenbusd next to this binary)\n"
"                        on a free 127.0.0.1 port, with a generated tokens file and\n"
"                        config in /tmp/tenbus-bench.XXXXXX; its RSS and CPU time\n"
"                        are read from /proc\n"
"  --daemon-workers N    tenbus.workers of the spawned daemon (default 0 = cores)\n"
"  --daemon-set K=V      one more -o KEY=VALUE for the spawned daemon (repeatable)\n"
"  --publish-amqp        publish straight to RabbitMQ (127.0.0.1:5672, guest, exchange\n"
"                        wazo-headers, typed headers as a Wazo service does) instead of\n"
"                        the HTTP API; with --daemon-set tenbus.bus_backend=rabbitmq this\n"
"                        measures what the daemon spends consuming and delivering alone\n"
"  --verbose             spawned daemon logs at info (default warning)\n"
"  --keep                keep the work directory (config, tokens, daemon log)\n"
"  --url ws://HOST:PORT  attach to a running daemon instead (IPv4 address);\n"
"                        needs --tokens; no RSS/CPU figures\n"
"  --tokens FILE         tokens file that daemon loaded, as --write-tokens makes\n"
"  --publisher-token T   the publishing token in it (default bench-publisher)\n"
"  --write-tokens FILE   write the tokens file for --sessions/--tenants and exit\n"
"                        (master tenant 7e4a0000-0000-4000-8000-ffffffffffff)\n"
"\n"
"Sessions:\n"
"  --sessions N          WebSocket sessions (default 1000). The bench holds one\n"
"                        file descriptor per session in one process, and open\n"
"                        files are capped (ulimit -n; 20000 on the reference\n"
"                        machine): N <= about 19500 there\n"
"  --tenants T           tenants, sessions spread round-robin (default 1)\n"
"  --subscribe NAME      event name each session subscribes to (default '*')\n"
"  --concurrency K       handshakes in flight at once (default 256)\n"
"  --src-per-addr M      sessions per source address 127.0.0.x when the daemon\n"
"                        is on loopback (default 20000; ~28k ports per pair)\n"
"  --connect-timeout S   give up on the connect phase after S s (default 120)\n"
"  --settle S            idle time after connecting, before RSS is read and\n"
"                        publishing starts (default 2)\n"
"\n"
"Publishing:\n"
"  --scenario S          idle      connect only (memory per session)\n"
"                        broadcast tenant events to a random tenant: every\n"
"                                  session of that tenant must receive each\n"
"                        unicast   user events to a random user\n"
"                        mixed     unicast, with --broadcast-share broadcasts\n"
"                        (default broadcast)\n"
"  --broadcast-share F   fraction of broadcasts in mixed (default 0.01)\n"
"  --rate R              events per second, paced in batches every millisecond;\n"
"                        0 = flat out (default 0): batches as fast as the API\n"
"                        accepts them, with at most --window deliveries\n"
"                        outstanding so no session's queue overflows\n"
"  --window D            flat out: max deliveries published but not yet\n"
"                        received (default 100 per session, at least 100000).\n"
"                        Deeper windows let the daemon coalesce more frames per\n"
"                        write: throughput rises, and so does latency\n"
"  --batch B             max events per POST (default 100)\n"
"  --http-conns C        keep-alive publisher connections, one request in flight\n"
"                        on each (default 2)\n"
"  --duration S          publishing time in seconds (default 10)\n"
"  --drain S             wait up to S s after publishing for late deliveries\n"
"                        before counting the rest lost (default 5)\n"
"  --payload BYTES       extra padding in each event's data (default 0)\n"
"  --event-name NAME     published event name (default bench_event)\n"
"  --seed N              random seed for target choice (default 1)\n"
"\n"
"Output:\n"
"  --json FILE           full results and per-100 ms samples as JSON\n"
"  --plot PREFIX         PREFIX-latency.png and PREFIX-rate.png with gnuplot\n"
"                        (package gnuplot-nox: scripts/deps.sh bench), from\n"
"                        per-100 ms samples; data in PREFIX.dat\n"
"  --perf FILE           run `perf record -g -p DAEMON` into FILE during the\n"
"                        publish phase (spawned daemon only)\n"
"  -h, --help            this help\n"
"\n"
"Each event's data is {\"tbseq\": N, \"tbts\": CLOCK_MONOTONIC ns at send}; the\n"
"bench knows which sessions must receive each seq. Progress goes to stderr\n"
"every second; the summary to stdout. Exit status: 0, 1 if deliveries were\n"
"lost or unexpected or sessions failed, 2 on a setup error.\n");
}

static double parse_num(const char *opt, const char *v, double lo, double hi)
{
    char *end;
    double d = strtod(v, &end);
    if (end == v || *end || !(d >= lo && d <= hi))
        die("%s: expected a number in [%g, %g], got '%s'", opt, lo, hi, v);
    return d;
}

static void parse_url(const char *url)
{
    int port = 0;
    if (sscanf(url, "ws://%63[^:/]:%d", G.host, &port) != 2 || port <= 0 || port > 65535)
        die("--url: expected ws://IPV4:PORT, got '%s'", url);
    struct in_addr a;
    if (inet_pton(AF_INET, G.host, &a) != 1)
        die("--url: the host must be an IPv4 address, got '%s'", G.host);
    G.port = port;
}

static void parse_args(int argc, char **argv)
{
    enum {
        O_SPAWN = 256, O_URL, O_TOKENS, O_PUBTOK, O_WRTOK, O_SESS, O_TEN, O_SUB, O_CONC, O_SRC, O_CTO,
        O_SETTLE, O_SCEN, O_BSHARE, O_RATE, O_WIN, O_BATCH, O_HC, O_DUR, O_DRAIN, O_PAY, O_EVN,
        O_SEED, O_JSON, O_PLOT, O_PERF, O_DW, O_DSET, O_VERB, O_KEEP, O_AMQP,
    };
    static const struct option lo[] = {
        {"spawn", required_argument, NULL, O_SPAWN}, {"url", required_argument, NULL, O_URL},
        {"tokens", required_argument, NULL, O_TOKENS}, {"publisher-token", required_argument, NULL, O_PUBTOK},
        {"write-tokens", required_argument, NULL, O_WRTOK}, {"sessions", required_argument, NULL, O_SESS},
        {"tenants", required_argument, NULL, O_TEN}, {"subscribe", required_argument, NULL, O_SUB},
        {"concurrency", required_argument, NULL, O_CONC}, {"src-per-addr", required_argument, NULL, O_SRC},
        {"connect-timeout", required_argument, NULL, O_CTO}, {"settle", required_argument, NULL, O_SETTLE},
        {"scenario", required_argument, NULL, O_SCEN}, {"broadcast-share", required_argument, NULL, O_BSHARE},
        {"rate", required_argument, NULL, O_RATE}, {"window", required_argument, NULL, O_WIN},
        {"batch", required_argument, NULL, O_BATCH}, {"http-conns", required_argument, NULL, O_HC},
        {"duration", required_argument, NULL, O_DUR}, {"drain", required_argument, NULL, O_DRAIN},
        {"payload", required_argument, NULL, O_PAY}, {"event-name", required_argument, NULL, O_EVN},
        {"seed", required_argument, NULL, O_SEED}, {"json", required_argument, NULL, O_JSON},
        {"plot", required_argument, NULL, O_PLOT}, {"perf", required_argument, NULL, O_PERF},
        {"daemon-workers", required_argument, NULL, O_DW}, {"daemon-set", required_argument, NULL, O_DSET},
        {"verbose", no_argument, NULL, O_VERB}, {"keep", no_argument, NULL, O_KEEP},
        {"publish-amqp", no_argument, NULL, O_AMQP},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    int ch;
    while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
        const char *name = optind > 0 && optind <= argc ? argv[optind - 1] : "option";
        switch (ch) {
        case O_SPAWN: O.spawn = optarg; break;
        case O_URL: O.url = optarg; break;
        case O_TOKENS: O.tokens = optarg; break;
        case O_PUBTOK: O.publisher_token = optarg; break;
        case O_WRTOK: O.write_tokens = optarg; break;
        case O_SESS: O.sessions = (uint32_t)parse_num(name, optarg, 1, 1000000); break;
        case O_TEN: O.tenants = (uint32_t)parse_num(name, optarg, 1, 1000000); break;
        case O_SUB: O.subscribe = optarg; break;
        case O_CONC: O.concurrency = (uint32_t)parse_num(name, optarg, 1, 100000); break;
        case O_SRC: O.src_per_addr = (uint32_t)parse_num(name, optarg, 1, 28000); break;
        case O_CTO: O.connect_timeout = parse_num(name, optarg, 1, 86400); break;
        case O_SETTLE: O.settle = parse_num(name, optarg, 0, 86400); break;
        case O_SCEN:
            O.scenario = -1;
            for (int k = 0; k < 4; k++)
                if (strcmp(optarg, scenario_names[k]) == 0)
                    O.scenario = k;
            if (O.scenario < 0)
                die("--scenario: idle, broadcast, unicast or mixed, not '%s'", optarg);
            break;
        case O_BSHARE: O.bshare = parse_num(name, optarg, 0, 1); break;
        case O_RATE: O.rate = parse_num(name, optarg, 0, 1e9); break;
        case O_WIN: O.window = (uint64_t)parse_num(name, optarg, 1, 1e12); break;
        case O_BATCH: O.batch = (uint32_t)parse_num(name, optarg, 1, 100000); break;
        case O_HC: O.http_conns = (uint32_t)parse_num(name, optarg, 1, 64); break;
        case O_DUR: O.duration = parse_num(name, optarg, 0.1, 86400); break;
        case O_DRAIN: O.drain = parse_num(name, optarg, 0, 3600); break;
        case O_PAY: O.payload = (uint32_t)parse_num(name, optarg, 0, 65536); break;
        case O_EVN: O.event_name = optarg; break;
        case O_SEED: O.seed = (uint64_t)parse_num(name, optarg, 0, 1e18); break;
        case O_JSON: O.json = optarg; break;
        case O_PLOT: O.plot = optarg; break;
        case O_PERF: O.perf = optarg; break;
        case O_DW: O.daemon_workers = (int)parse_num(name, optarg, 0, 256); break;
        case O_DSET:
            if (O.n_daemon_set == B_MAX_DAEMON_SET)
                die("at most %d --daemon-set", B_MAX_DAEMON_SET);
            O.daemon_set[O.n_daemon_set++] = optarg;
            break;
        case O_AMQP: O.amqp = true; break;
        case O_VERB: O.verbose = true; break;
        case O_KEEP: O.keep = true; break;
        case 'h': usage(stdout); exit(0);
        default: usage(stderr); exit(2);
        }
    }
    if (optind < argc)
        die("unexpected argument '%s' (see --help)", argv[optind]);
    if (O.url && O.spawn)
        die("--url and --spawn exclude each other");
    if (O.url && !O.tokens)
        die("--url needs --tokens FILE (the tokens file the daemon loaded)");
    if (strlen(O.subscribe) > 128 || strpbrk(O.subscribe, "\"\\") ||
        strlen(O.event_name) > 128 || strpbrk(O.event_name, "\"\\"))
        die("--subscribe / --event-name: at most 128 characters, no quotes or backslashes");
}

static const char *default_daemon(void)
{
    static char path[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", path, sizeof(path) - 16);
    if (n <= 0)
        return "tenbusd";
    path[n] = 0;
    char *slash = strrchr(path, '/');
    strcpy(slash ? slash + 1 : path, "tenbusd");
    return path;
}

int main(int argc, char **argv)
{
    parse_args(argc, argv);
    signal(SIGPIPE, SIG_IGN);
    G.rng = O.seed * 0x9E3779B97F4A7C15ULL + 1;

    if (O.write_tokens) {
        if (pop_generate(&G.pop, O.sessions, O.tenants) < 0 || pop_write_tokens(&G.pop, O.write_tokens) < 0)
            die("%s: %s", O.write_tokens, strerror(errno));
        printf("wrote %u user tokens over %u tenants and publisher token '%s' (master tenant %s) to %s\n",
               O.sessions, O.tenants, G.pop.publisher, G.pop.master_tenant, O.write_tokens);
        return 0;
    }
    if (O.url) {
        parse_url(O.url);
        if (pop_load(&G.pop, O.tokens, O.publisher_token, O.sessions) < 0)
            die("cannot use %s", O.tokens);
        if (!G.pop.n_sess)
            die("%s: no plain user tokens to open sessions with", O.tokens);
    } else if (pop_generate(&G.pop, O.sessions, O.tenants) < 0) {
        die("out of memory");
    }

    struct rlimit rl;
    getrlimit(RLIMIT_NOFILE, &rl);
    if ((uint64_t)G.pop.n_sess + O.http_conns + 32 > rl.rlim_cur) {
        if ((uint64_t)G.pop.n_sess + O.http_conns + 32 <= rl.rlim_max) {
            rl.rlim_cur = rl.rlim_max;
            setrlimit(RLIMIT_NOFILE, &rl);
        } else {
            die("%u sessions need %u file descriptors and this process may open %llu (ulimit -n): "
                "lower --sessions", G.pop.n_sess, G.pop.n_sess + O.http_conns + 32,
                (unsigned long long)rl.rlim_max);
        }
    }
    if (!O.window) {
        /* 100 frames queued per session stays far below the daemon's default
         * 4 MiB per-session queue limit, and is deep enough that broadcast
         * throughput is no longer window-bound on the reference machine. */
        O.window = (uint64_t)G.pop.n_sess * 100;
        if (O.window < 100000)
            O.window = 100000;
    }
    if (O.payload) {
        pad_str = xrealloc(NULL, O.payload + 1);
        memset(pad_str, 'x', O.payload);
        pad_str[O.payload] = 0;
    }

    if (!O.url) {
        const char *exe = O.spawn ? O.spawn : default_daemon();
        if (access(exe, X_OK) != 0)
            die("%s: %s (build tenbusd, or give --spawn PATH or --url)", exe, strerror(errno));
        /* Headroom over the sessions for the publisher and the bench's own
         * /status and /metrics requests. */
        if (daemon_spawn(&G.d, exe, &G.pop, G.pop.n_sess + 64, O.daemon_workers, O.daemon_set, O.verbose) < 0)
            die("could not start %s", exe);
        G.spawned = true;
        snprintf(G.host, sizeof(G.host), "127.0.0.1");
        G.port = G.d.port;
        fprintf(stderr, "daemon: %s pid %d port %d, work dir %s\n", exe, (int)G.d.pid, G.d.port, G.d.dir);
    }
    G.loopback = (ntohl(inet_addr(G.host)) >> 24) == 127;

    G.ep = epoll_create1(EPOLL_CLOEXEC);
    G.c = calloc(G.pop.n_sess, sizeof(*G.c));
    G.rbuf = malloc(RBUF_SIZE);
    if (G.ep < 0 || !G.c || !G.rbuf)
        die("setup: %s", strerror(errno));
    for (uint32_t i = 0; i < G.pop.n_sess; i++)
        G.c[i].fd = -1;

    results r = {0};
    r.load_start = loadavg();
    r.rss_before = G.spawned ? proc_rss_bytes(G.d.pid) : -1;
    connect_phase(&r.connect_s);
    r.sessions_per_s = r.connect_s > 0 ? G.n_ready / r.connect_s : 0;
    fprintf(stderr, "connected: %u sessions in %.2f s (%.0f/s), %u failed\n", G.n_ready, r.connect_s,
            r.sessions_per_s, G.n_failed);
    double idle_cpu0 = G.spawned ? proc_cpu_seconds(G.d.pid) : 0;
    idle_for(O.settle);
    check_daemon();
    /* What holding the sessions costs with no traffic (timers, sweeps). */
    r.idle_cpu = G.spawned && O.settle > 0 ? (proc_cpu_seconds(G.d.pid) - idle_cpu0) / O.settle : 0;
    r.rss_after = G.spawned ? proc_rss_bytes(G.d.pid) : -1;

    if (O.scenario != SC_IDLE && G.n_ready) {
        double cpu0 = G.spawned ? proc_cpu_seconds(G.d.pid) : 0, bcpu0 = self_cpu();
        pid_t perf = perf_start();
        publish_phase();
        perf_stop(perf);
        check_daemon();
        r.cpu_daemon = G.spawned ? proc_cpu_seconds(G.d.pid) - cpu0 : 0;
        r.cpu_bench = self_cpu() - bcpu0;
        r.pub_s = (double)(G.t_pub_end - G.t0) / 1e9;
        r.events_per_s = r.pub_s > 0 ? (double)G.ev_acked / r.pub_s : 0;
        double dl_s = G.t_last_delivery > G.t0 ? (double)(G.t_last_delivery - G.t0) / 1e9 : 0;
        r.deliveries_per_s = dl_s > 0 ? (double)G.deliveries / dl_s : 0;
        for (uint32_t s = 0; s < G.n_ev; s++) {
            int32_t exp = G.ev[s].remaining;
            if (exp > 0)
                r.lost += exp;
        }
        r.expected = (double)G.deliveries + r.lost;
    }
    r.p50 = hist_quantile(&G.total, 0.5);
    r.p99 = hist_quantile(&G.total, 0.99);
    r.p999 = hist_quantile(&G.total, 0.999);
    r.max = G.total.max;

    r.load_end = loadavg();
    char *metrics = NULL;
    if (http_get(G.host, G.port, "/metrics", G.pop.publisher, &metrics) != 200) {
        free(metrics);
        metrics = NULL;
    }

    printf("tenbus-bench: scenario %s, %u sessions over %u tenants, daemon %s%s\n",
           scenario_names[O.scenario], G.pop.n_sess, G.pop.n_tenants, G.spawned ? "spawned" : "attached",
           O.scenario != SC_IDLE ? (O.rate > 0 ? "" : ", flat out") : "");
    printf("  sessions   %u opened in %.2f s = %.0f/s; %u failed; %u closed during the run\n", G.n_ready,
           r.connect_s, r.sessions_per_s, G.n_failed, G.n_closed_late);
    if (G.spawned && G.n_ready)
        printf("  memory     daemon RSS %.1f MiB before, %.1f MiB after = %.0f bytes/session; "
               "idle CPU %.1f%%\n", r.rss_before / 1048576.0, r.rss_after / 1048576.0,
               (double)(r.rss_after - r.rss_before) / G.n_ready, r.idle_cpu * 100);
    if (O.scenario != SC_IDLE) {
        if (O.rate > 0)
            printf("  rate       %.0f events/s asked\n", O.rate);
        printf("  published  %llu events in %.2f s = %.0f events/s (batches of <= %u, %u connections)\n",
               (unsigned long long)G.ev_acked, r.pub_s, r.events_per_s, O.batch, O.http_conns);
        printf("  delivered  %llu = %.0f deliveries/s\n", (unsigned long long)G.deliveries,
               r.deliveries_per_s);
        printf("  latency    p50 %.3f ms  p99 %.3f ms  p99.9 %.3f ms  max %.3f ms\n", r.p50 / 1e6,
               r.p99 / 1e6, r.p999 / 1e6, r.max / 1e6);
        printf("  lost       %.0f of %.0f expected\n", r.lost, r.expected);
        printf("  unexpected %llu%s\n", (unsigned long long)G.unexpected,
               G.unexpected ? "   !!! WRONG OR DUPLICATE DELIVERIES: see the messages above" : "");
        if (G.spawned)
            printf("  cpu        daemon %.2f s during publishing (%.2f us/event, %.0f ns/delivery); "
                   "bench %.2f s\n", r.cpu_daemon, G.ev_acked ? r.cpu_daemon * 1e6 / G.ev_acked : 0,
                   G.deliveries ? r.cpu_daemon * 1e9 / G.deliveries : 0, r.cpu_bench);
        else
            printf("  cpu        bench %.2f s during publishing\n", r.cpu_bench);
    }
    printf("  machine    load average %.2f at start, %.2f at end (%ld cores)\n", r.load_start, r.load_end,
           sysconf(_SC_NPROCESSORS_ONLN));
    for (size_t c = 0; c < sizeof(G.close_codes) / sizeof(G.close_codes[0]); c++)
        if (G.close_codes[c] && c)
            printf("  closes     %u sessions closed by the daemon with code %zu\n", G.close_codes[c], c);
    print_metrics(metrics);
    fflush(stdout);

    if (O.json)
        write_json(O.json, &r, metrics);
    if (O.plot && O.scenario != SC_IDLE)
        write_plot(O.plot);
    free(metrics);

    /* Our side closes first: the daemon then sees plain EOFs, and a spawned
     * one is stopped afterwards, so its exit status says if it survived. */
    for (uint32_t i = 0; i < G.pop.n_sess; i++)
        if (G.c[i].fd >= 0)
            close(G.c[i].fd);
    for (uint32_t k = 0; G.h && k < O.http_conns; k++)
        close(G.h[k].fd);
    int rc = (r.lost > 0 || G.unexpected || G.n_failed || G.n_closed_late) ? 1 : 0;
    if (G.spawned) {
        check_daemon();
        int st = daemon_stop(&G.d, 15);
        if (st < 0) {
            fprintf(stderr, "tenbus-bench: !!! the daemon did not exit within 15 s of SIGTERM (killed)\n");
            rc = 1;
        } else if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "tenbus-bench: !!! the daemon exited with status %d on SIGTERM; log %s\n", st,
                    G.d.log);
            rc = 1;
        }
        if (!O.keep && rc == 0) {
            char cmd[600];
            snprintf(cmd, sizeof(cmd), "rm -rf '%s'", G.d.dir);
            if (system(cmd) != 0)
                fprintf(stderr, "tenbus-bench: could not remove %s\n", G.d.dir);
        } else {
            fprintf(stderr, "work dir kept: %s\n", G.d.dir);
        }
    }
    pop_free(&G.pop);
    return rc;
}
