/* The browser console (docs/console.md): a static page, its script and its
 * style sheet, embedded in the binary at build time (cmake/embed.cmake turns
 * console/ into a C table), served at /console when tenbus.console is true.
 * The page talks to this same daemon only: the WebSocket for events, and
 * POST /api/events for its publish form. */
#ifndef TBD_CONSOLE_H
#define TBD_CONSOLE_H

#include <stdbool.h>
#include <stddef.h>

#include "http/http_conn.h"

struct tbd_conn;

/* One embedded file (generated table, NULL-path terminated). */
typedef struct tbd_asset {
    const char *path;          /* "/console", "/console/console.js", ... */
    const char *content_type;
    const unsigned char *data;
    size_t len;
} tbd_asset;

extern const tbd_asset tbd_console_assets[];

/* The asset served for `path`, or NULL. "/console" and "/console/" are the page. */
const tbd_asset *tbd_console_find(const char *path);

/* True if `path` is /console or below it. */
bool tbd_console_path(const char *path);

/* Answers a request under /console (tbd_console_path true) when the console
 * is enabled: the asset with its security headers, 404 for an unknown path,
 * 405 for a method other than GET. Returns false, answering nothing, when the
 * console is disabled (the caller answers 404 as for any unknown path). */
bool tbd_console_handle(struct tbd_conn *c, const tbd_http_req *req);

#endif
