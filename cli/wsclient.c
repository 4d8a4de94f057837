#define _GNU_SOURCE /* asprintf */
#include "wsclient.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <http_parser.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "net.h"
#include <tenbus/tenbus.h>

#define MAX_HANDSHAKE 16384

/* Response headers the handshake checks (RFC 6455 §4.1, client steps 1-4). */
typedef struct hs {
    char field[64];
    size_t field_len;
    char value[256];
    size_t value_len;
    bool in_value;
    char upgrade[256], connection[256], accept[256];
    char body[512];
    size_t body_len;
    bool done;
} hs;

static void append(char *dst, size_t cap, size_t *len, const char *at, size_t n)
{
    /* Oversized header values are truncated: they cannot match anyway. */
    if (*len + n >= cap)
        n = cap - 1 - *len;
    memcpy(dst + *len, at, n);
    *len += n;
    dst[*len] = '\0';
}

static void commit_header(hs *h)
{
    if (!h->in_value)
        return;
    if (strcasecmp(h->field, "Upgrade") == 0)
        snprintf(h->upgrade, sizeof h->upgrade, "%s", h->value);
    else if (strcasecmp(h->field, "Connection") == 0)
        snprintf(h->connection, sizeof h->connection, "%s", h->value);
    else if (strcasecmp(h->field, "Sec-WebSocket-Accept") == 0)
        snprintf(h->accept, sizeof h->accept, "%s", h->value);
    h->field_len = h->value_len = 0;
    h->field[0] = h->value[0] = '\0';
    h->in_value = false;
}

static int on_field(http_parser *p, const char *at, size_t n)
{
    hs *h = p->data;
    commit_header(h);
    append(h->field, sizeof h->field, &h->field_len, at, n);
    return 0;
}

static int on_value(http_parser *p, const char *at, size_t n)
{
    hs *h = p->data;
    h->in_value = true;
    append(h->value, sizeof h->value, &h->value_len, at, n);
    return 0;
}

static int on_headers_complete(http_parser *p)
{
    commit_header(p->data);
    /* 2 = the rest of the stream belongs to another protocol: stop here and
     * leave the bytes after the headers (maybe the first frames) to us. */
    return p->status_code == 101 ? 2 : 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
    hs *h = p->data;
    append(h->body, sizeof h->body, &h->body_len, at, n);
    return 0;
}

static int on_complete(http_parser *p)
{
    ((hs *)p->data)->done = true;
    return 0;
}

/* Connection is a comma-separated token list (RFC 7230 §6.1). */
static bool has_token(const char *list, const char *tok)
{
    size_t tl = strlen(tok);
    const char *s = list;
    while (*s) {
        while (*s == ' ' || *s == '\t' || *s == ',')
            s++;
        const char *e = s;
        while (*e && *e != ',')
            e++;
        const char *t = e;
        while (t > s && (t[-1] == ' ' || t[-1] == '\t'))
            t--;
        if ((size_t)(t - s) == tl && strncasecmp(s, tok, tl) == 0)
            return true;
        s = e;
    }
    return false;
}

static int make_key(char key[25])
{
    unsigned char nonce[16];
    /* §4.1: the nonce must be randomly selected for each connection. */
    if (RAND_bytes(nonce, sizeof nonce) != 1)
        return -1;
    EVP_EncodeBlock((unsigned char *)key, nonce, sizeof nonce);
    return 0;
}

static int handshake(cli_ws_client *c, const cli_url *u, const char *target, int64_t deadline,
                     char *err, size_t errlen)
{
    char key[25], want[29], *req = NULL, buf[4096];
    http_parser_settings st;
    http_parser p;
    hs h;
    size_t total = 0;

    if (make_key(key) < 0 || tb__ws_accept_key(key, want) < 0) {
        snprintf(err, errlen, "cannot generate a WebSocket key");
        return -1;
    }
    int n = asprintf(&req,
                     "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                     "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
                     "User-Agent: tenbus/%s\r\n\r\n",
                     target, u->authority, key, tb_version());
    if (n < 0 || cli_net_send_all(c->fd, req, (size_t)n) < 0) {
        free(req);
        snprintf(err, errlen, "cannot send the handshake: %m");
        return -1;
    }
    free(req);

    memset(&h, 0, sizeof h);
    http_parser_settings_init(&st);
    st.on_header_field = on_field;
    st.on_header_value = on_value;
    st.on_headers_complete = on_headers_complete;
    st.on_body = on_body;
    st.on_message_complete = on_complete;
    http_parser_init(&p, HTTP_RESPONSE);
    p.data = &h;

    for (;;) {
        ssize_t r = cli_net_recv(c->fd, buf, sizeof buf, deadline);
        if (r == CLI_NET_TIMEOUT) {
            snprintf(err, errlen, "timed out waiting for the handshake response");
            return CLI_NET_TIMEOUT;
        }
        if (r < 0) {
            snprintf(err, errlen, "cannot read the handshake response: %m");
            return -1;
        }
        size_t used = http_parser_execute(&p, &st, buf, (size_t)r);
        if (p.upgrade) {
            /* Frames sent right behind the 101 response. */
            size_t rest = (size_t)r - used;
            if (rest) {
                c->buf = malloc(rest);
                if (!c->buf)
                    return -1;
                memcpy(c->buf, buf + used, rest);
                c->len = c->cap = rest;
            }
            break;
        }
        if (HTTP_PARSER_ERRNO(&p) != HPE_OK) {
            snprintf(err, errlen, "bad handshake response: %s",
                     http_errno_description(HTTP_PARSER_ERRNO(&p)));
            return -1;
        }
        if (h.done || r == 0) {
            if (p.status_code == 0)
                snprintf(err, errlen, "connection closed during the handshake");
            else
                snprintf(err, errlen, "upgrade refused: HTTP %u%s%.*s", p.status_code,
                         h.body_len ? ": " : "", (int)h.body_len, h.body);
            return -1;
        }
        total += (size_t)r;
        if (total > MAX_HANDSHAKE) {
            snprintf(err, errlen, "handshake response too large");
            return -1;
        }
    }

    if (strcasecmp(h.upgrade, "websocket") != 0 || !has_token(h.connection, "upgrade")) {
        snprintf(err, errlen, "server did not upgrade to WebSocket");
        return -1;
    }
    if (strcmp(h.accept, want) != 0) {
        snprintf(err, errlen, "bad Sec-WebSocket-Accept from server");
        return -1;
    }
    return 0;
}

int cli_ws_connect(cli_ws_client *c, const cli_url *u, const char *target, int64_t deadline,
                char *err, size_t errlen)
{
    tb__ws_limits lim = { CLI_WS_MAX_MESSAGE, CLI_WS_MAX_MESSAGE };
    int rc;

    memset(c, 0, sizeof *c);
    tb__ws_reader_init(&c->rd, false, &lim);
    c->fd = cli_net_connect(u->host, u->port, deadline, err, errlen);
    if (c->fd < 0) {
        rc = c->fd;
        c->fd = -1;
        return rc;
    }
    rc = handshake(c, u, target, deadline, err, errlen);
    if (rc < 0)
        cli_ws_close(c);
    return rc;
}

int cli_ws_send(cli_ws_client *c, int opcode, const void *p, size_t len)
{
    uint8_t mask[4];
    uint8_t *frame;
    size_t hl;
    int rc;

    /* §5.3: a fresh unpredictable key per frame. */
    if (RAND_bytes(mask, sizeof mask) != 1)
        return -1;
    frame = malloc(TB_WS_MAX_HEADER + len);
    if (!frame)
        return -1;
    hl = tb__ws_write_header(frame, opcode, true, len, mask);
    memcpy(frame + hl, p, len);
    tb__ws_mask(frame + hl, len, mask, 0);
    rc = cli_net_send_all(c->fd, frame, hl + len);
    free(frame);
    return rc;
}

int cli_ws_send_close(cli_ws_client *c, uint16_t code, const char *reason)
{
    uint8_t body[125];
    size_t rl = reason ? strlen(reason) : 0;
    if (rl > sizeof body - 2)
        rl = sizeof body - 2;
    body[0] = (uint8_t)(code >> 8);
    body[1] = (uint8_t)code;
    if (rl)
        memcpy(body + 2, reason, rl);
    return cli_ws_send(c, TB_WS_OP_CLOSE, body, 2 + rl);
}

int cli_ws_next(cli_ws_client *c, tb__ws_msg *msg, int64_t deadline)
{
    if (c->used) {
        memmove(c->buf, c->buf + c->used, c->len - c->used);
        c->len -= c->used;
        c->used = 0;
    }
    for (;;) {
        size_t consumed = 0;
        int rc = tb__ws_reader_next(&c->rd, c->buf, c->len, &consumed, msg);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            c->used = consumed;
            return 1;
        }
        if (consumed) {
            memmove(c->buf, c->buf + consumed, c->len - consumed);
            c->len -= consumed;
        }
        if (c->len == c->cap) {
            /* The reader bounds a frame, hence what we must hold. */
            size_t cap = c->cap ? c->cap * 2 : 4096;
            if (cap > CLI_WS_MAX_MESSAGE + TB_WS_MAX_HEADER)
                cap = CLI_WS_MAX_MESSAGE + TB_WS_MAX_HEADER;
            uint8_t *nb = realloc(c->buf, cap);
            if (!nb)
                return -1;
            c->buf = nb;
            c->cap = cap;
        }
        ssize_t r = cli_net_recv(c->fd, c->buf + c->len, c->cap - c->len, deadline);
        if (r <= 0)
            return (int)r;
        c->len += (size_t)r;
    }
}

void cli_ws_close(cli_ws_client *c)
{
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    tb__ws_reader_free(&c->rd);
    free(c->buf);
    c->buf = NULL;
    c->len = c->cap = c->used = 0;
}
