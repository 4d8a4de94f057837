#include "route/buf.h"

#include <stdlib.h>
#include <string.h>

#include "ws_frame.h"

tbd_buf *tbd_buf_new(size_t len)
{
    if (len > UINT32_MAX)
        return NULL;
    tbd_buf *b = malloc(sizeof(*b) + len);
    if (!b)
        return NULL;
    atomic_init(&b->refs, 1);
    b->len = (uint32_t)len;
    return b;
}

void tbd_buf_unref(tbd_buf *b)
{
    if (!b)
        return;
    /* acq_rel: the thread that frees must see every write made before the
     * other threads dropped their refs. */
    if (atomic_fetch_sub_explicit(&b->refs, 1, memory_order_acq_rel) == 1)
        free(b);
}

tbd_buf *tbd_buf_text3(const char *a, size_t alen, const char *b, size_t blen,
                       const char *c, size_t clen)
{
    size_t len = alen + blen + clen;
    size_t hl = tb__ws_header_size(len, false);
    tbd_buf *f = tbd_buf_new(hl + len);
    if (!f)
        return NULL;
    uint8_t *p = f->data + tb__ws_write_header(f->data, TB_WS_OP_TEXT, true, len, NULL);
    if (alen) { memcpy(p, a, alen); p += alen; }
    if (blen) { memcpy(p, b, blen); p += blen; }
    if (clen) memcpy(p, c, clen);
    return f;
}

tbd_buf *tbd_buf_frame(int opcode, const void *payload, size_t len)
{
    size_t hl = tb__ws_header_size(len, false);
    tbd_buf *f = tbd_buf_new(hl + len);
    if (!f)
        return NULL;
    tb__ws_write_header(f->data, opcode, true, len, NULL);
    if (len)
        memcpy(f->data + hl, payload, len);
    return f;
}

tbd_buf *tbd_buf_close(uint16_t code, const char *reason)
{
    uint8_t payload[125];
    size_t rlen = reason ? strlen(reason) : 0;
    if (rlen > sizeof(payload) - 2)
        rlen = sizeof(payload) - 2;
    payload[0] = (uint8_t)(code >> 8);
    payload[1] = (uint8_t)(code & 0xff);
    if (rlen)
        memcpy(payload + 2, reason, rlen);
    return tbd_buf_frame(TB_WS_OP_CLOSE, payload, 2 + rlen);
}
