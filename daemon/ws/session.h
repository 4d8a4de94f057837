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
/* The WebSocket phase's operations (net/conn.h): the session, and its
 * closing handshake. */
extern const tbd_conn_phase tbd_ws_phase, tbd_ws_closing_phase;
/* Re-checks the sessions waiting on the bus (connection outcome, deadline,
 * bindings): resumes, refuses or keeps each. Worker thread. */
void tbd_session_wake_waiters(tbd_worker *w);
void tbd_session_free_waiters(tbd_worker *w);  /* shutdown: drops them */

#endif
