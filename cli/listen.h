/* The WebSocket session of `tenbus listen`, also run by `tenbus consume
 * --url` (a service consuming from a tenbusd node). */
#ifndef TB_CLI_LISTEN_H
#define TB_CLI_LISTEN_H

#include <stdbool.h>

#include <jansson.h>

typedef struct listen_opts {
    const char *url, *token;
    int version;
    long count;          /* 0 = unlimited */
    long long timeout_ms; /* 0 = none */
    char **names;
    int nnames;
    /* consume mode: "ready" on stderr after the start reply; each event
     * printed as cli_consume_print() does, if `filter` (header filter,
     * borrowed) matches its headers; --timeout exits 0. */
    bool consume;
    const json_t *filter;
    bool match_all;
} listen_opts;

/* Connects, subscribes, starts and prints until done; returns the exit
 * status. `name` prefixes error messages ("tenbus listen"). */
int cli_listen_run(const listen_opts *o, const char *name);

/* Prints {"routing_key": rk (NULL => null), "headers": ..., "body": ...}
 * as one flushed line on stdout. Returns 0 or -1. */
int cli_consume_print(const char *routing_key, const json_t *headers, const json_t *body);

#endif
