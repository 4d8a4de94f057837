/* Direct TLS on the listener (OpenSSL).
 *
 * One context per process, built at start-up from websocket.certificate and
 * websocket.private_key, shared by every worker (SSL_new on a shared
 * SSL_CTX is thread-safe). Per connection, the SSL object talks to a BIO of
 * ours instead of the socket, so libuv keeps owning the socket:
 *
 *  - read: ciphertext from the socket is lent with tbd_tls_input and
 *    consumed by tbd_tls_read, which returns plaintext (and drives the
 *    handshake). Nothing of it is kept once tbd_tls_read returns 0.
 *  - write: tbd_tls_write encrypts into one growing block of ciphertext
 *    (handshake messages and alerts land there too, in order); the caller
 *    takes it with tbd_tls_take and owns it until it is written.
 *
 * An idle session holds only the SSL object: no BIO buffer outlives its
 * use, and SSL_MODE_RELEASE_BUFFERS frees OpenSSL's record buffers. */
#ifndef TBD_TLS_H
#define TBD_TLS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "route/buf.h"
#include "conf/config.h"

typedef struct ssl_ctx_st tbd_tls_ctx;   /* OpenSSL's SSL_CTX */
typedef struct tbd_tls tbd_tls;

/* Largest plaintext one tbd_tls_read returns (one TLS record). */
#define TBD_TLS_RECORD 16384

/* Builds the shared context if TLS is configured (both keys set): else
 * *out = NULL and 0 (with a warning if only one is set). -1 with err naming
 * the key and file on error. Call before any worker runs. */
int tbd_tls_ctx_new(const tbd_config *cfg, tbd_tls_ctx **out, char *err, size_t errlen);
void tbd_tls_ctx_free(tbd_tls_ctx *ctx);

/* A server-side session on `ctx`; NULL on ENOMEM. */
tbd_tls *tbd_tls_new(tbd_tls_ctx *ctx);
void tbd_tls_free(tbd_tls *t);

/* Lends ciphertext to the session until the next tbd_tls_read returns 0
 * or fails. */
void tbd_tls_input(tbd_tls *t, const uint8_t *data, size_t len);

/* Decrypts into buf (cap >= TBD_TLS_RECORD for whole records): >0 bytes of
 * plaintext; 0 = the lent input is consumed, more is needed; TBD_TLS_CLOSED
 * = the peer sent close_notify; -1 = fatal error (handshake failure, bad
 * record), reason in err. Output (handshake replies, alerts) may be
 * pending afterwards either way. */
#define TBD_TLS_CLOSED (-2)
int tbd_tls_read(tbd_tls *t, uint8_t *buf, size_t cap, char *err, size_t errlen);

/* Handshake complete and no fatal error: application data may be written. */
bool tbd_tls_ready(const tbd_tls *t);

/* Encrypts all of data into the pending output. 0, or -1 (ENOMEM, or the
 * session is not ready). */
int tbd_tls_write(tbd_tls *t, const void *data, size_t len);

/* Bytes of ciphertext waiting for tbd_tls_take. */
size_t tbd_tls_pending(const tbd_tls *t);

/* The pending ciphertext as a block (one ref, the caller's), or NULL. */
tbd_buf *tbd_tls_take(tbd_tls *t);

/* Queues close_notify (if the session is ready; else does nothing). */
void tbd_tls_shutdown(tbd_tls *t);

#endif
