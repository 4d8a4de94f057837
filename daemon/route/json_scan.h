/* One streaming pass over a JSON text (yajl, no DOM): is it JSON, is it an
 * object, and what is its top-level "name" string. For the ingest paths that
 * pass the text through untouched and only need those answers (an AMQP
 * delivery's body, DESIGN.md §8).
 *
 * Accepts exactly what jansson's json_loadb(text, len, JSON_DECODE_ANY)
 * accepts: yajl checks the grammar, and this module adds what yajl lets
 * through and jansson does not (strict UTF-8, \u0000 and lone surrogate
 * escapes, integers outside int64, reals that overflow a double, nesting
 * over 2048, \v and \f as whitespace, an open string after the value).
 * One deliberate difference: a NUL byte right after a number or a literal,
 * which jansson skips, makes the text invalid here. See json_scan.c. */
#ifndef TBD_JSON_SCAN_H
#define TBD_JSON_SCAN_H

#include <stdbool.h>
#include <stddef.h>

/* jansson's JSON_PARSER_MAX_DEPTH (jansson_config.h): the deepest value
 * json_loadb accepts, the top-level value being at depth 1. */
#define TBD_JSON_MAX_DEPTH 2048

typedef enum tbd_json_kind {
    TBD_JSON_INVALID = 0,   /* json_loadb would fail */
    TBD_JSON_NOT_OBJECT,    /* valid JSON, top-level value not an object */
    TBD_JSON_OBJECT,        /* valid JSON object */
    TBD_JSON_ENOMEM,
} tbd_json_kind;

/* Parse memory kept from one scan to the next. One per thread: a scanner
 * is not thread-safe. */
typedef struct tbd_json_scanner tbd_json_scanner;

tbd_json_scanner *tbd_json_scanner_new(void);
void tbd_json_scanner_free(tbd_json_scanner *s);

/* Scans `text` (len bytes, not NUL-terminated). For TBD_JSON_OBJECT, *name
 * and *name_len are the value of the top-level "name" member if it is a
 * string (the last "name" member, as jansson keeps the last of duplicate
 * keys; valid UTF-8 without NUL), else NULL and 0. *name points into `text`
 * or into the scanner, and is valid until the next scan. */
tbd_json_kind tbd_json_scan(tbd_json_scanner *s, const char *text, size_t len,
                            const char **name, size_t *name_len);

/* The checks above that need no parse, for other yajl users (api_fast.c):
 * tbd_json_prescan is true if the text has none of the UTF-8, control
 * character, escape and open-string problems; then, for each number yajl
 * reports, tbd_json_number_ok is 1 if jansson would read it, 0 if not, -1
 * on ENOMEM. With yajl's grammar, depth aside, they accept what jansson
 * accepts. */
bool tbd_json_prescan(const char *text, size_t len);
int tbd_json_number_ok(const char *s, size_t n);

#endif
