/* YAML to JSON (lib/yamljson.c): the whole input as a document, and as a
 * plain scalar. A loaded document must have a `lines` map whose every value
 * is a line of the input, and must serialize. */
#include <stdbool.h>

#include "fuzz.h"
#include "conf/yamljson.h"

/* Alias-heavy documents may share subtrees; serializing them is bounded by
 * the loader's alias budget, but keep the check cheap for the fuzzer. */
#define DUMP_MAX_INPUT 4096

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256] = "";
    json_t *lines = NULL;
    json_t *doc = tb__yaml_load_buf_lines((const char *)data, size, "fuzz", &lines, err, sizeof err);
    if (doc) {
        FUZZ_CHECK(json_is_object(lines));
        /* YAML line breaks: LF, CR, CRLF (counted twice here: an upper
         * bound is enough), and NEL, LS, PS (YAML 1.1 §5.4). */
        size_t nlines = 1;
        for (size_t i = 0; i < size; i++) {
            nlines += data[i] == '\n' || data[i] == '\r';
            nlines += i + 1 < size && data[i] == 0xC2 && data[i + 1] == 0x85;
            nlines += i + 2 < size && data[i] == 0xE2 && data[i + 1] == 0x80 &&
                      (data[i + 2] == 0xA8 || data[i + 2] == 0xA9);
        }
        const char *ptr;
        json_t *v;
        json_object_foreach(lines, ptr, v) {
            FUZZ_CHECK(json_is_integer(v));
            FUZZ_CHECK(json_integer_value(v) >= 1 && (size_t)json_integer_value(v) <= nlines + 1);
            FUZZ_CHECK(ptr[0] == '\0' || ptr[0] == '/');
            FUZZ_CHECK(tb__yaml_line(lines, ptr) == (int)json_integer_value(v));
        }
        if (size <= DUMP_MAX_INPUT) {
            char *s = json_dumps(doc, JSON_ENCODE_ANY | JSON_COMPACT);
            FUZZ_CHECK(s);
            free(s);
        }
        json_decref(doc);
        json_decref(lines);
    } else {
        FUZZ_CHECK(lines == NULL);
        FUZZ_CHECK(err[0] != '\0');
    }

    /* Without the lines map: same verdict. */
    err[0] = '\0';
    json_t *doc2 = tb__yaml_load_buf((const char *)data, size, "fuzz", err, sizeof err);
    FUZZ_CHECK((doc2 != NULL) == (doc != NULL));
    json_decref(doc2);

    err[0] = '\0';
    json_t *sc = tb__yaml_scalar((const char *)data, size, err, sizeof err);
    if (!sc)
        FUZZ_CHECK(err[0] != '\0');
    json_decref(sc);
    return 0;
}
