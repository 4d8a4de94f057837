/* Documentation of an event catalogue (docs/catalogue.md): one AsyncAPI 3.0
 * document per service and a static, offline HTML reference (an index and a
 * page per service; inline CSS, no scripts or fonts). Used by `tenbus docs`,
 * which writes the files, and by tenbusd, which serves them under /docs/. */
#ifndef TBD_DOCGEN_H
#define TBD_DOCGEN_H

#include <jansson.h>
#include <stddef.h>
#include <tenbus/catalogue.h>

typedef struct tbd_docgen_opts {
    const char *amqp_host;        /* server section, e.g. "localhost:5672" */
    const char *vhost;            /* "/" */
    const char *exchange;         /* "wazo-headers" */
} tbd_docgen_opts;

typedef struct tbd_docfile {
    char *name;                   /* "index.html", "confd.html", "confd.asyncapi.json" */
    const char *ctype;            /* its media type */
    char *body;
    size_t len;
} tbd_docfile;

typedef struct tbd_docs {
    tbd_docfile *files;
    size_t n;
} tbd_docs;

/* Fills *out (free with tbd_docs_free). 0, or -1 when out of memory. */
int tbd_docgen(const tb_catalogue *cat, const tbd_docgen_opts *opts, tbd_docs *out);
void tbd_docs_free(tbd_docs *docs);
const tbd_docfile *tbd_docs_find(const tbd_docs *docs, const char *name);

/* The AsyncAPI document of one service, a new reference (NULL: no such
 * service, or out of memory). */
json_t *tbd_docgen_asyncapi(const tb_catalogue *cat, const char *service, const tbd_docgen_opts *o);

/* The example bus body of a type: what tb_event_new builds from example
 * values of its content schema and of `headers` (its extra header fields'
 * schemas, may be NULL), with a fixed timestamp. A new reference or NULL. */
json_t *tbd_docgen_example(const tb_event_type *t, const json_t *headers);

#endif
