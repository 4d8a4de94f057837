/* Blocking RFC 6455 client for `tenbus listen`: opening handshake, masked
 * client frames, and ws_frame's reader on the client side. */
#ifndef TB_CLI_WSCLIENT_H
#define TB_CLI_WSCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "url.h"
#include "ws_frame.h"

typedef struct cli_ws_client {
    int fd;
    tb__ws_reader rd;
    uint8_t *buf;      /* received bytes not yet consumed */
    size_t len, cap;
    size_t used;       /* bytes behind the last message, dropped on the next read */
} cli_ws_client;

/* Largest frame and message the CLI accepts from the server. */
#define CLI_WS_MAX_MESSAGE (16u << 20)

/* Connects and upgrades `target` (path and query). Returns 0, CLI_NET_TIMEOUT,
 * or -1 with a message in err (a refused upgrade includes the status and
 * body). */
int cli_ws_connect(cli_ws_client *c, const cli_url *u, const char *target, int64_t deadline,
                char *err, size_t errlen);

/* Sends one masked frame. Returns 0 or -1 (errno set). */
int cli_ws_send(cli_ws_client *c, int opcode, const void *p, size_t len);

/* Sends a close frame with `code` (RFC 6455 §5.5.1). */
int cli_ws_send_close(cli_ws_client *c, uint16_t code, const char *reason);

/* Reads the next message. Returns 1 with *msg (valid until the next call),
 * 0 at EOF, CLI_NET_TIMEOUT, -1 on an I/O error (errno set), or the negated
 * close code (<= -1000) for a protocol violation by the server. */
int cli_ws_next(cli_ws_client *c, tb__ws_msg *msg, int64_t deadline);

void cli_ws_close(cli_ws_client *c);

#endif
