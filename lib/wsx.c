/* The tenbusd transport of the client (see wsx.h). The framing and the
 * handshake's accept key are libtenbus's (ws_frame.h, shared with tenbusd
 * and the CLI): a client reads unmasked frames with a client-side reader
 * and masks its own. Blocking I/O with deadlines on the caller's thread. */
#define _GNU_SOURCE /* asprintf, memmem */
#include "wsx.h"
#include "ws_frame.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct tb__ws {
    int fd;
    uint8_t *buf;        /* received bytes not yet parsed */
    size_t len, cap;
    size_t consumed;     /* bytes of the last returned message, dropped on the next call */
    tb__ws_reader rd;        /* client side: frames, reassembly, UTF-8 of text messages */
};

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int left_ms(int64_t deadline)
{
    int64_t l;

    if (deadline < 0)
        return -1;
    l = deadline - mono_ms();
    return l < 0 ? 0 : l > 1000000000 ? 1000000000 : (int)l;
}

static tb_err tcp_connect(const char *host, int port, int64_t deadline, int *out, char *err,
                          size_t errlen)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
    char portstr[16];
    int rc, fd = -1;
    tb_err e = TB_ECONN;

    snprintf(portstr, sizeof portstr, "%d", port);
    if ((rc = getaddrinfo(host, portstr, &hints, &res)) != 0) {
        snprintf(err, errlen, "cannot resolve %s: %s", host, gai_strerror(rc));
        return TB_ECONN;
    }
    snprintf(err, errlen, "cannot connect to %s:%d", host, port);
    for (ai = res; ai; ai = ai->ai_next) {
        struct pollfd p;
        int soerr = 0;
        socklen_t sl = sizeof soerr;

        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    ai->ai_protocol);
        if (fd < 0)
            continue;
        if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0)
            break;
        if (errno == EINPROGRESS) {
            p = (struct pollfd){.fd = fd, .events = POLLOUT};
            rc = poll(&p, 1, left_ms(deadline));
            if (rc == 0) {
                e = TB_ETIMEOUT;
                snprintf(err, errlen, "connect to %s:%d timed out", host, port);
            } else if (rc > 0 && getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 &&
                       soerr == 0) {
                break;
            } else {
                snprintf(err, errlen, "cannot connect to %s:%d: %s", host, port,
                         strerror(soerr ? soerr : errno));
            }
        } else {
            snprintf(err, errlen, "cannot connect to %s:%d: %s", host, port, strerror(errno));
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return e;
    *out = fd;
    return TB_OK;
}

static tb_err send_all(int fd, const void *p, size_t n, int64_t deadline)
{
    const char *c = p;

    while (n) {
        ssize_t w = send(fd, c, n, MSG_NOSIGNAL);
        if (w > 0) {
            c += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            int rc = poll(&pfd, 1, left_ms(deadline));
            if (rc == 0)
                return TB_ETIMEOUT;
            if (rc > 0 || errno == EINTR)
                continue;
        } else if (w < 0 && errno == EINTR) {
            continue;
        }
        return TB_ECONN;
    }
    return TB_OK;
}

/* Appends what the socket has (waiting until deadline for the first byte)
 * to buf. Returns bytes read, 0 at EOF, -2 on timeout, -1 on error. */
static ssize_t recv_some(int fd, uint8_t **buf, size_t *len, size_t *cap, int64_t deadline)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    ssize_t r;

    if (*cap - *len < 16384) {
        size_t nc = *cap ? *cap * 2 : 32768;
        uint8_t *nb = realloc(*buf, nc);
        if (!nb)
            return -1;
        *buf = nb;
        *cap = nc;
    }
    for (;;) {
        /* One byte kept free: callers may NUL-terminate what they got. */
        r = recv(fd, *buf + *len, *cap - *len - 1, 0);
        if (r >= 0) {
            *len += (size_t)r;
            return r;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK)
            return -1;
        int rc = poll(&pfd, 1, left_ms(deadline));
        if (rc == 0)
            return -2;
        if (rc < 0 && errno != EINTR)
            return -1;
    }
}

int tb__pct_encode_append(char *out, size_t cap, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = strlen(out);

    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        bool keep = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
                    (ch >= '0' && ch <= '9') || ch == '-' || ch == '.' || ch == '_' || ch == '~';
        if (n + (keep ? 1 : 3) >= cap)
            return -1;
        if (keep) {
            out[n++] = (char)ch;
        } else {
            out[n++] = '%';
            out[n++] = hex[ch >> 4];
            out[n++] = hex[ch & 15];
        }
    }
    out[n] = '\0';
    return 0;
}

/* ---- HTTP --------------------------------------------------------------- */

tb_err tb__http_post(const char *host, int port, const char *target, const char *headers,
                     const char *body, size_t len, int timeout_ms, int *status, char **resp,
                     char *err, size_t errlen)
{
    int64_t deadline = mono_ms() + timeout_ms;
    uint8_t *buf = NULL;
    size_t blen = 0, cap = 0;
    char *req = NULL, *hend;
    int fd, n;
    ssize_t r;
    tb_err rc;

    if ((rc = tcp_connect(host, port, deadline, &fd, err, errlen)) != TB_OK)
        return rc;
    n = asprintf(&req, "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                       "Content-Length: %zu\r\nConnection: close\r\n%s\r\n",
                 target, host, port, len, headers);
    if (n < 0) {
        close(fd);
        return TB_ENOMEM;
    }
    rc = send_all(fd, req, (size_t)n, deadline);
    free(req);
    if (rc == TB_OK)
        rc = send_all(fd, body, len, deadline);
    while (rc == TB_OK && (r = recv_some(fd, &buf, &blen, &cap, deadline)) != 0) {
        if (r == -2)
            rc = TB_ETIMEOUT;
        else if (r < 0)
            rc = TB_ECONN;
        else if (blen > TB_WSX_MAX_MESSAGE)
            rc = TB_ECONN;
    }
    close(fd);
    if (rc != TB_OK) {
        snprintf(err, errlen, "HTTP request to %s:%d: %s", host, port,
                 rc == TB_ETIMEOUT ? "timed out" : "connection failed");
        free(buf);
        return rc;
    }
    if (!buf || blen < 12 || memcmp(buf, "HTTP/1.", 7) != 0 ||
        sscanf((char *)buf + 9, "%3d", status) != 1) {
        snprintf(err, errlen, "HTTP request to %s:%d: not an HTTP answer", host, port);
        free(buf);
        return TB_ECONN;
    }
    /* Connection: close, so the body is everything after the headers (the
     * API answers with Content-Length, never chunked). */
    buf[blen] = '\0';
    hend = strstr((char *)buf, "\r\n\r\n");
    *resp = strdup(hend ? hend + 4 : "");
    free(buf);
    return *resp ? TB_OK : TB_ENOMEM;
}

/* ---- WebSocket ---------------------------------------------------------- */

static bool header_has(const char *head, const char *name, const char *value)
{
    size_t nl = strlen(name);

    for (const char *p = strstr(head, "\r\n"); p; p = strstr(p + 2, "\r\n")) {
        const char *line = p + 2;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            size_t vl = e ? (size_t)(e - v) : strlen(v);
            if (strlen(value) == vl && strncmp(v, value, vl) == 0)
                return true;
        }
    }
    return false;
}

tb_err tb__ws_open(const char *host, int port, const char *target, int timeout_ms,
                   tb__ws **out, char *err, size_t errlen)
{
    const tb__ws_limits lim = {TB_WSX_MAX_MESSAGE, TB_WSX_MAX_MESSAGE};
    int64_t deadline = mono_ms() + timeout_ms;
    unsigned char key[16];
    char key64[32], accept64[29], *req = NULL, *hend;
    tb__ws *ws;
    tb_err rc;
    int n;

    if (RAND_bytes(key, sizeof key) != 1)
        return TB_ENOMEM;
    EVP_EncodeBlock((unsigned char *)key64, key, sizeof key);
    if (tb__ws_accept_key(key64, accept64) < 0)
        return TB_ENOMEM;
    if (!(ws = calloc(1, sizeof *ws)))
        return TB_ENOMEM;
    ws->fd = -1;
    tb__ws_reader_init(&ws->rd, false, &lim);
    if ((rc = tcp_connect(host, port, deadline, &ws->fd, err, errlen)) != TB_OK)
        goto fail;
    n = asprintf(&req, "GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
                       "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                       "Sec-WebSocket-Version: 13\r\n\r\n",
                 target, host, port, key64);
    rc = TB_ENOMEM;
    if (n < 0)
        goto fail;
    rc = send_all(ws->fd, req, (size_t)n, deadline);
    free(req);
    if (rc != TB_OK) {
        snprintf(err, errlen, "WebSocket handshake with %s:%d: send failed", host, port);
        goto fail;
    }
    for (;;) {
        ssize_t r = recv_some(ws->fd, &ws->buf, &ws->len, &ws->cap, deadline);
        if (r == -2 || r <= 0) {
            rc = r == -2 ? TB_ETIMEOUT : TB_ECONN;
            snprintf(err, errlen, "WebSocket handshake with %s:%d: %s", host, port,
                     r == -2 ? "timed out" : "connection closed");
            goto fail;
        }
        if (ws->len > 65536) {
            rc = TB_ECONN;
            snprintf(err, errlen, "WebSocket handshake with %s:%d: answer too large", host, port);
            goto fail;
        }
        ws->buf[ws->len] = '\0'; /* recv_some leaves room */
        if ((hend = memmem(ws->buf, ws->len, "\r\n\r\n", 4)))
            break;
    }
    *hend = '\0';
    if (strncmp((char *)ws->buf, "HTTP/1.1 101", 12) != 0 ||
        !header_has((char *)ws->buf, "Sec-WebSocket-Accept", accept64)) {
        char *eol = strstr((char *)ws->buf, "\r\n");
        rc = TB_ECONN;
        snprintf(err, errlen, "WebSocket upgrade refused by %s:%d: %.*s", host, port,
                 eol ? (int)(eol - (char *)ws->buf) : 80, (char *)ws->buf);
        goto fail;
    }
    /* Bytes after the headers are the first frames. */
    size_t head = (size_t)(hend - (char *)ws->buf) + 4;
    memmove(ws->buf, ws->buf + head, ws->len - head);
    ws->len -= head;
    *out = ws;
    return TB_OK;
fail:
    tb__ws_close(ws);
    return rc;
}

int tb__ws_fd(const tb__ws *ws)
{
    return ws ? ws->fd : -1;
}

static tb_err send_frame(tb__ws *ws, int opcode, const void *p, size_t n)
{
    uint8_t mask[4], *frame;
    size_t h;
    tb_err rc;

    /* RFC 6455 §5.3: a fresh unpredictable key per frame. */
    if (RAND_bytes(mask, sizeof mask) != 1)
        return TB_ECONN;
    if (!(frame = malloc(TB_WS_MAX_HEADER + n)))
        return TB_ENOMEM;
    h = tb__ws_write_header(frame, opcode, true, n, mask);
    if (n)
        memcpy(frame + h, p, n);
    tb__ws_mask(frame + h, n, mask, 0);
    rc = send_all(ws->fd, frame, h + n, mono_ms() + 10000);
    free(frame);
    return rc == TB_OK ? TB_OK : TB_ECONN;
}

tb_err tb__ws_send_text(tb__ws *ws, const char *p, size_t n)
{
    return send_frame(ws, TB_WS_OP_TEXT, p, n);
}

int tb__ws_buffered(const tb__ws *ws)
{
    return ws && ws->len > ws->consumed;
}

/* Drops the first n bytes of the receive buffer. */
static void drop(tb__ws *ws, size_t n)
{
    memmove(ws->buf, ws->buf + n, ws->len - n);
    ws->len -= n;
}

tb_err tb__ws_next(tb__ws *ws, int wait_ms, const char **msg, size_t *len, char *err,
                   size_t errlen)
{
    int64_t deadline = wait_ms < 0 ? -1 : mono_ms() + wait_ms;
    bool waited = false;

    *msg = NULL;
    drop(ws, ws->consumed);
    ws->consumed = 0;
    for (;;) {
        size_t used = 0;
        tb__ws_msg m;
        int r = tb__ws_reader_next(&ws->rd, ws->buf, ws->len, &used, &m);

        if (r < 0) {
            snprintf(err, errlen, "protocol error from the server (%s)",
                     r == -TB_WS_CLOSE_INVALID_DATA ? "text not UTF-8"
                     : r == -TB_WS_CLOSE_TOO_BIG    ? "message too large"
                     : r == -TB_WS_CLOSE_INTERNAL   ? "out of memory"
                                                 : "bad frame");
            return TB_ECONN;
        }
        if (r == 0) {
            drop(ws, used);   /* a fragment the reader absorbed */
            if (waited && wait_ms >= 0 && deadline - mono_ms() <= 0)
                return TB_OK;
            ssize_t got = recv_some(ws->fd, &ws->buf, &ws->len, &ws->cap,
                                    waited ? mono_ms() : deadline);
            waited = true;
            if (got == -2)
                return TB_OK;
            if (got <= 0) {
                snprintf(err, errlen, "connection lost (%s)",
                         got == 0 ? "closed without a close frame" : strerror(errno));
                return TB_ECONN;
            }
            continue;
        }
        if (m.opcode == TB_WS_OP_TEXT) {
            *msg = (const char *)m.data;
            *len = m.len;
            ws->consumed = used;
            return TB_OK;
        }
        if (m.opcode == TB_WS_OP_CLOSE) {
            uint8_t code[2] = {(uint8_t)(m.close_code >> 8), (uint8_t)m.close_code};
            snprintf(err, errlen, "session closed by the server: %u %.*s", m.close_code,
                     (int)m.close_reason_len, m.close_reason ? m.close_reason : "");
            send_frame(ws, TB_WS_OP_CLOSE, code, m.close_code == TB_WS_CLOSE_NO_STATUS ? 0 : 2);
            return TB_ECONN;
        }
        if (m.opcode == TB_WS_OP_PING) {
            tb_err rc = send_frame(ws, TB_WS_OP_PONG, m.data, m.len);
            drop(ws, used);
            if (rc != TB_OK) {
                snprintf(err, errlen, "connection lost (pong)");
                return TB_ECONN;
            }
            continue;
        }
        drop(ws, used);   /* pong; binary: not part of the protocol */
    }
}

void tb__ws_close(tb__ws *ws)
{
    if (!ws)
        return;
    if (ws->fd >= 0)
        close(ws->fd);
    tb__ws_reader_free(&ws->rd);
    free(ws->buf);
    free(ws);
}
