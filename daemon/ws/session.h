/* The WebSocket phase of a connection: the wazo-websocketd protocol
 * (DESIGN §3) — authentication, subscribe / start / token / ping, token
 * re-checks, and the session-end log line. */
#ifndef TBD_SESSION_H
#define TBD_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "net/conn.h"

void tbd_session_begin(tbd_conn *c, const char *token, const char *version);
/* Consumes bytes; returns how many it used, or -1 after closing the conn. */
ssize_t tbd_session_feed(tbd_conn *c, uint8_t *data, size_t len);
void tbd_session_check_token(tbd_conn *c);
void tbd_session_end(tbd_conn *c);  /* unindex, log */

#endif
