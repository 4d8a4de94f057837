#include "url.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <http_parser.h>

static int copy_field(char *dst, size_t cap, const char *s, const struct http_parser_url *u, int f)
{
    size_t n = 0;
    if (u->field_set & (1 << f)) {
        n = u->field_data[f].len;
        if (n >= cap)
            return -1;
        memcpy(dst, s + u->field_data[f].off, n);
    }
    dst[n] = '\0';
    return 0;
}

int cli_url_parse(const char *s, cli_url *u, char *err, size_t errlen)
{
    struct http_parser_url pu;
    char scheme[8];

    memset(u, 0, sizeof *u);
    http_parser_url_init(&pu);
    if (http_parser_parse_url(s, strlen(s), 0, &pu) != 0 || !(pu.field_set & (1 << UF_SCHEMA)) ||
        !(pu.field_set & (1 << UF_HOST))) {
        snprintf(err, errlen, "invalid URL '%s' (expected http://HOST[:PORT][/PATH])", s);
        return -1;
    }
    if (copy_field(scheme, sizeof scheme, s, &pu, UF_SCHEMA) < 0 ||
        (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "ws") != 0)) {
        snprintf(err, errlen, "unsupported URL scheme in '%s' (use http:// or ws://; "
                 "TLS is not supported)", s);
        return -1;
    }
    if (pu.field_set & (1 << UF_USERINFO)) {
        snprintf(err, errlen, "credentials in URLs are not supported; use --token");
        return -1;
    }
    if (copy_field(u->host, sizeof u->host, s, &pu, UF_HOST) < 0 ||
        copy_field(u->path, sizeof u->path, s, &pu, UF_PATH) < 0 ||
        copy_field(u->query, sizeof u->query, s, &pu, UF_QUERY) < 0) {
        snprintf(err, errlen, "URL too long");
        return -1;
    }
    snprintf(u->port, sizeof u->port, "%u", pu.port ? pu.port : 80u);
    int v6 = strchr(u->host, ':') != NULL;
    if (pu.port)
        snprintf(u->authority, sizeof u->authority, v6 ? "[%s]:%u" : "%s:%u", u->host, pu.port);
    else
        snprintf(u->authority, sizeof u->authority, v6 ? "[%s]" : "%s", u->host);
    return 0;
}
