/* RFC 6455 framing: raw-byte cases for every reader rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "ws_frame.h"

static const uint8_t MASK[4] = { 0x37, 0xfa, 0x21, 0x3d };

/* Appends a frame with a raw first byte (FIN/RSV/opcode) and the minimal
 * length encoding; masks the payload when `mask` is given. */
static size_t put_frame(uint8_t *out, uint8_t b0, const void *payload, size_t len,
                        const uint8_t *mask)
{
    size_t n = tb__ws_write_header(out, b0 & 0x0F, b0 & 0x80, len, mask);
    out[0] = b0;
    memcpy(out + n, payload, len);
    if (mask)
        tb__ws_mask(out + n, len, mask, 0);
    return n + len;
}

/* Server-side frame from a client (masked). */
static size_t cframe(uint8_t *out, uint8_t b0, const void *payload, size_t len)
{
    return put_frame(out, b0, payload, len, MASK);
}

static tb__ws_reader srv(uint64_t max_frame, uint64_t max_message)
{
    tb__ws_reader r;
    tb__ws_limits lim = { max_frame, max_message };
    tb__ws_reader_init(&r, true, &lim);
    return r;
}

/* Runs the reader over a whole buffer; returns its result. */
static int next1(tb__ws_reader *r, uint8_t *buf, size_t len, size_t *consumed, tb__ws_msg *m)
{
    return tb__ws_reader_next(r, buf, len, consumed, m);
}

/* Collected message, copied out of the reader's or caller's buffer. */
typedef struct got {
    int opcode;
    uint8_t data[70000];
    size_t len;
    uint16_t close_code;
} got;

/* Feeds `in` in pieces of `chunk` bytes as a socket might, each call through
 * an exactly sized heap copy (ASan catches any read past len). Returns the
 * number of messages, or the error code. */
static int feed_chunks(tb__ws_reader *r, const uint8_t *in, size_t n, size_t chunk, got *out, int max)
{
    uint8_t *pend = NULL;
    size_t plen = 0;
    int count = 0;

    for (size_t i = 0; i < n; i += chunk) {
        size_t k = n - i < chunk ? n - i : chunk;
        pend = realloc(pend, plen + k);
        memcpy(pend + plen, in + i, k);
        plen += k;
        for (;;) {
            uint8_t *exact = malloc(plen);
            size_t consumed = 0;
            tb__ws_msg m;
            memcpy(exact, pend, plen);
            int rc = tb__ws_reader_next(r, exact, plen, &consumed, &m);
            if (rc < 0) {
                free(exact);
                free(pend);
                return rc;
            }
            assert_true(consumed <= plen);
            if (rc == 1) {
                assert_true(count < max);
                out[count].opcode = m.opcode;
                out[count].len = m.len;
                out[count].close_code = m.close_code;
                memcpy(out[count].data, m.data, m.len);
                count++;
            }
            /* Unmasked bytes were consumed; keep the rest as received. */
            memmove(pend, pend + consumed, plen - consumed);
            plen -= consumed;
            free(exact);
            if (rc == 0 || plen == 0)
                break;
        }
    }
    free(pend);
    return count;
}

static int feed_bytewise(tb__ws_reader *r, const uint8_t *in, size_t n, got *out, int max)
{
    return feed_chunks(r, in, n, 1, out, max);
}

/* ---- header writing, masking, accept key ---- */

static void test_header_sizes(void **state)
{
    uint8_t h[TB_WS_MAX_HEADER];
    assert_int_equal(tb__ws_header_size(0, false), 2);
    assert_int_equal(tb__ws_header_size(125, false), 2);
    assert_int_equal(tb__ws_header_size(126, false), 4);
    assert_int_equal(tb__ws_header_size(65535, false), 4);
    assert_int_equal(tb__ws_header_size(65536, false), 10);
    assert_int_equal(tb__ws_header_size(65536, true), 14);
    assert_int_equal(tb__ws_header_size(5, true), 6);

    assert_int_equal(tb__ws_write_header(h, TB_WS_OP_TEXT, true, 5, NULL), 2);
    assert_int_equal(h[0], 0x81);
    assert_int_equal(h[1], 0x05);
    assert_int_equal(tb__ws_write_header(h, TB_WS_OP_BINARY, false, 256, NULL), 4);
    assert_int_equal(h[0], 0x02);
    assert_int_equal(h[1], 126);
    assert_int_equal(h[2], 0x01);
    assert_int_equal(h[3], 0x00);
    assert_int_equal(tb__ws_write_header(h, TB_WS_OP_BINARY, true, 65536, MASK), 14);
    static const uint8_t want[] = { 0x82, 0xFF, 0, 0, 0, 0, 0, 1, 0, 0, 0x37, 0xfa, 0x21, 0x3d };
    assert_memory_equal(h, want, sizeof want);
}

static void test_mask_offset(void **state)
{
    uint8_t a[] = "Hello, world";
    uint8_t b[sizeof a];
    memcpy(b, a, sizeof a);
    tb__ws_mask(b, 12, MASK, 0);
    /* Masking in two pieces with the running offset equals one pass. */
    tb__ws_mask(a, 5, MASK, 0);
    tb__ws_mask(a + 5, 7, MASK, 5);
    assert_memory_equal(a, b, 12);
    tb__ws_mask(b, 12, MASK, 0);
    assert_memory_equal(b, "Hello, world", 12);
}

static void test_accept_key(void **state)
{
    char out[29];
    /* RFC 6455 §1.3 example. */
    assert_int_equal(tb__ws_accept_key("dGhlIHNhbXBsZSBub25jZQ==", out), 0);
    assert_string_equal(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_int_equal(tb__ws_accept_key("", out), -1);
    assert_int_equal(tb__ws_accept_key(NULL, out), -1);
    assert_int_equal(tb__ws_accept_key("dGhlIHNhbXBsZSBub25jZQ=", out), -1);
    assert_int_equal(tb__ws_accept_key("dGhlIHNhbXBsZSBub25jZQ===", out), -1);
    assert_int_equal(tb__ws_accept_key("dGhlIHNhbXBsZSBub25jZQAA", out), -1);
    assert_int_equal(tb__ws_accept_key("dGhlIHNhbXBsZSBub25jZ!==", out), -1);
    assert_int_equal(tb__ws_accept_key("dGhlIHNhbXBs ZSBub25jZ==", out), -1);
}

/* ---- UTF-8 ---- */

static const struct { const char *s; bool ok; } utf8_table[] = {
    { "", true },
    { "plain ascii", true },
    { "\xC3\xA9", true },                  /* U+00E9 */
    { "\xC2\x80", true },                  /* U+0080, smallest 2-byte */
    { "\xDF\xBF", true },                  /* U+07FF */
    { "\xE0\xA0\x80", true },              /* U+0800, smallest 3-byte */
    { "\xE2\x82\xAC", true },              /* U+20AC */
    { "\xED\x9F\xBF", true },              /* U+D7FF, below surrogates */
    { "\xEE\x80\x80", true },              /* U+E000, above surrogates */
    { "\xEF\xBF\xBD", true },              /* U+FFFD */
    { "\xEF\xBF\xBF", true },              /* U+FFFF */
    { "\xF0\x90\x80\x80", true },          /* U+10000 */
    { "\xF3\xBF\xBF\xBF", true },
    { "\xF4\x8F\xBF\xBF", true },          /* U+10FFFF */
    { "\xCE\xBA\xE1\xBD\xB9\xCF\x83\xCE\xBC\xCE\xB5", true },
    { "\xC0\x80", false },                 /* overlong NUL */
    { "\xC0\xAF", false },
    { "\xC1\xBF", false },
    { "\xE0\x80\x80", false },             /* overlong 3-byte */
    { "\xE0\x9F\xBF", false },
    { "\xF0\x80\x80\x80", false },         /* overlong 4-byte */
    { "\xF0\x8F\xBF\xBF", false },
    { "\xED\xA0\x80", false },             /* U+D800 */
    { "\xED\xBF\xBF", false },             /* U+DFFF */
    { "\xED\xA0\x80\xED\xB0\x80", false }, /* surrogate pair (CESU-8) */
    { "\xF4\x90\x80\x80", false },         /* U+110000 */
    { "\xF5\x80\x80\x80", false },
    { "\xF8\x88\x80\x80\x80", false },     /* 5-byte form */
    { "\xFE", false },
    { "\xFF", false },
    { "\x80", false },                     /* lone continuation */
    { "a\xBF", false },
    { "\xC3", false },                     /* truncated */
    { "\xE2\x82", false },
    { "\xF0\x90\x80", false },
    { "\xC3\x41", false },                 /* bad continuation */
    { "\xE2\x41\xAC", false },
    { "\xF0\x90\x41\x80", false },
};

static void test_utf8_table(void **state)
{
    for (size_t i = 0; i < sizeof utf8_table / sizeof utf8_table[0]; i++) {
        const uint8_t *p = (const uint8_t *)utf8_table[i].s;
        size_t n = strlen(utf8_table[i].s);
        if (tb__ws_utf8_valid(p, n) != utf8_table[i].ok)
            fail_msg("utf8 case %zu: expected %s", i, utf8_table[i].ok ? "valid" : "invalid");
        /* Split at every point: the incremental result must agree. */
        for (size_t k = 0; k <= n; k++) {
            int st = tb__ws_utf8_step(0, p, k);
            if (st >= 0)
                st = tb__ws_utf8_step(st, p + k, n - k);
            if ((st == 0) != utf8_table[i].ok)
                fail_msg("utf8 case %zu split at %zu", i, k);
        }
    }
}

static void test_utf8_truncated_state(void **state)
{
    assert_true(tb__ws_utf8_step(0, (const uint8_t *)"\xE2\x82", 2) > 0);
    assert_int_equal(tb__ws_utf8_step(0, (const uint8_t *)"\xED\xA0", 2), -1);
    assert_int_equal(tb__ws_utf8_step(-1, (const uint8_t *)"a", 1), -1);
}

/* ---- reader: basics ---- */

static void test_rfc_examples_client_side(void **state)
{
    tb__ws_reader r;
    tb__ws_msg m;
    size_t c;
    tb__ws_reader_init(&r, false, NULL);

    /* §5.7: single-frame unmasked text. */
    uint8_t a[] = { 0x81, 0x05, 'H', 'e', 'l', 'l', 'o' };
    assert_int_equal(next1(&r, a, sizeof a, &c, &m), 1);
    assert_int_equal(c, sizeof a);
    assert_int_equal(m.opcode, TB_WS_OP_TEXT);
    assert_int_equal(m.len, 5);
    assert_ptr_equal(m.data, a + 2);

    /* §5.7: fragmented unmasked text. */
    uint8_t b[] = { 0x01, 0x03, 'H', 'e', 'l', 0x80, 0x02, 'l', 'o' };
    assert_int_equal(next1(&r, b, sizeof b, &c, &m), 1);
    assert_int_equal(c, sizeof b);
    assert_int_equal(m.opcode, TB_WS_OP_TEXT);
    assert_int_equal(m.len, 5);
    assert_memory_equal(m.data, "Hello", 5);

    /* §5.7: unmasked ping. */
    uint8_t d[] = { 0x89, 0x05, 'H', 'e', 'l', 'l', 'o' };
    assert_int_equal(next1(&r, d, sizeof d, &c, &m), 1);
    assert_int_equal(m.opcode, TB_WS_OP_PING);
    assert_memory_equal(m.data, "Hello", 5);

    /* A masked frame to a client is refused (§5.1). */
    uint8_t e[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58 };
    assert_int_equal(next1(&r, e, sizeof e, &c, &m), -1002);
    tb__ws_reader_free(&r);
}

static void test_masked_text_zero_copy(void **state)
{
    tb__ws_reader r = srv(0, 0);
    tb__ws_msg m;
    size_t c;
    /* §5.7: masked "Hello". */
    uint8_t a[] = { 0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58 };
    assert_int_equal(next1(&r, a, sizeof a, &c, &m), 1);
    assert_int_equal(c, sizeof a);
    assert_ptr_equal(m.data, a + 6);
    assert_memory_equal(a + 6, "Hello", 5); /* unmasked in place */
    assert_int_equal(m.len, 5);
    tb__ws_reader_free(&r);
}

static void test_server_refuses_unmasked(void **state)
{
    tb__ws_reader r = srv(0, 0);
    tb__ws_msg m;
    size_t c;
    uint8_t a[] = { 0x81, 0x05, 'H', 'e', 'l', 'l', 'o' };
    assert_int_equal(next1(&r, a, sizeof a, &c, &m), -1002);
    tb__ws_reader_free(&r);
    /* Even a control frame. */
    r = srv(0, 0);
    uint8_t b[] = { 0x89, 0x00 };
    assert_int_equal(next1(&r, b, sizeof b, &c, &m), -1002);
    tb__ws_reader_free(&r);
}

static void test_need_more(void **state)
{
    tb__ws_reader r = srv(0, 0);
    tb__ws_msg m;
    size_t c = 99;
    uint8_t buf[32];
    size_t n = cframe(buf, 0x82, "abcdef", 6);
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(next1(&r, buf, k, &c, &m), 0);
        assert_int_equal(c, 0);
    }
    assert_int_equal(next1(&r, buf, n, &c, &m), 1);
    assert_int_equal(m.opcode, TB_WS_OP_BINARY);
    assert_memory_equal(m.data, "abcdef", 6);
    tb__ws_reader_free(&r);
}

static void test_lengths_16_and_64(void **state)
{
    static uint8_t buf[70100], pay[65536];
    tb__ws_reader r = srv(1 << 20, 1 << 20);
    tb__ws_msg m;
    size_t c, n;
    for (size_t i = 0; i < sizeof pay; i++)
        pay[i] = (uint8_t)(i * 7);

    n = cframe(buf, 0x82, pay, 126);
    assert_int_equal(buf[1] & 0x7F, 126);
    assert_int_equal(next1(&r, buf, n, &c, &m), 1);
    assert_int_equal(m.len, 126);
    assert_memory_equal(m.data, pay, 126);

    n = cframe(buf, 0x82, pay, 65535);
    assert_int_equal(buf[1] & 0x7F, 126);
    assert_int_equal(next1(&r, buf, n, &c, &m), 1);
    assert_int_equal(m.len, 65535);
    assert_memory_equal(m.data, pay, 65535);

    n = cframe(buf, 0x82, pay, 65536);
    assert_int_equal(buf[1] & 0x7F, 127);
    assert_int_equal(next1(&r, buf, n, &c, &m), 1);
    assert_int_equal(c, n);
    assert_int_equal(m.len, 65536);
    assert_memory_equal(m.data, pay, 65536);
    tb__ws_reader_free(&r);
}

static void test_non_minimal_lengths_accepted(void **state)
{
    tb__ws_reader r;
    tb__ws_msg m;
    size_t c;
    tb__ws_reader_init(&r, false, NULL);
    uint8_t a[] = { 0x81, 126, 0, 3, 'a', 'b', 'c' };
    assert_int_equal(next1(&r, a, sizeof a, &c, &m), 1);
    assert_int_equal(m.len, 3);
    assert_memory_equal(m.data, "abc", 3);
    uint8_t b[] = { 0x81, 127, 0, 0, 0, 0, 0, 0, 0, 3, 'x', 'y', 'z' };
    assert_int_equal(next1(&r, b, sizeof b, &c, &m), 1);
    assert_int_equal(c, sizeof b);
    assert_memory_equal(m.data, "xyz", 3);
    /* Also for a control frame whose length fits in 7 bits. */
    uint8_t d[] = { 0x89, 126, 0, 1, 'p' };
    assert_int_equal(next1(&r, d, sizeof d, &c, &m), 1);
    assert_int_equal(m.opcode, TB_WS_OP_PING);
    tb__ws_reader_free(&r);
}

static void test_64bit_top_bit(void **state)
{
    tb__ws_reader r = srv(UINT64_MAX, UINT64_MAX);
    tb__ws_msg m;
    size_t c;
    uint8_t a[] = { 0x82, 0xFF, 0x80, 0, 0, 0, 0, 0, 0, 1 };
    /* Refused on the length bytes alone, before the mask key arrives. */
    assert_int_equal(next1(&r, a, sizeof a, &c, &m), -1002);
    tb__ws_reader_free(&r);
}

static void test_several_in_one_buffer(void **state)
{
    tb__ws_reader r = srv(0, 0);
    tb__ws_msg m;
    uint8_t buf[128];
    size_t c, n = 0, off = 0;
    n += cframe(buf + n, 0x81, "one", 3);
    n += cframe(buf + n, 0x8A, "pong", 4);
    n += cframe(buf + n, 0x82, "", 0);
    n += cframe(buf + n, 0x81, "four", 4);

    assert_int_equal(next1(&r, buf + off, n - off, &c, &m), 1);
    assert_memory_equal(m.data, "one", 3);
    off += c;
    assert_int_equal(next1(&r, buf + off, n - off, &c, &m), 1);
    assert_int_equal(m.opcode, TB_WS_OP_PONG);
    assert_memory_equal(m.data, "pong", 4);
    off += c;
    assert_int_equal(next1(&r, buf + off, n - off, &c, &m), 1);
    assert_int_equal(m.opcode, TB_WS_OP_BINARY);
    assert_int_equal(m.len, 0);
    assert_non_null(m.data);
    off += c;
    assert_int_equal(next1(&r, buf + off, n - off, &c, &m), 1);
    assert_memory_equal(m.data, "four", 4);
    off += c;
    assert_int_equal(off, n);
    assert_int_equal(next1(&r, buf + off, 0, &c, &m), 0);
    assert_int_equal(c, 0);
    tb__ws_reader_free(&r);
}

/* ---- reader: protocol errors ---- */

static void expect_code(const uint8_t *frame, size_t n, bool server, int code)
{
    tb__ws_reader r;
    tb__ws_msg m;
    size_t c;
    uint8_t *copy = malloc(n ? n : 1);
    memcpy(copy, frame, n);
    tb__ws_reader_init(&r, server, NULL);
    assert_int_equal(tb__ws_reader_next(&r, copy, n, &c, &m), code);
    tb__ws_reader_free(&r);
    free(copy);
}

static void test_rsv_bits(void **state)
{
    uint8_t buf[16];
    static const uint8_t rsv[] = { 0x40, 0x20, 0x10, 0x70 };
    for (size_t i = 0; i < sizeof rsv; i++) {
        size_t n = cframe(buf, (uint8_t)(0x81 | rsv[i]), "hi", 2);
        expect_code(buf, n, true, -1002);
        /* Refused from the first byte alone. */
        expect_code(buf, 1, true, -1002);
        n = cframe(buf, (uint8_t)(0x89 | rsv[i]), "", 0);
        expect_code(buf, n, true, -1002);
    }
}

static void test_reserved_opcodes(void **state)
{
    uint8_t buf[16];
    static const uint8_t ops[] = { 3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF };
    for (size_t i = 0; i < sizeof ops; i++) {
        size_t n = cframe(buf, (uint8_t)(0x80 | ops[i]), "x", 1);
        expect_code(buf, n, true, -1002);
        expect_code(buf, 1, true, -1002);
    }
}

static void test_control_rules(void **state)
{
    static uint8_t buf[256], pay[126];
    size_t n;
    /* 125 bytes is the largest control payload (§5.5). */
    n = cframe(buf, 0x89, pay, 125);
    expect_code(buf, n, true, 1);
    n = cframe(buf, 0x89, pay, 126);
    expect_code(buf, n, true, -1002);
    expect_code(buf, 4, true, -1002); /* header alone suffices */
    n = cframe(buf, 0x8A, pay, 126);
    expect_code(buf, n, true, -1002);
    memset(pay, 0, sizeof pay);
    pay[0] = 0x03; pay[1] = 0xE8;
    n = cframe(buf, 0x88, pay, 126);
    expect_code(buf, n, true, -1002);
    /* Fragmented control frames. */
    static const uint8_t ctl[] = { 0x08, 0x09, 0x0A };
    for (size_t i = 0; i < sizeof ctl; i++) {
        n = cframe(buf, ctl[i], "", 0);
        expect_code(buf, n, true, -1002);
        expect_code(buf, 1, true, -1002);
    }
}

static void test_continuation_rules(void **state)
{
    uint8_t buf[64];
    size_t n;
    /* Continuation with nothing in progress. */
    n = cframe(buf, 0x80, "x", 1);
    expect_code(buf, n, true, -1002);
    expect_code(buf, 1, true, -1002);
    n = cframe(buf, 0x00, "x", 1);
    expect_code(buf, n, true, -1002);
    /* New text or binary while a message is in progress. */
    static const uint8_t starters[] = { 0x81, 0x01, 0x82, 0x02 };
    for (size_t i = 0; i < sizeof starters; i++) {
        n = cframe(buf, 0x01, "ab", 2);
        n += cframe(buf + n, starters[i], "cd", 2);
        expect_code(buf, n, true, -1002);
    }
    /* Continuation after a complete message. */
    n = cframe(buf, 0x01, "ab", 2);
    n += cframe(buf + n, 0x80, "cd", 2);
    n += cframe(buf + n, 0x80, "ef", 2);
    tb__ws_reader r = srv(0, 0);
    tb__ws_msg m;
    size_t c;
    assert_int_equal(next1(&r, buf, n, &c, &m), 1);
    assert_memory_equal(m.data, "abcd", 4);
    assert_int_equal(next1(&r, buf + c, n - c, &c, &m), -1002);
    tb__ws_reader_free(&r);
}

/* ---- reader: fragmentation ---- */

static void test_fragments_with_interleaved_control(void **state)
{
    tb__ws_reader r = srv(0, 0);
    tb__ws_msg m;
    uint8_t buf[128];
    size_t c, n = 0, off = 0;
    n += cframe(buf + n, 0x01, "Hel", 3);
    n += cframe(buf + n, 0x89, "ping!", 5);
    n += cframe(buf + n, 0x00, "", 0);
    n += cframe(buf + n, 0x8A, "pong", 4);
    n += cframe(buf + n, 0x80, "lo", 2);

    assert_int_equal(next1(&r, buf, n, &c, &m), 1);
    assert_int_equal(m.opcode, TB_WS_OP_PING);
    assert_memory_equal(m.data, "ping!", 5);
    off += c;
    assert_int_equal(next1(&r, buf + off, n - off, &c, &m), 1);
    assert_int_equal(m.opcode, TB_WS_OP_PONG);
    off += c;
    assert_int_equal(next1(&r, buf + off, n - off, &c, &m), 1);
    assert_int_equal(m.opcode, TB_WS_OP_TEXT);
    assert_int_equal(m.len, 5);
    assert_memory_equal(m.data, "Hello", 5);
    off += c;
    assert_int_equal(off, n);
    tb__ws_reader_free(&r);
}

static void test_fragment_absorbed(void **state)
{
    tb__ws_reader r = srv(0, 0);
    tb__ws_msg m;
    uint8_t buf[64];
    size_t c, n, n1;
    n1 = cframe(buf, 0x02, "\x01\x02", 2);
    n = n1 + cframe(buf + n1, 0x80, "\x03", 1);
    /* First fragment plus part of the second: the first is consumed. */
    assert_int_equal(next1(&r, buf, n1 + 3, &c, &m), 0);
    assert_int_equal(c, n1);
    memset(buf, 0xEE, n1); /* the caller may discard consumed bytes */
    assert_int_equal(next1(&r, buf + n1, n - n1, &c, &m), 1);
    assert_int_equal(m.opcode, TB_WS_OP_BINARY);
    assert_memory_equal(m.data, "\x01\x02\x03", 3);
    tb__ws_reader_free(&r);
}

static void test_fragmented_empty(void **state)
{
    tb__ws_reader r = srv(0, 0);
    tb__ws_msg m;
    uint8_t buf[64];
    size_t c, n = 0;
    n += cframe(buf + n, 0x01, "", 0);
    n += cframe(buf + n, 0x00, "", 0);
    n += cframe(buf + n, 0x80, "", 0);
    assert_int_equal(next1(&r, buf, n, &c, &m), 1);
    assert_int_equal(m.opcode, TB_WS_OP_TEXT);
    assert_int_equal(m.len, 0);
    assert_non_null(m.data);
    tb__ws_reader_free(&r);
}

static void test_large_fragmented_then_released(void **state)
{
    static uint8_t buf[40000], pay[10000];
    tb__ws_reader r = srv(0, 0);
    tb__ws_msg m;
    size_t c, n = 0;
    for (size_t i = 0; i < sizeof pay; i++)
        pay[i] = (uint8_t)i;
    n += cframe(buf + n, 0x02, pay, 3000);
    n += cframe(buf + n, 0x00, pay + 3000, 3000);
    n += cframe(buf + n, 0x80, pay + 6000, 4000);
    assert_int_equal(next1(&r, buf, n, &c, &m), 1);
    assert_int_equal(m.len, 10000);
    assert_memory_equal(m.data, pay, 10000);
    /* The next call drops the big buffer (idle memory stays small). */
    n = cframe(buf, 0x81, "x", 1);
    assert_int_equal(next1(&r, buf, n, &c, &m), 1);
    assert_null(r.frag);
    tb__ws_reader_free(&r);
}

/* ---- reader: limits ---- */

static void test_frame_too_big_from_header(void **state)
{
    tb__ws_reader r = srv(100, 1000);
    tb__ws_msg m;
    size_t c;
    /* Only the header of a 101-byte frame: refused before any payload. */
    uint8_t a[] = { 0x82, 0x80 | 101 };
    assert_int_equal(next1(&r, a, sizeof a, &c, &m), -1009);
    tb__ws_reader_free(&r);

    r = srv(100, 1000);
    uint8_t b[] = { 0x82, 0xFE, 0x00, 0x65 }; /* 16-bit: 101 */
    assert_int_equal(next1(&r, b, sizeof b, &c, &m), -1009);
    tb__ws_reader_free(&r);

    r = srv(100, 1000);
    uint8_t d[] = { 0x81, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF };
    assert_int_equal(next1(&r, d, sizeof d, &c, &m), -1009);
    tb__ws_reader_free(&r);

    /* Exactly at the limit is fine. */
    static uint8_t buf[256], pay[100];
    r = srv(100, 1000);
    size_t n = cframe(buf, 0x82, pay, 100);
    assert_int_equal(next1(&r, buf, n, &c, &m), 1);
    tb__ws_reader_free(&r);
}

static void test_message_too_big(void **state)
{
    static uint8_t buf[512], pay[100];
    tb__ws_reader r = srv(100, 250);
    tb__ws_msg m;
    size_t c, n = 0;
    n += cframe(buf + n, 0x02, pay, 100);
    n += cframe(buf + n, 0x00, pay, 100);
    n += cframe(buf + n, 0x80, pay, 51);
    /* Third header alone is enough: 100 + 100 + 51 > 250. */
    assert_int_equal(next1(&r, buf, n - 51, &c, &m), -1009);
    tb__ws_reader_free(&r);

    r = srv(100, 250);
    n = 0;
    n += cframe(buf + n, 0x02, pay, 100);
    n += cframe(buf + n, 0x00, pay, 100);
    n += cframe(buf + n, 0x80, pay, 50);
    assert_int_equal(next1(&r, buf, n, &c, &m), 1);
    assert_int_equal(m.len, 250);
    tb__ws_reader_free(&r);

    /* An unfragmented frame over max_message but within max_frame. */
    r = srv(1000, 50);
    n = cframe(buf, 0x82, pay, 51);
    assert_int_equal(next1(&r, buf, 4, &c, &m), -1009);
    tb__ws_reader_free(&r);
}

static void test_default_limits(void **state)
{
    tb__ws_reader r;
    tb__ws_msg m;
    size_t c;
    tb__ws_reader_init(&r, false, NULL);
    uint8_t a[] = { 0x82, 127, 0, 0, 0, 0, 0, 0x10, 0, 1 }; /* 1 MiB + 1 */
    assert_int_equal(next1(&r, a, sizeof a, &c, &m), -1009);
    tb__ws_reader_free(&r);
    tb__ws_reader_init(&r, false, NULL);
    uint8_t b[] = { 0x82, 127, 0, 0, 0, 0, 0, 0x10, 0, 0 }; /* 1 MiB: need more */
    assert_int_equal(next1(&r, b, sizeof b, &c, &m), 0);
    tb__ws_reader_free(&r);
}

/* ---- reader: UTF-8 in text messages ---- */

static void test_text_invalid_utf8(void **state)
{
    uint8_t buf[64];
    size_t n = cframe(buf, 0x81, "ok\xED\xA0\x80", 5);
    expect_code(buf, n, true, -1007);
    n = cframe(buf, 0x81, "ok\xC3", 3); /* ends mid-character */
    expect_code(buf, n, true, -1007);
    /* Binary frames are not checked. */
    n = cframe(buf, 0x82, "ok\xC3", 3);
    expect_code(buf, n, true, 1);
}

static void test_text_utf8_split_across_fragments(void **state)
{
    tb__ws_reader r = srv(0, 0);
    tb__ws_msg m;
    uint8_t buf[64];
    size_t c, n = 0;
    /* U+20AC and U+10348 split between three fragments. */
    n += cframe(buf + n, 0x01, "a\xE2", 2);
    n += cframe(buf + n, 0x00, "\x82\xAC\xF0\x90", 4);
    n += cframe(buf + n, 0x80, "\x8D\x88z", 3);
    assert_int_equal(next1(&r, buf, n, &c, &m), 1);
    assert_int_equal(m.len, 9);
    assert_memory_equal(m.data, "a\xE2\x82\xAC\xF0\x90\x8D\x88z", 9);
    tb__ws_reader_free(&r);
}

static void test_text_fragments_end_mid_char(void **state)
{
    uint8_t buf[64];
    size_t n = 0;
    n += cframe(buf + n, 0x01, "ab", 2);
    n += cframe(buf + n, 0x80, "\xE2\x82", 2);
    expect_code(buf, n, true, -1007);
}

static void test_text_invalid_fails_at_first_fragment(void **state)
{
    tb__ws_reader r = srv(0, 0);
    tb__ws_msg m;
    uint8_t buf[64];
    size_t c;
    /* The rest of the message never arrives: fail on this fragment. */
    size_t n = cframe(buf, 0x01, "ab\xC0\xAF", 4);
    assert_int_equal(next1(&r, buf, n, &c, &m), -1007);
    tb__ws_reader_free(&r);
    /* Invalid in a middle continuation. */
    r = srv(0, 0);
    n = cframe(buf, 0x01, "ab", 2);
    n += cframe(buf + n, 0x00, "\xFF", 1);
    assert_int_equal(next1(&r, buf, n, &c, &m), -1007);
    tb__ws_reader_free(&r);
}

static void test_text_invalid_fails_inside_incomplete_frame(void **state)
{
    static uint8_t buf[256], pay[200];
    tb__ws_reader r = srv(0, 0);
    tb__ws_msg m;
    size_t c, n;
    memset(pay, 'a', sizeof pay);
    pay[10] = 0xFF;
    n = cframe(buf, 0x81, pay, 200);
    /* Header (4 + 4 mask) and 20 payload bytes out of 200. */
    assert_int_equal(next1(&r, buf, 8 + 10, &c, &m), 0);
    assert_int_equal(next1(&r, buf, 8 + 20, &c, &m), -1007);
    tb__ws_reader_free(&r);
    (void)n;

    /* Valid prefix checked early, rest checked on completion, buffer left
     * masked until then. */
    r = srv(0, 0);
    memset(pay, 'b', sizeof pay);
    memcpy(pay + 150, "\xE2\x82\xAC", 3);
    n = cframe(buf, 0x81, pay, 200);
    assert_int_equal(next1(&r, buf, 8 + 151, &c, &m), 0);
    assert_int_equal(next1(&r, buf, n, &c, &m), 1);
    assert_memory_equal(m.data, pay, 200);
    tb__ws_reader_free(&r);
}

/* ---- reader: close frames ---- */

static void test_close_payloads(void **state)
{
    tb__ws_reader r = srv(0, 0);
    tb__ws_msg m;
    uint8_t buf[64];
    size_t c, n;

    n = cframe(buf, 0x88, "", 0);
    assert_int_equal(next1(&r, buf, n, &c, &m), 1);
    assert_int_equal(m.opcode, TB_WS_OP_CLOSE);
    assert_int_equal(m.close_code, TB_WS_CLOSE_NO_STATUS);
    assert_int_equal(m.close_reason_len, 0);

    n = cframe(buf, 0x88, "\x03\xE8" "bye \xC3\xA9", 8);
    assert_int_equal(next1(&r, buf, n, &c, &m), 1);
    assert_int_equal(m.close_code, 1000);
    assert_int_equal(m.close_reason_len, 6);
    assert_memory_equal(m.close_reason, "bye \xC3\xA9", 6);
    assert_int_equal(m.len, 8);

    n = cframe(buf, 0x88, "\x0F\xA0", 2);
    assert_int_equal(next1(&r, buf, n, &c, &m), 1);
    assert_int_equal(m.close_code, 4000);
    tb__ws_reader_free(&r);

    /* §5.5.1: a one-byte body cannot hold a code. */
    n = cframe(buf, 0x88, "\x03", 1);
    expect_code(buf, n, true, -1002);
    expect_code(buf, 2, true, -1002);
    /* Reason must be UTF-8. */
    n = cframe(buf, 0x88, "\x03\xE8\xC0\x80", 4);
    expect_code(buf, n, true, -1007);
    n = cframe(buf, 0x88, "\x03\xE8\xE2\x82", 4);
    expect_code(buf, n, true, -1007);
}

static void test_close_codes(void **state)
{
    static const unsigned ok[] = { 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
                                   3000, 3999, 4000, 4001, 4999 };
    static const unsigned bad[] = { 0, 1, 999, 1004, 1005, 1006, 1012, 1013, 1014, 1015,
                                    1016, 1100, 2000, 2999, 5000, 65535 };
    uint8_t buf[16], code[2];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        code[0] = (uint8_t)(ok[i] >> 8);
        code[1] = (uint8_t)ok[i];
        size_t n = cframe(buf, 0x88, code, 2);
        expect_code(buf, n, true, 1);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        code[0] = (uint8_t)(bad[i] >> 8);
        code[1] = (uint8_t)bad[i];
        size_t n = cframe(buf, 0x88, code, 2);
        tb__ws_reader r = srv(0, 0);
        tb__ws_msg m;
        size_t c;
        if (next1(&r, buf, n, &c, &m) != -1002)
            fail_msg("close code %u accepted", bad[i]);
        tb__ws_reader_free(&r);
    }
}

/* ---- byte-at-a-time ---- */

static void test_bytewise_stream(void **state)
{
    static uint8_t stream[2048], pay[300];
    static got out[8];
    tb__ws_reader r = srv(0, 0);
    size_t n = 0;
    for (size_t i = 0; i < sizeof pay; i++)
        pay[i] = (uint8_t)(i ^ 0x5A);
    n += cframe(stream + n, 0x01, "{\"op\":", 6);
    n += cframe(stream + n, 0x89, "p", 1);
    n += cframe(stream + n, 0x00, "\"st\xC3", 4);
    n += cframe(stream + n, 0x80, "\xA9\"}", 3);
    n += cframe(stream + n, 0x82, pay, sizeof pay);
    n += cframe(stream + n, 0x81, "", 0);
    n += cframe(stream + n, 0x88, "\x03\xE9" "away", 6);

    int k = feed_bytewise(&r, stream, n, out, 8);
    assert_int_equal(k, 5);
    assert_int_equal(out[0].opcode, TB_WS_OP_PING);
    assert_int_equal(out[0].len, 1);
    assert_int_equal(out[1].opcode, TB_WS_OP_TEXT);
    assert_int_equal(out[1].len, 13);
    assert_memory_equal(out[1].data, "{\"op\":\"st\xC3\xA9\"}", 13);
    assert_int_equal(out[2].opcode, TB_WS_OP_BINARY);
    assert_int_equal(out[2].len, 300);
    assert_memory_equal(out[2].data, pay, 300);
    assert_int_equal(out[3].opcode, TB_WS_OP_TEXT);
    assert_int_equal(out[3].len, 0);
    assert_int_equal(out[4].opcode, TB_WS_OP_CLOSE);
    assert_int_equal(out[4].close_code, 1001);
    tb__ws_reader_free(&r);
}

static void test_bytewise_64bit_client(void **state)
{
    static uint8_t stream[70000], pay[66000];
    static got out[2];
    tb__ws_reader r;
    tb__ws_reader_init(&r, false, NULL);
    memset(pay, 'q', sizeof pay);
    size_t n = put_frame(stream, 0x81, pay, sizeof pay, NULL);
    assert_int_equal(stream[1], 127);
    /* The header byte by byte, then the payload in odd-sized pieces (an
     * exact copy per byte would be quadratic). */
    assert_int_equal(feed_bytewise(&r, stream, 10, out, 2), 0);
    tb__ws_reader_free(&r);
    tb__ws_reader_init(&r, false, NULL);
    int k = feed_chunks(&r, stream, n, 997, out, 2);
    assert_int_equal(k, 1);
    assert_int_equal(out[0].len, sizeof pay);
    assert_memory_equal(out[0].data, pay, sizeof pay);
    tb__ws_reader_free(&r);
}

static void test_bytewise_errors(void **state)
{
    static got out[4];
    uint8_t buf[64];
    tb__ws_reader r = srv(0, 0);
    size_t n = cframe(buf, 0x81, "abc\xED\xA0\x80" "def", 9);
    /* Fails as soon as the surrogate's second byte arrives. */
    assert_int_equal(feed_bytewise(&r, buf, 6 + 5, out, 4), -1007);
    tb__ws_reader_free(&r);
    (void)n;

    r = srv(10, 10);
    n = cframe(buf, 0x82, "0123456789A", 11);
    assert_int_equal(feed_bytewise(&r, buf, 2, out, 4), -1009);
    tb__ws_reader_free(&r);

    r = srv(0, 0);
    n = cframe(buf, 0x88, "\x03\xED", 2); /* 1005 on the wire */
    assert_int_equal(feed_bytewise(&r, buf, n, out, 4), -1002);
    tb__ws_reader_free(&r);
}

/* ---- chunking must not change the outcome ---- */

static uint32_t rng_state = 12345;
static uint32_t rnd(void)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return rng_state >> 8;
}

/* Outcome of feeding a stream: messages (opcode and a checksum of the data)
 * and the final code. */
typedef struct outcome {
    int n, rc;
    int op[64];
    size_t len[64];
    uint32_t sum[64];
} outcome;

static void run_chunks(const uint8_t *in, size_t n, bool random_chunks, outcome *o)
{
    tb__ws_reader r = srv(3000, 5000);
    uint8_t *pend = NULL;
    size_t plen = 0;
    memset(o, 0, sizeof *o);
    for (size_t i = 0; i < n;) {
        size_t k = random_chunks ? 1 + rnd() % 40 : n;
        if (k > n - i)
            k = n - i;
        pend = realloc(pend, plen + k);
        memcpy(pend + plen, in + i, k);
        plen += k;
        i += k;
        for (;;) {
            uint8_t *exact = malloc(plen ? plen : 1);
            size_t consumed = 0;
            tb__ws_msg m;
            memcpy(exact, pend, plen);
            int rc = tb__ws_reader_next(&r, exact, plen, &consumed, &m);
            if (rc == 1 && o->n < 64) {
                uint32_t h = 2166136261u;
                for (size_t j = 0; j < m.len; j++)
                    h = (h ^ m.data[j]) * 16777619u;
                o->op[o->n] = m.opcode;
                o->len[o->n] = m.len;
                o->sum[o->n++] = h;
            }
            free(exact);
            if (rc < 0) {
                o->rc = rc;
                goto done;
            }
            memmove(pend, pend + consumed, plen - consumed);
            plen -= consumed;
            if (rc == 0 || plen == 0)
                break;
        }
    }
done:
    free(pend);
    tb__ws_reader_free(&r);
}

/* Random streams of mostly valid frames with occasional corruption: feeding
 * them whole or in random pieces must give the same messages and the same
 * error (and never crash or read out of bounds under ASan). */
static void test_random_chunking_agrees(void **state)
{
    static uint8_t stream[20000], pay[2000];
    for (int iter = 0; iter < 400; iter++) {
        size_t n = 0;
        bool in_frag = false;
        for (int f = 0; f < 12 && n < sizeof stream - 2100; f++) {
            static const char *const pieces[] = { "a", "bc", "\xC3\xA9", "\xE2\x82\xAC",
                                                  "\xF0\x9F\x98\x80", "{\"op\":1}" };
            size_t want = rnd() % 3 == 0 ? rnd() % 1500 : rnd() % 130, len = 0;
            /* Valid UTF-8 made of whole characters; fragments then split
             * characters wherever the length falls. */
            while (len < want) {
                const char *pc = pieces[rnd() % 6];
                size_t pl = strlen(pc);
                if (len + pl > sizeof pay)
                    break;
                memcpy(pay + len, pc, pl);
                len += pl;
            }
            if (rnd() % 40 == 0 && len)
                pay[rnd() % len] = 0xFF;
            uint8_t b0;
            switch (rnd() % 6) {
            case 0: b0 = TB_WS_OP_PING | 0x80; len %= 126; break;
            case 1: b0 = in_frag ? 0x00 : 0x01; in_frag = true; len = len * 2 / 3; break;
            case 2: b0 = in_frag ? 0x80 : 0x82; in_frag = false; break;
            case 3: b0 = 0x82; break;
            default: b0 = in_frag ? 0x80 : 0x81; in_frag = false; break;
            }
            n += cframe(stream + n, b0, pay, len);
            if (rnd() % 60 == 0)
                stream[rnd() % n] ^= (uint8_t)(1u << (rnd() % 8));
        }
        outcome whole, pieces;
        run_chunks(stream, n, false, &whole);
        run_chunks(stream, n, true, &pieces);
        assert_int_equal(whole.n, pieces.n);
        for (int i = 0; i < whole.n; i++) {
            assert_int_equal(whole.op[i], pieces.op[i]);
            assert_int_equal(whole.len[i], pieces.len[i]);
            assert_int_equal(whole.sum[i], pieces.sum[i]);
        }
        /* Early failure may come sooner in pieces only for UTF-8 checks of
         * incomplete frames; the code is the same either way. */
        assert_int_equal(whole.rc, pieces.rc);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_sizes),
        cmocka_unit_test(test_mask_offset),
        cmocka_unit_test(test_accept_key),
        cmocka_unit_test(test_utf8_table),
        cmocka_unit_test(test_utf8_truncated_state),
        cmocka_unit_test(test_rfc_examples_client_side),
        cmocka_unit_test(test_masked_text_zero_copy),
        cmocka_unit_test(test_server_refuses_unmasked),
        cmocka_unit_test(test_need_more),
        cmocka_unit_test(test_lengths_16_and_64),
        cmocka_unit_test(test_non_minimal_lengths_accepted),
        cmocka_unit_test(test_64bit_top_bit),
        cmocka_unit_test(test_several_in_one_buffer),
        cmocka_unit_test(test_rsv_bits),
        cmocka_unit_test(test_reserved_opcodes),
        cmocka_unit_test(test_control_rules),
        cmocka_unit_test(test_continuation_rules),
        cmocka_unit_test(test_fragments_with_interleaved_control),
        cmocka_unit_test(test_fragment_absorbed),
        cmocka_unit_test(test_fragmented_empty),
        cmocka_unit_test(test_large_fragmented_then_released),
        cmocka_unit_test(test_frame_too_big_from_header),
        cmocka_unit_test(test_message_too_big),
        cmocka_unit_test(test_default_limits),
        cmocka_unit_test(test_text_invalid_utf8),
        cmocka_unit_test(test_text_utf8_split_across_fragments),
        cmocka_unit_test(test_text_fragments_end_mid_char),
        cmocka_unit_test(test_text_invalid_fails_at_first_fragment),
        cmocka_unit_test(test_text_invalid_fails_inside_incomplete_frame),
        cmocka_unit_test(test_close_payloads),
        cmocka_unit_test(test_close_codes),
        cmocka_unit_test(test_bytewise_stream),
        cmocka_unit_test(test_bytewise_64bit_client),
        cmocka_unit_test(test_bytewise_errors),
        cmocka_unit_test(test_random_chunking_agrees),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
