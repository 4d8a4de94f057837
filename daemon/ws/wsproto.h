/* wazo-websocketd protocol: decoding client commands (DESIGN.md §3). Pure
 * functions, no I/O. */
#ifndef TBD_WSPROTO_H
#define TBD_WSPROTO_H

#include <stddef.h>

typedef enum tbd_wsp_op {
    TBD_WSP_SUBSCRIBE = 1, /* arg = data.event_name */
    TBD_WSP_START,         /* no arg */
    TBD_WSP_TOKEN,         /* arg = data.token */
    TBD_WSP_PING,          /* arg = data.payload */
} tbd_wsp_op;

typedef struct tbd_wsp_cmd {
    tbd_wsp_op op;
    char *arg;         /* owned; NULL for start */
} tbd_wsp_cmd;

/* Decodes one text message. Returns 0 with *out filled, or -1 for any
 * protocol error (=> close 4004): not JSON, not an object, `op` missing or
 * not a string, unknown op, `data` missing / not an object where the op
 * needs it, or the op's field missing or not a string. */
int tbd_wsp_decode(const char *text, size_t len, tbd_wsp_cmd *out);
void tbd_wsp_cmd_clear(tbd_wsp_cmd *cmd);

/* Parses the `version` query value: NULL (absent) => 1; "1" or "2" => 1/2;
 * anything else => -1 (=> close 4004). */
int tbd_wsp_parse_version(const char *v);

#endif
