/* Client commands (daemon/ws/wsproto.c): the text of one WebSocket message,
 * and the `version` query value. */
#include "fuzz.h"
#include "ws/wsproto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    tbd_wsp_cmd cmd;
    int rc = tbd_wsp_decode((const char *)data, size, &cmd);
    FUZZ_CHECK(rc == 0 || rc == -1);
    if (rc == 0) {
        FUZZ_CHECK(cmd.op >= TBD_WSP_SUBSCRIBE && cmd.op <= TBD_WSP_PING);
        /* Every op but start carries its string argument. */
        FUZZ_CHECK((cmd.op == TBD_WSP_START) == (cmd.arg == NULL));
        FUZZ_CHECK(memchr(data, '\0', size) == NULL);
    } else {
        FUZZ_CHECK(cmd.arg == NULL);
    }
    tbd_wsp_cmd_clear(&cmd);

    char *s = fuzz_strdup(data, size);
    int v = tbd_wsp_parse_version(s);
    FUZZ_CHECK(v == -1 || v == 1 || v == 2);
    FUZZ_CHECK(v != 2 || strcmp(s, "2") == 0);
    free(s);
    return 0;
}
