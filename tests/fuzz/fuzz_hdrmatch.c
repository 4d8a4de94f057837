/* AMQP headers-exchange matching (lib/hdrmatch.c). Input: a JSON binding,
 * then (after the first newline) JSON headers. Checks the match against
 * itself and a deep copy: a binding in "all" mode matches its own object. */
#include <stdbool.h>

#include <tenbus/hdrmatch.h>

#include "fuzz.h"

static bool has_comparable_key(const json_t *b, bool with_x)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)b, k, v)
        if (strcmp(k, "x-match") != 0 && (with_x || strncmp(k, "x-", 2) != 0))
            return true;
    return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t blen = nl ? (size_t)(nl - data) : size;
    json_t *binding = json_loadb((const char *)data, blen, JSON_DECODE_ANY, NULL);
    json_t *headers = nl ? json_loadb((const char *)nl + 1, size - blen - 1, JSON_DECODE_ANY, NULL)
                         : NULL;

    bool m = tb_hdr_match(binding, headers);
    if (!json_is_object(binding) || !json_is_object(headers))
        FUZZ_CHECK(!m);

    if (json_is_object(binding)) {
        const json_t *xm = json_object_get(binding, "x-match");
        const char *mode = !xm ? "all" : json_is_string(xm) ? json_string_value(xm) : NULL;
        bool all = mode && (strcmp(mode, "all") == 0 || strcmp(mode, "all-with-x") == 0);
        bool any = mode && (strcmp(mode, "any") == 0 || strcmp(mode, "any-with-x") == 0);
        json_t *copy = json_deep_copy(binding);
        FUZZ_CHECK(copy);
        bool self = tb_hdr_match(binding, copy);
        if (all)
            FUZZ_CHECK(self);
        else if (any)
            FUZZ_CHECK(self == has_comparable_key(binding, strchr(mode, '-') != NULL));
        else
            FUZZ_CHECK(!self);
        /* Headers are only read: matching twice gives the same answer. */
        FUZZ_CHECK(tb_hdr_match(binding, headers) == m);
        json_decref(copy);
    }
    json_decref(binding);
    json_decref(headers);
    return 0;
}
