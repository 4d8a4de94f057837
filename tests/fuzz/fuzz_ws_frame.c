/* The RFC 6455 frame reader (lib/ws_frame.c).
 *
 * Input: byte 0 picks the side (bit 0: server/client) and, with byte 1, the
 * frame and message limits; bytes 2-3 seed the chunking; the rest is the
 * byte stream from the peer. The stream is parsed twice: all at once, and
 * delivered in pseudo-random chunks the way a socket would, honouring the
 * reader's buffer contract (unconsumed bytes start the next call, unchanged).
 * Both runs must yield the same messages and the same final result, and every
 * result must respect the documented invariants. */
#include "fuzz.h"
#include "ws_frame.h"

static const uint64_t frame_limits[8] = { 0, 1, 2, 125, 126, 200, 65535, 65536 + 3 };
static const uint64_t message_limits[8] = { 0, 1, 3, 125, 300, 1000, 65536, 70000 };

/* What a run produced: each message as opcode, length, bytes (and close
 * code/reason), then the final return code. */
typedef struct trace {
    uint8_t *p;
    size_t len, cap;
} trace;

static void put(trace *t, const void *p, size_t n)
{
    if (t->len + n > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->len + n)
            cap *= 2;
        t->p = realloc(t->p, cap);
        if (!t->p)
            abort();
        t->cap = cap;
    }
    if (n)
        memcpy(t->p + t->len, p, n);
    t->len += n;
}

static void check_msg(const tb__ws_limits *lim, const tb__ws_msg *m)
{
    FUZZ_CHECK(m->opcode == TB_WS_OP_TEXT || m->opcode == TB_WS_OP_BINARY || m->opcode == TB_WS_OP_CLOSE ||
               m->opcode == TB_WS_OP_PING || m->opcode == TB_WS_OP_PONG);
    FUZZ_CHECK(m->data != NULL);
    if (m->opcode & 0x8) {
        FUZZ_CHECK(m->len <= 125);
    } else {
        FUZZ_CHECK(m->len <= lim->max_message);
    }
    if (m->opcode == TB_WS_OP_TEXT)
        FUZZ_CHECK(tb__ws_utf8_valid(m->data, m->len));
    if (m->opcode == TB_WS_OP_CLOSE) {
        if (m->len == 0) {
            FUZZ_CHECK(m->close_code == TB_WS_CLOSE_NO_STATUS);
        } else {
            FUZZ_CHECK(m->len >= 2);
            FUZZ_CHECK(m->close_code == (m->data[0] << 8 | m->data[1]));
            FUZZ_CHECK(m->close_reason_len == m->len - 2);
            FUZZ_CHECK(tb__ws_utf8_valid((const uint8_t *)m->close_reason, m->close_reason_len));
        }
    }
}

static void record(trace *t, const tb__ws_msg *m)
{
    uint8_t op = (uint8_t)m->opcode;
    uint64_t len = m->len;
    put(t, &op, 1);
    put(t, &len, sizeof len);
    put(t, m->data, m->len);
    if (m->opcode == TB_WS_OP_CLOSE)
        put(t, &m->close_code, sizeof m->close_code);
}

static void check_rc(int rc)
{
    FUZZ_CHECK(rc == 0 || rc == 1 || rc == -1002 || rc == -1007 || rc == -1009 || rc == -1011);
}

/* Most bytes a reader may need buffered before it can make progress. */
static size_t max_pending(const tb__ws_reader *r)
{
    uint64_t f = r->lim.max_frame > 125 ? r->lim.max_frame : 125;
    return TB_WS_MAX_HEADER + (size_t)f;
}

/* All bytes in one buffer, as if they had arrived in one read. */
static int run_whole(bool server, const tb__ws_limits *lim, const uint8_t *data, size_t size,
                     trace *t)
{
    tb__ws_reader r;
    tb__ws_reader_init(&r, server, lim);
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        abort();
    memcpy(buf, data, size);
    size_t off = 0;
    int rc;
    for (;;) {
        size_t used = 0;
        tb__ws_msg m;
        rc = tb__ws_reader_next(&r, buf + off, size - off, &used, &m);
        check_rc(rc);
        FUZZ_CHECK(used <= size - off);
        off += used;
        if (rc != 1)
            break;
        FUZZ_CHECK(used > 0);
        check_msg(&r.lim, &m);
        record(t, &m);
    }
    if (rc == 0)
        FUZZ_CHECK(size - off < max_pending(&r));
    tb__ws_reader_free(&r);
    free(buf);
    return rc;
}

/* The same bytes delivered in chunks of 1..64 (or, now and then, large)
 * bytes; the caller-side buffer holds only what the reader left. */
static int run_chunked(bool server, const tb__ws_limits *lim, const uint8_t *data, size_t size,
                       uint32_t seed, trace *t)
{
    tb__ws_reader r;
    tb__ws_reader_init(&r, server, lim);
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        abort();
    size_t have = 0, fed = 0;
    int rc = 0;
    while (fed < size) {
        uint32_t x = fuzz_rand(&seed);
        size_t chunk = (x & 0xF00) == 0 ? (x >> 12) % 4096 + 1 : (x & 63) + 1;
        if (chunk > size - fed)
            chunk = size - fed;
        memcpy(buf + have, data + fed, chunk);
        have += chunk;
        fed += chunk;
        for (;;) {
            size_t used = 0;
            tb__ws_msg m;
            rc = tb__ws_reader_next(&r, buf, have, &used, &m);
            check_rc(rc);
            FUZZ_CHECK(used <= have);
            if (rc == 1) {
                FUZZ_CHECK(used > 0);
                check_msg(&r.lim, &m);
                record(t, &m);
            }
            memmove(buf, buf + used, have - used);
            have -= used;
            if (rc != 1)
                break;
        }
        if (rc < 0)
            break;
        FUZZ_CHECK(have < max_pending(&r));
    }
    tb__ws_reader_free(&r);
    free(buf);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = { data, size };
    uint8_t b0 = fuzz_byte(&in), b1 = fuzz_byte(&in);
    uint32_t seed = (uint32_t)fuzz_byte(&in) << 8 | fuzz_byte(&in);
    bool server = !(b0 & 1);
    tb__ws_limits lim = { frame_limits[(b0 >> 1) & 7], message_limits[b1 & 7] };

    trace whole = { 0 }, chunked = { 0 };
    int rc1 = run_whole(server, &lim, in.p, in.n, &whole);
    int rc2 = run_chunked(server, &lim, in.p, in.n, seed, &chunked);
    int fin = rc1;
    /* Chunked delivery ends with the last complete message; the whole-buffer
     * run then sees "need more" too. Errors must agree exactly. */
    put(&whole, &fin, sizeof fin);
    fin = rc2;
    put(&chunked, &fin, sizeof fin);
    FUZZ_CHECK(whole.len == chunked.len);
    FUZZ_CHECK(memcmp(whole.p, chunked.p, whole.len) == 0);
    free(whole.p);
    free(chunked.p);

    /* Stateless helpers on the raw bytes. */
    int st = tb__ws_utf8_step(0, in.p, in.n);
    FUZZ_CHECK(st >= -1 && st <= 7);
    FUZZ_CHECK(tb__ws_utf8_valid(in.p, in.n) == (st == 0));
    return 0;
}
