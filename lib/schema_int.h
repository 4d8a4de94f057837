/* Internals of the catalogue's compiled content schemas (lib/catalogue.c),
 * shared with the daemon's streaming check of published events
 * (daemon/catalogue/catalogue.c); never installed. */
#ifndef TENBUS_SCHEMA_INT_H
#define TENBUS_SCHEMA_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

enum { TB__FMT_NONE, TB__FMT_UUID, TB__FMT_DATE_TIME };

typedef struct tb__prop {
    const char *name;
    struct tb_schema_int *s;
} tb__prop;

/* One node of a checked schema (docs/catalogue.md). Strings and the enum /
 * required arrays are borrowed from the schema's JSON. */
struct tb_schema_int {
    const char *type;         /* "object", "array", "string", "integer", "number", "boolean", "null" */
    bool nullable, closed;    /* closed: additionalProperties false */
    int format;               /* TB__FMT_* (strings) */
    const json_t *en;         /* enum array or NULL */
    const json_t *required;   /* array of names or NULL */
    tb__prop *props;          /* sorted by name */
    size_t n_props;
    struct tb_schema_int *items; /* NULL: elements unchecked */
};

/* The schema of member `name` (`len` bytes, no NUL needed), or NULL. */
const struct tb_schema_int *tb__schema_prop(const struct tb_schema_int *c, const char *name, size_t len);
/* The format checks, on `n` bytes. */
bool tb__is_uuid(const char *s, size_t n);
bool tb__is_date_time(const char *s, size_t n);

#endif
