/* RFC 6455 WebSocket framing: header encoding, and an incremental reader that
 * turns raw bytes into whole messages.
 *
 * Written by hand on purpose: the Debian WebSocket libraries (libwebsockets,
 * wslay) own the connection's write queue and copy every message per
 * connection, while tenbus shares one pre-built frame among all recipients
 * and writes with writev (DESIGN.md §7). The framing itself is small. */
#ifndef TB_WS_FRAME_H
#define TB_WS_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
    TB_WS_OP_CONT = 0x0, TB_WS_OP_TEXT = 0x1, TB_WS_OP_BINARY = 0x2,
    TB_WS_OP_CLOSE = 0x8, TB_WS_OP_PING = 0x9, TB_WS_OP_PONG = 0xA,
};

/* RFC 6455 §7.4.1 status codes used by tenbus. */
enum {
    TB_WS_CLOSE_NORMAL = 1000, TB_WS_CLOSE_GOING_AWAY = 1001, TB_WS_CLOSE_PROTOCOL = 1002,
    TB_WS_CLOSE_UNSUPPORTED = 1003, TB_WS_CLOSE_NO_STATUS = 1005, TB_WS_CLOSE_INVALID_DATA = 1007,
    TB_WS_CLOSE_POLICY = 1008, TB_WS_CLOSE_TOO_BIG = 1009, TB_WS_CLOSE_INTERNAL = 1011,
};

#define TB_WS_MAX_HEADER 14 /* 2 + 8 (length) + 4 (mask) */

/* Size of the header for a payload of `len` bytes. */
size_t tb__ws_header_size(uint64_t len, bool masked);

/* Writes a frame header into `out` (>= TB_WS_MAX_HEADER bytes); `mask` NULL =>
 * unmasked (server frames). Returns the header length. The caller masks the
 * payload itself (tb__ws_mask) when `mask` is given. */
size_t tb__ws_write_header(uint8_t *out, int opcode, bool fin, uint64_t len, const uint8_t mask[4]);

/* XORs `len` bytes with the mask, starting at mask offset `off` (0..3). */
void tb__ws_mask(uint8_t *p, size_t len, const uint8_t mask[4], size_t off);

/* Sec-WebSocket-Accept for a client's Sec-WebSocket-Key (RFC 6455 §4.2.2):
 * writes 28 chars + NUL into out. Returns 0, or -1 if key is not 16 bytes
 * of base64 (24 chars). */
int tb__ws_accept_key(const char *client_key, char out[29]);

/* Incremental UTF-8 validation (RFC 3629: no overlongs, no surrogates,
 * max U+10FFFF). State 0 = at a character boundary. Returns the new
 * state, or -1 on invalid input. */
int tb__ws_utf8_step(int state, const uint8_t *p, size_t len);
bool tb__ws_utf8_valid(const uint8_t *p, size_t len);

typedef struct tb__ws_limits {
    uint64_t max_frame;   /* max payload of one frame (=> 1009); 0 => default */
    uint64_t max_message; /* max payload of a reassembled message (=> 1009); 0 => default */
} tb__ws_limits;

/* Used by tb__ws_reader_init when `lim` is NULL or a field is 0. */
#define TB_WS_DEFAULT_MAX_FRAME   (1u << 20)
#define TB_WS_DEFAULT_MAX_MESSAGE (1u << 20)

typedef struct tb__ws_reader {
    /* private */
    bool require_mask;      /* server side: unmasked frame => 1002 */
    bool expect_mask;       /* false on the client side: masked frame => 1002 */
    tb__ws_limits lim;
    int frag_opcode;        /* opcode of the message being reassembled, 0 if none */
    int utf8_state;
    uint8_t *frag;          /* reassembly buffer (owned) */
    size_t frag_len, frag_cap;
    /* UTF-8 progress inside the incomplete text frame at the start of the
     * caller's buffer, so invalid text fails before the frame is complete. */
    size_t pend_off;        /* payload bytes of that frame already validated */
    int pend_utf8;          /* UTF-8 state after them */
} tb__ws_reader;

typedef struct tb__ws_msg {
    int opcode;             /* TB_WS_OP_TEXT, BINARY, CLOSE, PING or PONG */
    const uint8_t *data;    /* payload (points into the caller's buffer or the reader's) */
    size_t len;
    uint16_t close_code;    /* CLOSE: received code, TB_WS_CLOSE_NO_STATUS if none */
    const char *close_reason; size_t close_reason_len; /* CLOSE: UTF-8 reason */
} tb__ws_msg;

/* server: require_mask = true; client: false (then masked frames are refused). */
void tb__ws_reader_init(tb__ws_reader *r, bool server, const tb__ws_limits *lim);
void tb__ws_reader_free(tb__ws_reader *r);

/* Parses at most one message (or control frame) from buf[0..len).
 * `buf` is modified in place (unmasking). Only whole frames are consumed, so
 * the caller's buffer must hold up to TB_WS_MAX_HEADER + max_frame bytes; bytes
 * not consumed must start the buffer of the next call, unchanged. Returns:
 *   1  a message is in *msg; *consumed bytes of buf were used. msg->data stays
 *      valid until the next call or until the caller discards those bytes;
 *   0  need more bytes; *consumed may be > 0 (a fragment was absorbed into
 *      the reader) and those bytes may be discarded;
 *  <0  the negated close code to send: -1002 protocol error (bad opcode,
 *      reserved bits, masking, control frame too long or fragmented, bad
 *      continuation, bad close payload), -1007 invalid UTF-8 in a text
 *      message or close reason, -1009 frame or message too big, -1011 out
 *      of memory. After an error the reader is only fit for tb__ws_reader_free. */
int tb__ws_reader_next(tb__ws_reader *r, uint8_t *buf, size_t len, size_t *consumed, tb__ws_msg *msg);

#endif
