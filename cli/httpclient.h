/* One HTTP/1.1 request per connection (Connection: close), enough for the
 * CLI's publish command. */
#ifndef TB_CLI_HTTPCLIENT_H
#define TB_CLI_HTTPCLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "url.h"

typedef struct cli_http_response {
    int status;
    char *body;      /* owned, NUL-terminated */
    size_t body_len;
} cli_http_response;

/* Sends `method target` to u's server with `headers` (complete
 * "Name: value\r\n" lines, may be "") and `body`. Returns 0 with *res filled
 * (free with cli_http_response_free), or -1 with a message in err (timeouts
 * included). */
int cli_http_request(const cli_url *u, const char *method, const char *target, const char *headers,
                 const char *body, size_t body_len, int64_t deadline, cli_http_response *res,
                 char *err, size_t errlen);
void cli_http_response_free(cli_http_response *res);

#endif
