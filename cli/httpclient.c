#define _GNU_SOURCE /* asprintf */
#include "httpclient.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <http_parser.h>

#include "net.h"
#include <tenbus/tenbus.h>

/* A runaway server must not make the CLI grow without bound. */
#define MAX_RESPONSE_BODY (64u << 20)

typedef struct rctx {
    cli_http_response *res;
    size_t cap;
    int done;
    int too_big;
} rctx;

static int on_body(http_parser *p, const char *at, size_t len)
{
    rctx *c = p->data;
    cli_http_response *r = c->res;
    if (r->body_len + len > MAX_RESPONSE_BODY) {
        c->too_big = 1;
        return -1;
    }
    if (r->body_len + len + 1 > c->cap) {
        size_t cap = c->cap ? c->cap : 1024;
        while (cap < r->body_len + len + 1)
            cap *= 2;
        char *nb = realloc(r->body, cap);
        if (!nb)
            return -1;
        r->body = nb;
        c->cap = cap;
    }
    memcpy(r->body + r->body_len, at, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
    return 0;
}

static int on_complete(http_parser *p)
{
    ((rctx *)p->data)->done = 1;
    return 0;
}

static int send_request(int fd, const cli_url *u, const char *method, const char *target,
                        const char *headers, const char *body, size_t body_len)
{
    char *head = NULL;
    int n = asprintf(&head,
                     "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: tenbus/%s\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n%s\r\n",
                     method, target, u->authority, tb_version(), body_len, headers);
    if (n < 0)
        return -1;
    int rc = cli_net_send_all(fd, head, (size_t)n);
    free(head);
    if (rc == 0 && body_len)
        rc = cli_net_send_all(fd, body, body_len);
    return rc;
}

int cli_http_request(const cli_url *u, const char *method, const char *target, const char *headers,
                 const char *body, size_t body_len, int64_t deadline, cli_http_response *res,
                 char *err, size_t errlen)
{
    http_parser_settings st;
    http_parser p;
    rctx c = { .res = res };
    char buf[16384];
    int fd;

    memset(res, 0, sizeof *res);
    fd = cli_net_connect(u->host, u->port, deadline, err, errlen);
    if (fd < 0)
        return -1;
    if (send_request(fd, u, method, target, headers, body, body_len) < 0) {
        snprintf(err, errlen, "cannot send the request: %m");
        close(fd);
        return -1;
    }

    http_parser_settings_init(&st);
    st.on_body = on_body;
    st.on_message_complete = on_complete;
    http_parser_init(&p, HTTP_RESPONSE);
    p.data = &c;
    while (!c.done) {
        ssize_t n = cli_net_recv(fd, buf, sizeof buf, deadline);
        if (n == CLI_NET_TIMEOUT) {
            snprintf(err, errlen, "timed out waiting for the response");
            goto fail;
        }
        if (n < 0) {
            snprintf(err, errlen, "cannot read the response: %m");
            goto fail;
        }
        /* n == 0 tells the parser about EOF (a body delimited by close). */
        size_t used = http_parser_execute(&p, &st, buf, (size_t)n);
        if (HTTP_PARSER_ERRNO(&p) != HPE_OK || used != (size_t)n) {
            snprintf(err, errlen, c.too_big ? "response body too large" : "bad HTTP response: %s",
                     http_errno_description(HTTP_PARSER_ERRNO(&p)));
            goto fail;
        }
        if (n == 0 && !c.done) {
            snprintf(err, errlen, "connection closed before the response was complete");
            goto fail;
        }
    }
    close(fd);
    res->status = (int)p.status_code;
    if (!res->body)
        res->body = strdup("");
    return res->body ? 0 : -1;

fail:
    close(fd);
    cli_http_response_free(res);
    return -1;
}

void cli_http_response_free(cli_http_response *res)
{
    free(res->body);
    res->body = NULL;
    res->body_len = 0;
}
