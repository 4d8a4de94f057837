/* The client's bus URL parser (lib/client.c, through tb_client_new, which
 * connects nothing). Input: the URL (cut at the first NUL). Checks: only
 * the documented outcomes, a refusal always says why in errbuf, and what
 * is accepted starts with amqp:// or ws://. */
#include <tenbus/tenbus.h>

#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *url = strndup((const char *)data, size);
    char err[256];
    if (!url)
        return 0;
    memset(err, 'x', sizeof err);
    err[0] = '\0';
    tb_client_config cfg = {.url = url, .token = "t", .errbuf = err, .errbuf_size = sizeof err};
    tb_client *c = NULL;
    tb_err rc = tb_client_new(&cfg, &c);
    FUZZ_CHECK(rc == TB_OK || rc == TB_EURL || rc == TB_ENOMEM);
    FUZZ_CHECK(memchr(err, '\0', sizeof err) != NULL);
    if (rc == TB_OK) {
        FUZZ_CHECK(c != NULL);
        FUZZ_CHECK(strncmp(url, "amqp://", 7) == 0 || strncmp(url, "ws://", 5) == 0);
        FUZZ_CHECK(tb_client_fd(c) == -1);   /* nothing connected yet */
        tb_client_free(c);
    } else {
        FUZZ_CHECK(c == NULL);
        if (rc == TB_EURL)
            FUZZ_CHECK(err[0] != '\0');
    }
    free(url);
    return 0;
}
