/* tbd_log_json_format (daemon/core/log_json.c): any message text, any output
 * size, must give exactly one valid JSON object whose time/level/msg are
 * there, never longer than the buffer, without a raw newline. */
#include <jansson.h>

#include "fuzz.h"
#include "core/log_json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t cap = 64 + (size_t)data[0] * 8;   /* 64 .. 2104 bytes */
    char *out = malloc(cap);
    size_t n = tbd_log_json_format(out, cap, "2026-01-01T00:00:00.000Z", "info",
                                   (const char *)data + 1, size - 1);
    FUZZ_CHECK(n <= cap);
    FUZZ_CHECK(memchr(out, '\n', n) == NULL);
    json_error_t err;
    /* \u0000 is valid JSON (a message itself never holds a NUL byte). */
    json_t *j = json_loadb(out, n, JSON_ALLOW_NUL, &err);
    if (!j)
        fprintf(stderr, "not JSON (%s): %.*s\n", err.text, (int)n, out);
    FUZZ_CHECK(j && json_is_object(j));
    FUZZ_CHECK(json_is_string(json_object_get(j, "time")) || json_object_get(j, "truncated"));
    json_decref(j);
    free(out);
    return 0;
}
