/* The browser console's HTTP side (console.h). Everything it serves is
 * static and compiled in, so the console works on an air-gapped stack and
 * nothing it serves depends on the request. */
#include <http_parser.h>
#include <string.h>

#include "http/console.h"
#include "core/server.h"
#include "core/worker.h"
#include "http/http_conn.h"
#include "net/conn.h"

/* The page may load only its own script and style sheet and talk only to
 * this origin ('self' covers ws:/wss: to the same host and port in CSP 3).
 * No framing (click-jacking), no referrer: the page's URL can carry a token
 * (?token=) and must not leak to anywhere it links. no-store keeps that URL's
 * page out of caches. The absence of CORS headers keeps other origins' pages
 * from reading the API's answers, and X-Auth-Token (not a CORS-safelisted
 * header) makes their publish attempts fail at the preflight. */
#define CONSOLE_HEADERS                                                                   \
    "Content-Security-Policy: default-src 'none'; script-src 'self'; style-src 'self'; " \
    "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'; "     \
    "frame-ancestors 'none'\r\n"                                                          \
    "X-Frame-Options: DENY\r\n"                                                           \
    "X-Content-Type-Options: nosniff\r\n"                                                 \
    "Referrer-Policy: no-referrer\r\n"                                                    \
    "Cross-Origin-Opener-Policy: same-origin\r\n"                                         \
    "Cross-Origin-Resource-Policy: same-origin\r\n"                                       \
    "Cache-Control: no-store\r\n"

bool tbd_console_path(const char *path)
{
    return strncmp(path, "/console", 8) == 0 && (path[8] == '\0' || path[8] == '/');
}

const tbd_asset *tbd_console_find(const char *path)
{
    if (strcmp(path, "/console/") == 0)
        path = "/console";
    for (const tbd_asset *a = tbd_console_assets; a->path; a++)
        if (strcmp(a->path, path) == 0)
            return a;
    return NULL;
}

bool tbd_console_handle(struct tbd_conn *c, const tbd_http_req *req)
{
    if (!c->w->srv->cfg->console)
        return false;
    const tbd_asset *a = tbd_console_find(req->path);
    if (!a) {
        static const char nf[] = "{\"error\":\"not_found\",\"message\":\"no such resource\"}";
        tbd_http_respond_ex(c, 404, "application/json", CONSOLE_HEADERS, nf, sizeof(nf) - 1);
    } else if (req->method != HTTP_GET) {
        static const char na[] = "{\"error\":\"method_not_allowed\",\"message\":\"use GET\"}";
        tbd_http_respond_ex(c, 405, "application/json", CONSOLE_HEADERS, na, sizeof(na) - 1);
    } else {
        tbd_http_respond_ex(c, 200, a->content_type, CONSOLE_HEADERS, (const char *)a->data, a->len);
    }
    return true;
}
