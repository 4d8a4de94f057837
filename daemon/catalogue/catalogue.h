/* tenbusd's event catalogue (tenbus.catalogue, docs/catalogue.md): loaded
 * once at start; both publish paths ask it about each event of a catalogued
 * name (level and content schema), and, with tenbus.catalogue_strict, refuse
 * names it does not know. It also serves GET /api/catalogue and the HTML
 * reference under GET /docs/. */
#ifndef TBD_CATALOGUE_H
#define TBD_CATALOGUE_H

#include <stdbool.h>
#include <stddef.h>
#include <tenbus/catalogue.h>

#include "docgen.h"
#include "conf/config.h"
#include "http/api.h"

typedef struct tbd_catalogue {
    tb_catalogue *cat;
    bool strict;
    char *json;               /* GET /api/catalogue body */
    size_t json_len;
    tb__docs docs;            /* GET /docs/ */
} tbd_catalogue;

/* 0 with *out (NULL when cfg names no catalogue), or -1 with err filled
 * ("FILE:LINE: KEY: problem"). */
int tbd_catalogue_open(const tbd_config *cfg, tbd_catalogue **out, char *err, size_t errlen);
void tbd_catalogue_free(tbd_catalogue *c);

/* The general path's check of one event (`data` NULL => {}): 0, or -1 with
 * `e` filled: 400, field "name" (strict, unknown name), "level" (not the
 * catalogued level) or the JSON path of the offending content. `c` may be
 * NULL (no catalogue: 0). */
int tbd_catalogue_check(const tbd_catalogue *c, const char *name, tb_level level,
                        const json_t *data, tbd_api_err *e);

/* The fast path's check: `data` is the compact JSON text of the event's
 * data (NULL => {}). True when the event passes; false sends the request to
 * the general path, which gives the answer. */
bool tbd_catalogue_accepts(const tbd_catalogue *c, const char *name, tb_level level,
                           const char *data, size_t len);

/* GET /api/catalogue and GET /docs, /docs/, /docs/FILE: true when `path` is
 * one of them, and then *status, *ctype and the borrowed *body and *len are the
 * answer (`c` may be NULL: 404). */
bool tbd_catalogue_resource(const tbd_catalogue *c, const char *path, int *status,
                            const char **ctype, const char **body, size_t *len);

#endif
