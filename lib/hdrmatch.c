/* AMQP headers-exchange matching with RabbitMQ's rules, so that a service
 * consuming from the embedded bus sees what the same binding would deliver on
 * the `wazo-headers` exchange. One deliberate difference: RabbitMQ compares
 * AMQP types, where 1 and 1.0 differ; JSON publishers do not control that
 * distinction (Python writes 1.0 for a float that happens to be integral), so
 * numbers compare by value here. */
#include <math.h>
#include <stdbool.h>
#include <string.h>

#include "tenbus/hdrmatch.h"

static bool number_equal(const json_t *a, const json_t *b)
{
    json_int_t i;
    double r;

    if (json_is_integer(a) && json_is_integer(b))
        return json_integer_value(a) == json_integer_value(b);
    if (json_is_real(a) && json_is_real(b))
        return json_real_value(a) == json_real_value(b);
    /* Mixed: going through double would call 2^53 + 1 equal to 2^53. */
    i = json_is_integer(a) ? json_integer_value(a) : json_integer_value(b);
    r = json_is_real(a) ? json_real_value(a) : json_real_value(b);
    if (r != floor(r) || r < -0x1p63 || r >= 0x1p63)
        return false;
    return (json_int_t)r == i;
}

/* json_equal(), except that numbers compare by value at any depth. */
static bool value_equal(const json_t *a, const json_t *b)
{
    if (json_is_number(a) && json_is_number(b))
        return number_equal(a, b);
    if (json_is_array(a) && json_is_array(b)) {
        size_t n = json_array_size(a);
        if (n != json_array_size(b))
            return false;
        for (size_t i = 0; i < n; i++)
            if (!value_equal(json_array_get(a, i), json_array_get(b, i)))
                return false;
        return true;
    }
    if (json_is_object(a) && json_is_object(b)) {
        const char *key;
        json_t *va;

        if (json_object_size(a) != json_object_size(b))
            return false;
        json_object_foreach((json_t *)a, key, va) {
            const json_t *vb = json_object_get(b, key);
            if (!vb || !value_equal(va, vb))
                return false;
        }
        return true;
    }
    return json_equal(a, b) != 0;
}

bool tb_hdr_match(const json_t *binding, const json_t *headers)
{
    const json_t *xm;
    const char *mode = "all", *key;
    bool any, with_x;
    json_t *want;

    if (!json_is_object(binding) || !json_is_object(headers))
        return false;
    xm = json_object_get(binding, "x-match");
    if (xm) {
        if (!json_is_string(xm))
            return false;
        mode = json_string_value(xm);
    }
    if (strcmp(mode, "all") == 0 || strcmp(mode, "all-with-x") == 0)
        any = false;
    else if (strcmp(mode, "any") == 0 || strcmp(mode, "any-with-x") == 0)
        any = true;
    else
        return false; /* RabbitMQ refuses such a binding: it can match nothing */
    with_x = strchr(mode, '-') != NULL;

    /* all: true until a comparable key fails; any: false until one matches. */
    json_object_foreach((json_t *)binding, key, want) {
        const json_t *have;
        bool ok;

        if (strcmp(key, "x-match") == 0 || (!with_x && strncmp(key, "x-", 2) == 0))
            continue;
        have = json_object_get(headers, key);
        ok = have && (json_is_null(want) || value_equal(want, have));
        if (any && ok)
            return true;
        if (!any && !ok)
            return false;
    }
    return !any;
}
