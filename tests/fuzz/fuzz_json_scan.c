/* tbd_json_scan (daemon/json_scan.c) against its contract, jansson's
 * json_loadb(JSON_DECODE_ANY): on any input, the same accept/reject, the
 * same "is an object", and the same top-level "name" string (except for the
 * NUL byte jansson skips, see json_scan.c). One scanner is
 * reused across inputs, as the AMQP thread reuses its own. */
#include <jansson.h>
#include <stdbool.h>

#include "fuzz.h"
#include "route/json_scan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static tbd_json_scanner *scan;
    if (!scan && !(scan = tbd_json_scanner_new()))
        abort();
    const char *text = size ? (const char *)data : "";
    json_t *j = json_loadb(text, size, JSON_DECODE_ANY, NULL);
    const char *name;
    size_t name_len;
    tbd_json_kind k = tbd_json_scan(scan, text, size, &name, &name_len);
    if (!j || memchr(text, 0, size)) {
        /* A NUL byte jansson skips (after a number or literal) is refused
         * here: the one deliberate difference (json_scan.c). */
        FUZZ_CHECK(k == TBD_JSON_INVALID);
    } else if (!json_is_object(j)) {
        FUZZ_CHECK(k == TBD_JSON_NOT_OBJECT);
    } else {
        FUZZ_CHECK(k == TBD_JSON_OBJECT);
        const json_t *n = json_object_get(j, "name");
        if (json_is_string(n)) {
            FUZZ_CHECK(name && name_len == json_string_length(n));
            FUZZ_CHECK(memcmp(name, json_string_value(n), name_len) == 0);
        } else {
            FUZZ_CHECK(!name && !name_len);
        }
    }
    json_decref(j);
    return 0;
}
