/* Splitting the --url argument (http://, ws://, IPv6 literals in brackets). */
#ifndef TB_CLI_URL_H
#define TB_CLI_URL_H

#include <stddef.h>

typedef struct cli_url {
    char host[256];      /* for getaddrinfo: no brackets */
    char port[8];
    char authority[272]; /* Host header: brackets for IPv6, ":port" when given */
    char path[1024];     /* "" when absent, never ends with '?' */
    char query[1024];    /* without the '?', "" when absent */
} cli_url;

/* Accepts http:// and ws:// (the same server answers both); https:// and
 * wss:// are refused (no TLS in the CLI: use a local port or a tunnel).
 * Returns 0, or -1 with a message in err. */
int cli_url_parse(const char *s, cli_url *u, char *err, size_t errlen);

#endif
