/* The client's tenbusd transport (never installed): blocking TCP with
 * deadlines, one HTTP/1.1 request per connection, and a client-side
 * WebSocket (RFC 6455) connection that yields text messages. */
#ifndef TENBUS_WSX_H
#define TENBUS_WSX_H

#include <stddef.h>

#include "tenbus/tenbus.h"

/* Largest message accepted from the server (an event body and its frame). */
#define TB_WSX_MAX_MESSAGE (16u << 20)

typedef struct tb__ws tb__ws;

/* Connects to host:port and upgrades `target` (path and query, already
 * percent-encoded). Errors: TB_ECONN (connect, I/O, refused upgrade: err
 * has the status line), TB_ETIMEOUT, TB_ENOMEM. */
tb_err tb__ws_open(const char *host, int port, const char *target, int timeout_ms,
                   tb__ws **out, char *err, size_t errlen);

int tb__ws_fd(const tb__ws *ws);

/* Sends one masked text frame. TB_ECONN on failure. */
tb_err tb__ws_send_text(tb__ws *ws, const char *p, size_t n);

/* The next complete text message, waiting up to wait_ms (< 0: forever) for
 * bytes when none is buffered. TB_OK with *msg set (valid until the next
 * call) or NULL (nothing yet); TB_ECONN when the connection is closed or
 * broken (err says how: close code and reason); pings are answered here. */
tb_err tb__ws_next(tb__ws *ws, int wait_ms, const char **msg, size_t *len, char *err,
                   size_t errlen);

/* True when a complete message may already be buffered (poll would not say). */
int tb__ws_buffered(const tb__ws *ws);

void tb__ws_close(tb__ws *ws);

/* POST `target` with `headers` (complete "Name: value\r\n" lines) and a
 * JSON body; Connection: close. On TB_OK *status is the HTTP status and
 * *resp a malloc'd NUL-terminated response body. Errors: TB_ECONN,
 * TB_ETIMEOUT, TB_ENOMEM. */
tb_err tb__http_post(const char *host, int port, const char *target, const char *headers,
                     const char *body, size_t len, int timeout_ms, int *status, char **resp,
                     char *err, size_t errlen);

/* Appends the percent-encoding (RFC 3986 unreserved kept) of s to out[0..cap).
 * Returns -1 if it does not fit. */
int tb__pct_encode_append(char *out, size_t cap, const char *s);

#endif
