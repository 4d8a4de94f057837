/* JSON validation and top-level "name" lookup in one streaming pass (see
 * json_scan.h).
 *
 * The contract is jansson's: a text is valid iff json_loadb(JSON_DECODE_ANY)
 * returns a value, because that is what the RabbitMQ bus accepted before
 * (bodies it refused must still be dropped as body_not_json). yajl 2.1
 * checks the grammar; where it is laxer than jansson this module closes the
 * gap:
 *   - UTF-8: yajl takes overlongs, encoded surrogates and code points above
 *     U+10FFFF; jansson reads the whole text as strict UTF-8 (RFC 3629).
 *   - Control characters: yajl takes \v and \f as whitespace; jansson only
 *     space, \t, \n, \r (both refuse every control character in a string).
 *   - \u escapes: yajl decodes \u0000 to NUL, a lone high surrogate to '?'
 *     and a high surrogate followed by any \u to some code point; jansson
 *     refuses all of these and a lone low surrogate.
 *   - Numbers: yajl's own integer conversion overflows (and refuses
 *     INT64_MIN), so numbers reach us as text and we check the range: an
 *     integer must fit int64 (strtoll), a real must not overflow a double
 *     (strtod; an underflow is fine).
 *   - Depth: yajl has no limit; jansson refuses a value deeper than 2048.
 *   - Trailing bytes: yajl misses a string left open after the value.
 * One difference is deliberate: jansson 2.14 skips a NUL byte that directly
 * follows a number or a literal ('[1\0]' and '{"a":true\0}' load: its lexer
 * pushes back the character after such a token, and a pushed-back NUL reads
 * as "buffer empty" and is lost). Here a NUL byte anywhere makes the text
 * invalid: it is not JSON (RFC 8259), and the body would reach clients as
 * is in the v1 frame, where their JSON parsers refuse it.
 *
 * UTF-8, control characters, escapes and the open string are checked by
 * prescan() before yajl runs (one linear pass, mostly 8 bytes at a time),
 * numbers and depth in the callbacks. On everything else (literals, number
 * and string syntax, structure, one value only, other trailing bytes, empty
 * text) the two parsers agree; tests/fuzz/fuzz_json_scan.c checks all of it
 * against jansson.
 *
 * yajl 2.1 has no reset, so each scan allocates a handle. Its allocations
 * come from an arena in the scanner, taken back whole by the next scan,
 * rather than from malloc: a handle is five small blocks, and a text with
 * an escaped string adds yajl's 2 KiB decode buffer, past glibc's per-thread
 * cache (measured on a 290-byte event with one escape: 0.60 against
 * 0.74 µs a decode). */
#include "route/json_scan.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "ws_frame.h"   /* tb__ws_utf8_valid: RFC 3629, as strict as jansson */

/* ---- prescan: what jansson refuses and yajl does not, before parsing ---- */

/* The value of 4 hex digits at p, or -1. */
static long hex4(const unsigned char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        unsigned char c = p[i];
        int d = c >= '0' && c <= '9' ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
        if (d < 0)
            return -1;
        v = v << 4 | d;
    }
    return v;
}

/* Length of the escape sequence at p (p[0] == '\\') if jansson accepts it,
 * else 0: one of \" \\ \/ \b \f \n \r \t, or \uXXXX that is not \u0000 and
 * not a surrogate, or a \uD800-\uDBFF\uDC00-\uDFFF pair. */
static size_t escape_len(const unsigned char *p, size_t n)
{
    if (n < 2)
        return 0;
    if (p[1] != 'u')
        return p[1] && strchr("\"\\/bfnrt", p[1]) ? 2 : 0;
    long v = n >= 6 ? hex4(p + 2) : -1;
    if (v <= 0 || (v >= 0xDC00 && v <= 0xDFFF))
        return 0;
    if (v < 0xD800 || v > 0xDBFF)
        return 6;
    long lo = n >= 12 && p[6] == '\\' && p[7] == 'u' ? hex4(p + 8) : -1;
    return lo >= 0xDC00 && lo <= 0xDFFF ? 12 : 0;
}

/* True if none of the 8 bytes of w needs a closer look: no byte >= 0x80,
 * none below 0x20, no backslash. (x - 0x01..*k) & ~x & 0x80.. is non-zero
 * iff some byte of x is below k, for k <= 0x80.) */
static bool word_plain(uint64_t w)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t bs = w ^ (ones * '\\');
    uint64_t ctl = (w - ones * 0x20) & ~w & high;
    uint64_t esc = (bs - ones) & ~bs & high;
    return ((w & high) | ctl | esc) == 0;
}

/* 1 if w holds an odd number of '"' bytes. (Per byte, ((x & 7F) + 7F) | x
 * has its high bit set iff x != 0; no carry crosses bytes.) */
static unsigned quote_parity(uint64_t w)
{
    const uint64_t low7 = 0x7F7F7F7F7F7F7F7Full;
    uint64_t x = w ^ 0x2222222222222222ull;               /* '"' -> 0 */
    uint64_t q = (~(((x & low7) + low7) | x) & ~low7) >> 7;   /* 1 per '"' */
    q ^= q >> 32;
    q ^= q >> 16;
    q ^= q >> 8;
    return (unsigned)q & 1;
}

/* The checks of the first three points at the top of this file, over the
 * whole text. A backslash outside a string is a syntax error yajl reports,
 * so taking every backslash as the start of an escape, left to right, is
 * exact for every text yajl goes on to accept.
 *
 * One more: the text must not end inside a string. yajl 2.1 misses a
 * trailing string left open after the value ('{} "abc' is accepted: the
 * trailing-garbage check sees an incomplete token, i.e. end of input). The
 * unescaped quotes of a text that does not end inside a string pair up, so
 * their count is even; with an open trailing string it is odd. */
static bool prescan(const unsigned char *p, size_t n)
{
    /* UTF-8 first, whole, with the validator of WebSocket text frames;
     * below, bytes >= 0x80 then only need skipping. */
    if (!tb__ws_utf8_valid(p, n))
        return false;
    size_t i = 0;
    unsigned quotes = 0;   /* parity of the unescaped '"' seen */
    while (i < n) {
        if (n - i >= 8) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (word_plain(w)) {
                quotes ^= quote_parity(w);
                i += 8;
                continue;
            }
        }
        unsigned char c = p[i];
        size_t k = 1;
        if (c == '\\')
            k = escape_len(p + i, n - i);   /* an escaped '"' is skipped here */
        else if (c == '"')
            quotes ^= 1;
        else if (c < 0x20 && c != '\t' && c != '\n' && c != '\r')
            k = 0;
        if (!k)
            return false;
        i += k;
    }
    return quotes == 0;
}

/* ---- numbers ---- */

/* jansson reads an integer with strtoll and refuses one out of range. `s`
 * is a JSON integer ('-'? digits, no leading zero). */
static bool int_fits(const char *s, size_t n)
{
    bool neg = s[0] == '-';
    size_t nd = n - neg;
    if (nd != 19)
        return nd < 19;
    return memcmp(s + neg, neg ? "9223372036854775808" : "9223372036854775807", 19) <= 0;
}

/* jansson reads a real with strtod and refuses it if it overflows a double
 * (±HUGE_VAL with ERANGE; an underflow to 0 is accepted). Decided from e10,
 * the power of ten of the leading non-zero digit: below 308 the value is
 * under 1e308 < DBL_MAX, above it at least 1e309 and overflows. Only
 * e10 == 308 needs strtod; it gets the digits and an exponent without a
 * decimal point, so the locale cannot change the reading. -1 on ENOMEM. */
static int real_overflows(const char *s, size_t n)
{
    size_t i = s[0] == '-';
    const char *digits[2];   /* the integer part, then the fraction */
    size_t ndig[2] = {0, 0};
    digits[0] = s + i;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++, ndig[0]++;
    digits[1] = s + i + 1;
    if (i < n && s[i] == '.')
        for (i++; i < n && s[i] >= '0' && s[i] <= '9'; i++)
            ndig[1]++;
    /* The exponent saturates where it decides alone: beyond the number of
     * digits + 400, e10 is far past 308 either way. */
    long long exp = 0, cap = (long long)(n < (size_t)1 << 40 ? n : (size_t)1 << 40) + 400;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        bool neg = s[++i] == '-';
        if (s[i] == '-' || s[i] == '+')
            i++;
        for (; i < n; i++)
            if (exp < cap)
                exp = exp * 10 + (s[i] - '0');
        if (neg)
            exp = -exp;
    }
    /* The leading non-zero digit: index f of the digit string int+fraction. */
    size_t f = 0, total = ndig[0] + ndig[1];
    while (f < total && (f < ndig[0] ? digits[0][f] : digits[1][f - ndig[0]]) == '0')
        f++;
    if (f == total)
        return 0;   /* zero */
    long long e10 = (long long)ndig[0] - 1 - (long long)f + exp;
    if (e10 != 308)
        return e10 > 308;

    /* D * 10^(e10 + 1 - nd), D = the nd digits from f on, trailing zeros cut. */
    size_t last = total;
    while ((last - 1 < ndig[0] ? digits[0][last - 1] : digits[1][last - 1 - ndig[0]]) == '0')
        last--;
    size_t nd = last - f;
    char small[64], *buf = nd + 32 <= sizeof(small) ? small : malloc(nd + 32);
    if (!buf)
        return -1;
    for (size_t k = f; k < last; k++)
        buf[k - f] = k < ndig[0] ? digits[0][k] : digits[1][k - ndig[0]];
    snprintf(buf + nd, 32, "e%lld", e10 + 1 - (long long)nd);
    errno = 0;
    double d = strtod(buf, NULL);
    bool over = d == HUGE_VAL && errno == ERANGE;
    if (buf != small)
        free(buf);
    return over;
}

/* ---- the scanner and its arena ---- */

#define ARENA_SIZE 16384
#define ALIGN 16

/* A block of the arena: its size (for realloc) before the caller's bytes. */
typedef struct blk {
    size_t size;
    size_t pad;   /* keeps the caller's bytes ALIGN-aligned */
} blk;

struct tbd_json_scanner {
    yajl_alloc_funcs afs;
    size_t used;              /* arena bytes handed out in this scan */
    char *name_buf;           /* a decoded (escaped) "name", kept past its callback */
    size_t name_cap;
    _Alignas(ALIGN) unsigned char arena[ARENA_SIZE];
};

static bool in_arena(const tbd_json_scanner *s, const void *p)
{
    uintptr_t a = (uintptr_t)s->arena, q = (uintptr_t)p;
    return q >= a && q < a + ARENA_SIZE;
}

/* What does not fit (long strings decoded, deep nesting) goes to malloc. */
static void *arena_malloc(void *ctx, size_t n)
{
    tbd_json_scanner *s = ctx;
    size_t need = (sizeof(blk) + n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    if (n > ARENA_SIZE || need > ARENA_SIZE - s->used)
        return malloc(n);
    blk *b = (blk *)(s->arena + s->used);
    b->size = n;
    s->used += need;
    return b + 1;
}

static void arena_free(void *ctx, void *p)
{
    tbd_json_scanner *s = ctx;
    if (!in_arena(s, p))
        free(p);
    /* Arena blocks are all reclaimed when the next scan starts. */
}

static void *arena_realloc(void *ctx, void *p, size_t n)
{
    tbd_json_scanner *s = ctx;
    if (!p)
        return arena_malloc(ctx, n);
    if (!in_arena(s, p))
        return realloc(p, n);
    blk *b = (blk *)p - 1;
    size_t off = (size_t)((unsigned char *)b - s->arena);
    size_t need = (sizeof(blk) + n + ALIGN - 1) & ~(size_t)(ALIGN - 1);
    /* The last block grows in place (yajl's buffers double as they fill). */
    size_t end = off + ((sizeof(blk) + b->size + ALIGN - 1) & ~(size_t)(ALIGN - 1));
    if (end == s->used && n <= ARENA_SIZE && need <= ARENA_SIZE - off) {
        b->size = n;
        s->used = off + need;
        return p;
    }
    void *q = arena_malloc(ctx, n);
    if (q)
        memcpy(q, p, b->size < n ? b->size : n);
    return q;
}

tbd_json_scanner *tbd_json_scanner_new(void)
{
    tbd_json_scanner *s = aligned_alloc(ALIGN, sizeof(*s));
    if (!s)
        return NULL;
    s->afs = (yajl_alloc_funcs){arena_malloc, arena_realloc, arena_free, s};
    s->used = 0;
    s->name_buf = NULL;
    s->name_cap = 0;
    return s;
}

void tbd_json_scanner_free(tbd_json_scanner *s)
{
    if (!s)
        return;
    free(s->name_buf);
    free(s);
}

/* ---- the callbacks ---- */

typedef struct scan_ctx {
    tbd_json_scanner *s;
    const char *text;
    size_t len;
    size_t depth;          /* containers open around the next value */
    bool top_object;
    bool at_name;          /* the next value is the top-level "name" member's */
    bool enomem;
    const char *name;      /* the last top-level "name" string so far */
    size_t name_len;
} scan_ctx;

/* Every value, scalar or container, passes here as it starts: jansson
 * refuses a value deeper than its limit (its depth counts the value itself).
 * Returns -1 to stop, 1 if this is the value of a top-level "name" member
 * (which replaces any earlier one, string or not), else 0. */
static int value_starts(scan_ctx *c)
{
    if (c->depth >= TBD_JSON_MAX_DEPTH)
        return -1;
    if (!c->at_name)
        return 0;
    c->at_name = false;
    c->name = NULL;
    c->name_len = 0;
    return 1;
}

static int on_scalar(void *ctx)
{
    return value_starts(ctx) >= 0;
}

static int on_boolean(void *ctx, int v)
{
    return value_starts(ctx) >= 0;
}

bool tbd_json_prescan(const char *text, size_t len)
{
    return prescan((const unsigned char *)text, len);
}

int tbd_json_number_ok(const char *s, size_t n)
{
    if (!memchr(s, '.', n) && !memchr(s, 'e', n) && !memchr(s, 'E', n))
        return int_fits(s, n);
    int over = real_overflows(s, n);
    return over < 0 ? -1 : !over;
}

static int on_number(void *ctx, const char *s, size_t n)
{
    scan_ctx *c = ctx;
    if (value_starts(c) < 0)
        return 0;
    int ok = tbd_json_number_ok(s, n);
    c->enomem = ok < 0;
    return ok == 1;
}

static int on_string(void *ctx, const unsigned char *str, size_t n)
{
    scan_ctx *c = ctx;
    int r = value_starts(c);
    if (r <= 0)
        return r == 0;
    uintptr_t t = (uintptr_t)c->text, p = (uintptr_t)str;
    if (p >= t && p - t <= c->len && n <= c->len - (p - t)) {
        c->name = (const char *)str;   /* as it stands in the text */
    } else {
        /* Decoded from escapes into yajl's buffer, reused for the next one. */
        tbd_json_scanner *s = c->s;
        if (n + 1 > s->name_cap) {
            char *b = realloc(s->name_buf, n + 1);
            if (!b) {
                c->enomem = true;
                return 0;
            }
            s->name_buf = b;
            s->name_cap = n + 1;
        }
        memcpy(s->name_buf, str, n);
        s->name_buf[n] = '\0';
        c->name = s->name_buf;
    }
    c->name_len = n;
    return 1;
}

static int on_start_map(void *ctx)
{
    scan_ctx *c = ctx;
    if (value_starts(c) < 0)
        return 0;
    if (c->depth++ == 0)
        c->top_object = true;
    return 1;
}

static int on_map_key(void *ctx, const unsigned char *key, size_t n)
{
    scan_ctx *c = ctx;
    if (c->depth == 1)
        c->at_name = n == 4 && memcmp(key, "name", 4) == 0;
    return 1;
}

static int on_start_array(void *ctx)
{
    scan_ctx *c = ctx;
    if (value_starts(c) < 0)
        return 0;
    c->depth++;
    return 1;
}

static int on_end(void *ctx)
{
    ((scan_ctx *)ctx)->depth--;
    return 1;
}

static const yajl_callbacks callbacks = {
    .yajl_null = on_scalar,
    .yajl_boolean = on_boolean,
    .yajl_number = on_number,      /* set: yajl then leaves every number to us */
    .yajl_string = on_string,
    .yajl_start_map = on_start_map,
    .yajl_map_key = on_map_key,
    .yajl_end_map = on_end,
    .yajl_start_array = on_start_array,
    .yajl_end_array = on_end,
};

tbd_json_kind tbd_json_scan(tbd_json_scanner *s, const char *text, size_t len,
                            const char **name, size_t *name_len)
{
    *name = NULL;
    *name_len = 0;
    if (!len || !prescan((const unsigned char *)text, len))
        return TBD_JSON_INVALID;
    scan_ctx c = {.s = s, .text = text, .len = len};
    s->used = 0;
    yajl_handle h = yajl_alloc(&callbacks, &s->afs, &c);
    if (!h)
        return TBD_JSON_ENOMEM;
    /* prescan() has checked UTF-8 more strictly than yajl would. */
    yajl_config(h, yajl_dont_validate_strings, 1);
    yajl_status st = yajl_parse(h, (const unsigned char *)text, len);
    if (st == yajl_status_ok)
        st = yajl_complete_parse(h);   /* the end of the value, no trailing bytes */
    yajl_free(h);
    if (c.enomem)
        return TBD_JSON_ENOMEM;
    if (st != yajl_status_ok)
        return TBD_JSON_INVALID;
    if (!c.top_object)
        return TBD_JSON_NOT_OBJECT;
    *name = c.name;
    *name_len = c.name_len;
    return TBD_JSON_OBJECT;
}
