/* Documentation of an event catalogue (docs/catalogue.md): one AsyncAPI 3.0
 * document per service and a static, offline HTML reference (an index and a
 * page per service; inline CSS, no scripts or fonts). Used by `tenbus docs`,
 * which writes the files, and by tenbusd, which serves them under /docs/. */
#ifndef TB_DOCGEN_H
#define TB_DOCGEN_H

#include <jansson.h>
#include <stddef.h>
#include <tenbus/catalogue.h>

typedef struct tb__docgen_opts {
    const char *amqp_host;        /* server section, e.g. "localhost:5672" */
    const char *vhost;            /* "/" */
    const char *exchange;         /* "wazo-headers" */
} tb__docgen_opts;

typedef struct tb__docfile {
    char *name;                   /* "index.html", "confd.html", "confd.asyncapi.json" */
    const char *ctype;            /* its media type */
    char *body;
    size_t len;
} tb__docfile;

typedef struct tb__docs {
    tb__docfile *files;
    size_t n;
} tb__docs;

/* Fills *out (free with tb__docs_free). 0, or -1 when out of memory. */
int tb__docgen(const tb_catalogue *cat, const tb__docgen_opts *opts, tb__docs *out);
void tb__docs_free(tb__docs *docs);
const tb__docfile *tb__docs_find(const tb__docs *docs, const char *name);

/* The AsyncAPI document of one service, a new reference (NULL: no such
 * service, or out of memory). */
json_t *tb__docgen_asyncapi(const tb_catalogue *cat, const char *service, const tb__docgen_opts *o);

/* The example bus body of a type: what tb_event_new builds from example
 * values of its content schema and of `headers` (its extra header fields'
 * schemas, may be NULL), with a fixed timestamp. A new reference or NULL. */
json_t *tb__docgen_example(const tb_event_type *t, const json_t *headers);

#endif
