/* Reference-counted immutable byte blocks: a pre-built WebSocket frame shared
 * by every recipient's write queue (DESIGN.md §7 "encode once"), or a
 * connection's own reply. Refcounts are atomic: one event's frames are
 * queued on several worker threads at once. */
#ifndef TBD_BUF_H
#define TBD_BUF_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tbd_buf {
    atomic_int refs;
    uint32_t len;
    uint8_t data[];
} tbd_buf;

/* A new block of `len` bytes (contents uninitialised), one ref. NULL on ENOMEM. */
tbd_buf *tbd_buf_new(size_t len);

/* A server-to-client (unmasked, FIN) frame carrying `payload`. One ref. */
tbd_buf *tbd_buf_frame(int opcode, const void *payload, size_t len);

/* A text frame whose payload is the concatenation of up to three parts
 * (any may be NULL/0): saves building the v2 envelope in a temporary. */
tbd_buf *tbd_buf_text3(const char *a, size_t alen, const char *b, size_t blen,
                       const char *c, size_t clen);

/* A close frame with `code` and `reason` (truncated to 123 bytes). */
tbd_buf *tbd_buf_close(uint16_t code, const char *reason);

static inline tbd_buf *tbd_buf_ref(tbd_buf *b)
{
    atomic_fetch_add_explicit(&b->refs, 1, memory_order_relaxed);
    return b;
}

void tbd_buf_unref(tbd_buf *b);

#endif
