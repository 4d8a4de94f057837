/* The HTTP phase of a connection (before any WebSocket upgrade), parsed with
 * the nodejs http_parser library (Debian libhttp-parser). */
#ifndef TBD_HTTP_CONN_H
#define TBD_HTTP_CONN_H

#include <stdbool.h>
#include <stddef.h>

enum { H_UPGRADE, H_CONNECTION, H_WS_KEY, H_WS_VERSION, H_AUTH_TOKEN, H_CONTENT_TYPE, H_EXPECT, H__COUNT };

typedef struct tbd_http_req {
    int method;              /* enum http_method */
    char *path;              /* decoded path, without the query */
    char *query;             /* raw query string or NULL */
    char *hdr[H__COUNT];     /* headers tenbus reads (last one wins), NULL if absent */
    char *body;
    size_t body_len;
    bool keep_alive;
} tbd_http_req;

struct tbd_conn;
/* The request being handled (valid from tbd_api_handle until its response is written). */
const tbd_http_req *tbd_http_current(struct tbd_conn *c);

/* Percent-decodes the value of `key` in a query string into a new string
 * (NULL if absent). '+' stays '+' (tokens may contain it). */
char *tbd_query_param(const char *query, const char *key);

#endif
