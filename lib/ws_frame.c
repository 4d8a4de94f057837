/* RFC 6455 framing. See ws_frame.h for the reader's buffer contract. */
#include "ws_frame.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

/* A reassembly buffer larger than this is released once its message has been
 * handed out, so an idle connection keeps only a few KiB (DESIGN.md §7). */
#define FRAG_KEEP 4096
#define FRAG_MIN  256

size_t tb__ws_header_size(uint64_t len, bool masked)
{
    size_t n = 2;
    if (len > 0xFFFF)
        n += 8;
    else if (len > 125)
        n += 2;
    return n + (masked ? 4 : 0);
}

size_t tb__ws_write_header(uint8_t *out, int opcode, bool fin, uint64_t len, const uint8_t mask[4])
{
    size_t n = 2;
    out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0F));
    out[1] = mask ? 0x80 : 0;
    /* §5.2: the minimal length encoding is required of senders. */
    if (len <= 125) {
        out[1] |= (uint8_t)len;
    } else if (len <= 0xFFFF) {
        out[1] |= 126;
        out[2] = (uint8_t)(len >> 8);
        out[3] = (uint8_t)len;
        n = 4;
    } else {
        out[1] |= 127;
        for (int i = 0; i < 8; i++)
            out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
        n = 10;
    }
    if (mask) {
        memcpy(out + n, mask, 4);
        n += 4;
    }
    return n;
}

void tb__ws_mask(uint8_t *p, size_t len, const uint8_t mask[4], size_t off)
{
    for (size_t i = 0; i < len; i++)
        p[i] ^= mask[(i + off) & 3];
}

static bool is_b64(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '+' || c == '/';
}

int tb__ws_accept_key(const char *client_key, char out[29])
{
    static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
    char buf[24 + sizeof guid - 1];
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    /* §4.2.1 item 5: a base64-encoded 16-byte value, i.e. 22 digits + "==". */
    if (!client_key || strlen(client_key) != 24 || client_key[22] != '=' || client_key[23] != '=')
        return -1;
    for (int i = 0; i < 22; i++)
        if (!is_b64(client_key[i]))
            return -1;

    memcpy(buf, client_key, 24);
    memcpy(buf + 24, guid, sizeof guid - 1);
    if (!EVP_Digest(buf, sizeof buf, md, &mdlen, EVP_sha1(), NULL) || mdlen != 20)
        return -1;
    EVP_EncodeBlock((unsigned char *)out, md, 20); /* 28 chars + NUL */
    return 0;
}

/* UTF-8 DFA (RFC 3629 §4). States: 0 boundary; 1/2/3 = that many generic
 * continuation bytes (80..BF) still expected; 4..7 = the next continuation
 * byte has a narrowed range that excludes overlongs (E0, F0), surrogates (ED)
 * and code points above U+10FFFF (F4). */
enum { U_ACCEPT = 0, U_C1, U_C2, U_C3, U_E0, U_ED, U_F0, U_F4 };

static int utf8_byte(int s, uint8_t b)
{
    switch (s) {
    case U_ACCEPT:
        if (b < 0x80) return U_ACCEPT;
        if (b < 0xC2) return -1;        /* continuation, or overlong C0/C1 */
        if (b < 0xE0) return U_C1;
        if (b == 0xE0) return U_E0;
        if (b == 0xED) return U_ED;
        if (b < 0xF0) return U_C2;
        if (b == 0xF0) return U_F0;
        if (b < 0xF4) return U_C3;
        if (b == 0xF4) return U_F4;
        return -1;                      /* F5..FF: beyond U+10FFFF */
    case U_C1: return (b & 0xC0) == 0x80 ? U_ACCEPT : -1;
    case U_C2: return (b & 0xC0) == 0x80 ? U_C1 : -1;
    case U_C3: return (b & 0xC0) == 0x80 ? U_C2 : -1;
    case U_E0: return b >= 0xA0 && b <= 0xBF ? U_C1 : -1;
    case U_ED: return b >= 0x80 && b <= 0x9F ? U_C1 : -1;
    case U_F0: return b >= 0x90 && b <= 0xBF ? U_C2 : -1;
    case U_F4: return b >= 0x80 && b <= 0x8F ? U_C2 : -1;
    default: return -1;
    }
}

int tb__ws_utf8_step(int state, const uint8_t *p, size_t len)
{
    size_t i = 0;
    while (i < len) {
        if (state == U_ACCEPT) {
            /* ASCII runs are the common case for JSON. */
            while (i < len && p[i] < 0x80)
                i++;
            if (i == len)
                break;
        }
        state = utf8_byte(state, p[i++]);
        if (state < 0)
            return -1;
    }
    return state;
}

bool tb__ws_utf8_valid(const uint8_t *p, size_t len)
{
    return tb__ws_utf8_step(U_ACCEPT, p, len) == U_ACCEPT;
}

/* Validates masked bytes without unmasking them: the buffer of an incomplete
 * frame must stay as received, since the caller hands it to us again. */
static int utf8_step_masked(int state, const uint8_t *p, size_t from, size_t to,
                            const uint8_t *mask)
{
    for (size_t i = from; i < to && state >= 0; i++)
        state = utf8_byte(state, mask ? (uint8_t)(p[i] ^ mask[i & 3]) : p[i]);
    return state;
}

void tb__ws_reader_init(tb__ws_reader *r, bool server, const tb__ws_limits *lim)
{
    memset(r, 0, sizeof *r);
    r->require_mask = server;
    r->expect_mask = server;
    r->lim.max_frame = lim && lim->max_frame ? lim->max_frame : TB_WS_DEFAULT_MAX_FRAME;
    r->lim.max_message = lim && lim->max_message ? lim->max_message : TB_WS_DEFAULT_MAX_MESSAGE;
}

void tb__ws_reader_free(tb__ws_reader *r)
{
    free(r->frag);
    r->frag = NULL;
    r->frag_len = r->frag_cap = 0;
    r->frag_opcode = 0;
}

typedef struct frame_hdr {
    bool fin;
    int opcode;
    bool masked;
    uint8_t mask[4];
    uint64_t plen;
    size_t hlen;
} frame_hdr;

static bool is_control(int op) { return op & 0x8; }

/* Parses and checks one frame header, failing as soon as the bytes that
 * prove it bad have arrived. Returns 1 (complete), 0 (need more) or <0. */
static int parse_header(const tb__ws_reader *r, const uint8_t *b, size_t len, frame_hdr *h)
{
    size_t n;
    uint8_t len7;

    if (len < 1)
        return 0;
    /* §5.2: RSV1-3 must be 0 unless an extension defines them; we negotiate none. */
    if (b[0] & 0x70)
        return -TB_WS_CLOSE_PROTOCOL;
    h->fin = b[0] & 0x80;
    h->opcode = b[0] & 0x0F;
    switch (h->opcode) {
    case TB_WS_OP_CONT:
        /* §5.4: a continuation needs a message in progress. */
        if (!r->frag_opcode)
            return -TB_WS_CLOSE_PROTOCOL;
        break;
    case TB_WS_OP_TEXT: case TB_WS_OP_BINARY:
        /* §5.4: fragments of one message may not interleave with another. */
        if (r->frag_opcode)
            return -TB_WS_CLOSE_PROTOCOL;
        break;
    case TB_WS_OP_CLOSE: case TB_WS_OP_PING: case TB_WS_OP_PONG:
        /* §5.5: control frames are never fragmented. */
        if (!h->fin)
            return -TB_WS_CLOSE_PROTOCOL;
        break;
    default:
        return -TB_WS_CLOSE_PROTOCOL;      /* §5.2: reserved opcodes */
    }

    if (len < 2)
        return 0;
    h->masked = b[1] & 0x80;
    /* §5.1: clients mask every frame, servers none. */
    if (h->masked != r->expect_mask)
        return -TB_WS_CLOSE_PROTOCOL;
    len7 = b[1] & 0x7F;

    n = 2;
    if (len7 == 126) {
        if (len < 4)
            return 0;
        h->plen = (uint64_t)b[2] << 8 | b[3];
        n = 4;
    } else if (len7 == 127) {
        if (len < 10)
            return 0;
        /* §5.2: the most significant bit of a 64-bit length must be 0. */
        if (b[2] & 0x80)
            return -TB_WS_CLOSE_PROTOCOL;
        h->plen = 0;
        for (int i = 0; i < 8; i++)
            h->plen = h->plen << 8 | b[2 + i];
        n = 10;
    } else {
        h->plen = len7;
    }
    /* Non-minimal length encodings are tolerated (§5.2 only obliges senders). */

    if (is_control(h->opcode)) {
        if (h->plen > 125)
            return -TB_WS_CLOSE_PROTOCOL;  /* §5.5 */
        /* §5.5.1: a close body is empty or starts with a 2-byte code. */
        if (h->opcode == TB_WS_OP_CLOSE && h->plen == 1)
            return -TB_WS_CLOSE_PROTOCOL;
    } else {
        /* Refuse oversize data before any payload is buffered (§10.4). */
        if (h->plen > r->lim.max_frame)
            return -TB_WS_CLOSE_TOO_BIG;
        if (h->opcode == TB_WS_OP_CONT ? h->plen > r->lim.max_message - r->frag_len
                                    : h->plen > r->lim.max_message)
            return -TB_WS_CLOSE_TOO_BIG;
    }

    if (h->masked) {
        if (len < n + 4)
            return 0;
        memcpy(h->mask, b + n, 4);
        n += 4;
    }
    h->hlen = n;
    return 1;
}

/* §7.4.1/§7.4.2: codes a peer may send. 1005, 1006 and 1015 are reserved
 * for reporting and never appear on the wire; 1004 and 1012-2999 are not
 * defined for endpoints to send. */
static bool close_code_valid(unsigned c)
{
    return (c >= 1000 && c <= 1003) || (c >= 1007 && c <= 1011) || (c >= 3000 && c <= 4999);
}

static int parse_close(const uint8_t *p, size_t len, tb__ws_msg *msg)
{
    msg->close_code = TB_WS_CLOSE_NO_STATUS;
    msg->close_reason = "";
    msg->close_reason_len = 0;
    if (len == 0)
        return 0;
    msg->close_code = (uint16_t)(p[0] << 8 | p[1]);
    if (!close_code_valid(msg->close_code))
        return -TB_WS_CLOSE_PROTOCOL;
    if (!tb__ws_utf8_valid(p + 2, len - 2))
        return -TB_WS_CLOSE_INVALID_DATA;
    msg->close_reason = (const char *)p + 2;
    msg->close_reason_len = len - 2;
    return 0;
}

static int frag_append(tb__ws_reader *r, const uint8_t *p, size_t len)
{
    size_t need = r->frag_len + len;
    if (need > r->frag_cap) {
        /* need <= max_message, checked in parse_header. */
        size_t cap = r->frag_cap ? r->frag_cap : FRAG_MIN;
        while (cap < need)
            cap *= 2;
        if (cap > r->lim.max_message)
            cap = (size_t)r->lim.max_message;
        uint8_t *nb = realloc(r->frag, cap);
        if (!nb)
            return -TB_WS_CLOSE_INTERNAL;
        r->frag = nb;
        r->frag_cap = cap;
    }
    if (len)
        memcpy(r->frag + r->frag_len, p, len);
    r->frag_len = need;
    return 0;
}

static void msg_data(tb__ws_msg *msg, int opcode, const uint8_t *p, size_t len)
{
    memset(msg, 0, sizeof *msg);
    msg->opcode = opcode;
    msg->data = p ? p : (const uint8_t *)"";
    msg->len = len;
}

int tb__ws_reader_next(tb__ws_reader *r, uint8_t *buf, size_t len, size_t *consumed, tb__ws_msg *msg)
{
    size_t off = 0;

    *consumed = 0;
    /* The previous fragmented message was handed out by the last call. */
    if (!r->frag_opcode) {
        r->frag_len = 0;
        if (r->frag_cap > FRAG_KEEP) {
            free(r->frag);
            r->frag = NULL;
            r->frag_cap = 0;
        }
    }

    if (len == 0)
        return 0; /* buf may be NULL */

    for (;;) {
        frame_hdr h;
        int rc = parse_header(r, buf + off, len - off, &h);
        if (rc <= 0) {
            *consumed = off;
            return rc;
        }

        uint8_t *p = buf + off + h.hlen;
        size_t avail = len - off - h.hlen;
        bool text = h.opcode == TB_WS_OP_TEXT ||
                    (h.opcode == TB_WS_OP_CONT && r->frag_opcode == TB_WS_OP_TEXT);
        /* A text frame continues the message's UTF-8 state; a new one starts at 0. */
        int u = r->pend_off ? r->pend_utf8 : h.opcode == TB_WS_OP_CONT ? r->utf8_state : 0;

        if (avail < h.plen) {
            /* §8.1: fail invalid text as soon as it is seen. */
            *consumed = off;
            if (text && avail > r->pend_off) {
                u = utf8_step_masked(u, p, r->pend_off, avail, h.masked ? h.mask : NULL);
                if (u < 0)
                    return -TB_WS_CLOSE_INVALID_DATA;
                r->pend_off = avail;
                r->pend_utf8 = u;
            }
            return 0;
        }

        size_t plen = (size_t)h.plen;
        size_t checked = r->pend_off;
        r->pend_off = 0;
        r->pend_utf8 = 0;
        if (h.masked)
            tb__ws_mask(p, plen, h.mask, 0);
        off += h.hlen + plen;

        if (is_control(h.opcode)) {
            msg_data(msg, h.opcode, p, plen);
            if (h.opcode == TB_WS_OP_CLOSE && (rc = parse_close(p, plen, msg)) < 0)
                return rc;
            *consumed = off;
            return 1;
        }

        if (text) {
            u = tb__ws_utf8_step(u, p + checked, plen - checked);
            if (u < 0 || (h.fin && u != U_ACCEPT))
                return -TB_WS_CLOSE_INVALID_DATA;
        }

        if (h.opcode != TB_WS_OP_CONT && h.fin) {
            /* Unfragmented: hand out the caller's bytes, no copy. */
            msg_data(msg, h.opcode, p, plen);
            *consumed = off;
            return 1;
        }

        if (h.opcode != TB_WS_OP_CONT) {
            r->frag_opcode = h.opcode;
            r->frag_len = 0;
        }
        r->utf8_state = u;
        if ((rc = frag_append(r, p, plen)) < 0)
            return rc;
        if (h.fin) {
            msg_data(msg, r->frag_opcode, r->frag, r->frag_len);
            r->frag_opcode = 0;
            r->utf8_state = 0;
            *consumed = off;
            return 1;
        }
    }
}
