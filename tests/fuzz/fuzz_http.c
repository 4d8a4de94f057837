/* The HTTP phase (daemon/http/http_conn.c): request heads and bodies, pipelined,
 * delivered in chunks. Byte 0 picks the limits, bytes 1-2 seed the
 * chunking; the rest is what a client sends. Every completed request goes
 * through the upgrade checks and the query parameters the daemon reads. */
#include <http_parser.h>
#include <stdbool.h>

#include "fuzz.h"
#include "http/http_conn.h"
#include "ws_frame.h"

static const uint32_t heads[4] = { 1024, 64, 200, 8192 };
static const uint64_t bodies[4] = { 1024, 0, 10, 65536 };

static void check_request(tbd_http_req *r, uint64_t max_body)
{
    FUZZ_CHECK(r->path != NULL);
    FUZZ_CHECK(r->body_len <= max_body);
    FUZZ_CHECK(r->body_len == 0 || (r->body && r->body[r->body_len] == '\0'));
    for (int i = 0; i < H__COUNT; i++)
        if (r->hdr[i])
            (void)strlen(r->hdr[i]);

    char accept[29];
    const char *why = NULL;
    int st = tbd_http_upgrade_check(r, accept, &why);
    FUZZ_CHECK(st == 0 || st == 400 || st == 426);
    if (st == 0) {
        FUZZ_CHECK(r->method == HTTP_GET && strlen(accept) == 28);
        char again[29];
        FUZZ_CHECK(tb__ws_accept_key(r->hdr[H_WS_KEY], again) == 0 && strcmp(accept, again) == 0);
    } else {
        FUZZ_CHECK(why && *why);
    }
    char *tok = tbd_query_param(r->query, "token");
    char *ver = tbd_query_param(r->query, "version");
    if (tok)
        FUZZ_CHECK(strlen(tok) <= strlen(r->query));
    if (ver)
        FUZZ_CHECK(strlen(ver) <= strlen(r->query));
    free(tok);
    free(ver);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_in in = { data, size };
    uint8_t b0 = fuzz_byte(&in);
    uint32_t seed = (uint32_t)fuzz_byte(&in) << 8 | fuzz_byte(&in);
    uint32_t max_head = heads[b0 & 3];
    uint64_t max_body = bodies[(b0 >> 2) & 3];
    tbd_http *h = tbd_http_parser_new(max_body, max_head);
    FUZZ_CHECK(h);

    /* Like the connection: bytes not consumed are offered again with the
     * next chunk appended. */
    uint8_t *buf = malloc(in.n ? in.n : 1);
    FUZZ_CHECK(buf);
    size_t have = 0, fed = 0;
    bool done = false;
    while (!done && fed < in.n) {
        uint32_t x = fuzz_rand(&seed);
        size_t chunk = (x & 0x300) ? (x & 31) + 1 : (x >> 10) % 2048 + 1;
        if (chunk > in.n - fed)
            chunk = in.n - fed;
        memcpy(buf + have, in.p + fed, chunk);
        have += chunk;
        fed += chunk;
        while (have && !done) {
            size_t used = 0;
            int status = 0;
            const char *why = NULL;
            tbd_http_event ev = tbd_http_parse(h, buf, have, &used, &status, &why);
            FUZZ_CHECK(used <= have);
            switch (ev) {
            case TBD_HTTP_REFUSE:
                FUZZ_CHECK(status == 400 || status == 413 || status == 431);
                FUZZ_CHECK(why && *why);
                done = true;
                break;
            case TBD_HTTP_UPGRADE:
                check_request(tbd_http_parsed(h), max_body);
                done = true;    /* the rest is WebSocket */
                break;
            case TBD_HTTP_REQUEST:
                check_request(tbd_http_parsed(h), max_body);
                tbd_http_parser_next(h);
                break;
            case TBD_HTTP_MORE:
                break;
            }
            memmove(buf, buf + used, have - used);
            have -= used;
            if (ev == TBD_HTTP_MORE && used == 0)
                break;
        }
        /* Short of a refusal or an upgrade, the parser takes every byte:
         * nothing piles up in front of it. */
        if (!done)
            FUZZ_CHECK(have == 0);
    }
    free(buf);
    tbd_http_parser_free(h);
    return 0;
}
