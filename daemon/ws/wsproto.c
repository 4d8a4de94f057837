/* wazo-websocketd client commands (DESIGN.md §3). */
#include "ws/wsproto.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

/* Returns a copy of data.<field> if it is a string, else NULL. */
static char *data_string(json_t *root, const char *field)
{
    json_t *data = json_object_get(root, "data");
    json_t *v = json_is_object(data) ? json_object_get(data, field) : NULL;
    /* jansson refuses \u0000 without JSON_ALLOW_NUL, so strdup keeps it all. */
    return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

int tbd_wsp_decode(const char *text, size_t len, tbd_wsp_cmd *out)
{
    static const struct { const char *name; tbd_wsp_op op; const char *field; } ops[] = {
        { "subscribe", TBD_WSP_SUBSCRIBE, "event_name" },
        { "start", TBD_WSP_START, NULL },
        { "token", TBD_WSP_TOKEN, "token" },
        { "ping", TBD_WSP_PING, "payload" },
    };
    json_t *root;
    const char *op;
    int rc = -1;

    memset(out, 0, sizeof *out);
    /* A raw NUL is not JSON whitespace or text; refuse it before jansson
     * sees a length-delimited buffer. */
    if (!text || memchr(text, '\0', len))
        return -1;
    /* Duplicate keys: the last wins, as with wazo-websocketd's json.loads. */
    root = json_loadb(text, len, 0, NULL);
    if (!json_is_object(root))
        goto done;
    op = json_string_value(json_object_get(root, "op"));
    if (!op)
        goto done;
    for (size_t i = 0; i < sizeof ops / sizeof ops[0]; i++) {
        if (strcmp(op, ops[i].name) != 0)
            continue;
        if (ops[i].field && !(out->arg = data_string(root, ops[i].field)))
            goto done;
        out->op = ops[i].op;
        rc = 0;
        break;
    }
done:
    json_decref(root);
    return rc;
}

void tbd_wsp_cmd_clear(tbd_wsp_cmd *cmd)
{
    free(cmd->arg);
    cmd->arg = NULL;
}

int tbd_wsp_parse_version(const char *v)
{
    if (!v)
        return 1;
    if (strcmp(v, "1") == 0)
        return 1;
    if (strcmp(v, "2") == 0)
        return 2;
    return -1;
}
