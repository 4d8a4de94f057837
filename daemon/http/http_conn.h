/* The HTTP phase of a connection (before any WebSocket upgrade), parsed with
 * the nodejs http_parser library (Debian libhttp-parser). */
#ifndef TBD_HTTP_CONN_H
#define TBD_HTTP_CONN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <jansson.h>

enum { H_UPGRADE, H_CONNECTION, H_WS_KEY, H_WS_VERSION, H_AUTH_TOKEN, H_CONTENT_TYPE, H_EXPECT, H__COUNT };

typedef struct tbd_http_req {
    int method;              /* enum http_method */
    char *path;              /* decoded path, without the query */
    char *query;             /* raw query string or NULL */
    char *hdr[H__COUNT];     /* headers tenbus reads (last one wins), NULL if absent */
    char *body;
    size_t body_len;
    bool keep_alive;
    bool http11;             /* HTTP/1.1 or later (RFC 6455 §4.2.1 needs it to upgrade) */
} tbd_http_req;

/* The HTTP parser of one connection, usable without one (tests, fuzzing). */
typedef struct tbd_http tbd_http;

/* A parser for requests whose head may reach `max_head` bytes and whose body
 * `max_body` bytes. NULL on ENOMEM. */
tbd_http *tbd_http_parser_new(uint64_t max_body, uint32_t max_head);
void tbd_http_parser_free(tbd_http *h);

typedef enum tbd_http_event {
    TBD_HTTP_MORE,       /* all of *used consumed; feed more bytes */
    TBD_HTTP_REQUEST,    /* a request is complete (tbd_http_parsed); the parser
                          * is paused until tbd_http_parser_next */
    TBD_HTTP_UPGRADE,    /* an upgrade request's head is complete; bytes after
                          * *used belong to the new protocol */
    TBD_HTTP_REFUSE,     /* answer *status (400, 413, 431) with *why, then close */
} tbd_http_event;

/* Parses up to `len` bytes; *used says how many were consumed (possibly
 * fewer than len: the caller feeds the rest again). A paused parser consumes
 * nothing. *status and *why are set only for TBD_HTTP_REFUSE. */
tbd_http_event tbd_http_parse(tbd_http *h, const uint8_t *data, size_t len, size_t *used,
                              int *status, const char **why);
/* The request being parsed or just completed; owned by the parser. */
tbd_http_req *tbd_http_parsed(tbd_http *h);
/* Forgets the completed request and resumes parsing (pipelining). */
void tbd_http_parser_next(tbd_http *h);

/* RFC 6455 §4.2.1 checks of an upgrade request. Returns 0 with the
 * Sec-WebSocket-Accept value in `accept`, or the HTTP status to refuse with
 * (400, 426) and *why. */
int tbd_http_upgrade_check(const tbd_http_req *r, char accept[29], const char **why);

/* ---- the HTTP phase of a connection ---- */
struct tbd_conn;
int tbd_http_begin(struct tbd_conn *c);
void tbd_http_free(struct tbd_conn *c);
/* Consumes bytes; returns how many it used, or -1 after closing the conn. */
ssize_t tbd_http_feed(struct tbd_conn *c, uint8_t *data, size_t len);
void tbd_http_respond(struct tbd_conn *c, int status, const char *ctype, const char *body, size_t len);
void tbd_http_respond_json(struct tbd_conn *c, int status, json_t *body); /* steals body */
/* The HTTP phase's operations (net/conn.h). */
extern const struct tbd_conn_phase tbd_http_phase;
/* The request being handled (valid from tbd_api_handle until its response is written). */
const tbd_http_req *tbd_http_current(struct tbd_conn *c);

/* Percent-decodes the value of `key` in a query string into a new string
 * (NULL if absent). '+' stays '+' (tokens may contain it). */
char *tbd_query_param(const char *query, const char *key);

#endif
