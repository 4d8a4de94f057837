/* wazo-websocketd protocol: decoding client commands (DESIGN.md §3). Pure
 * functions, no I/O. */
#ifndef TBD_WSPROTO_H
#define TBD_WSPROTO_H

#include <stddef.h>

typedef enum wsp_op {
    WSP_SUBSCRIBE = 1, /* arg = data.event_name */
    WSP_START,         /* no arg */
    WSP_TOKEN,         /* arg = data.token */
    WSP_PING,          /* arg = data.payload */
} wsp_op;

typedef struct wsp_cmd {
    wsp_op op;
    char *arg;         /* owned; NULL for start */
} wsp_cmd;

/* Decodes one text message. Returns 0 with *out filled, or -1 for any
 * protocol error (=> close 4004): not JSON, not an object, `op` missing or
 * not a string, unknown op, `data` missing / not an object where the op
 * needs it, or the op's field missing or not a string. */
int wsp__decode(const char *text, size_t len, wsp_cmd *out);
void wsp__cmd_clear(wsp_cmd *cmd);

/* Parses the `version` query value: NULL (absent) => 1; "1" or "2" => 1/2;
 * anything else => -1 (=> close 4004). */
int wsp__parse_version(const char *v);

#endif
