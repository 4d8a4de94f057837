/* AMQP delivery -> message without a DOM (see amqp_msg.h).
 *
 * Each table entry is classified as the JSON conversion of the table would
 * turn it (header_value: the mapping of libtenbus's tb_amqp_table_to_json, which
 * tests/fuzz/fuzz_amqp_msg.c holds this to), and entries the conversion
 * leaves out are not fed; msg.c's builder then reads the header set with a
 * JSON object's rules (last value of a key wins), as for every ingress. */
#include "route/amqp_msg.h"

#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ws_frame.h"   /* tb__ws_utf8_valid: RFC 3629, as strict as jansson's check */


const char *tbd_amqp_verdict_reason(tbd_amqp_verdict v)
{
    switch (v) {
    case TBD_AMQP_OK:              return "ok";
    case TBD_AMQP_BODY_NOT_JSON:   return "body_not_json";
    case TBD_AMQP_BODY_NOT_OBJECT: return "body_not_object";
    case TBD_AMQP_NO_NAME:         return "no_name";
    case TBD_AMQP_ENOMEM:          return "enomem";
    }
    return "unknown";
}

/* ---- one header value, as the JSON conversion would see it ---- */

typedef enum hv_kind {
    HV_LEFT_OUT,   /* the conversion drops the entry: it does not count */
    HV_STRING,
    HV_NULL,
    HV_TRUE,
    HV_OTHER,      /* false, a number, an object, an array */
} hv_kind;

typedef struct hval {
    hv_kind kind;
    bool is_u64;          /* HV_STRING: the decimal text of a timestamp above INT64_MAX */
    uint64_t u64;
    amqp_bytes_t str;     /* HV_STRING otherwise: valid UTF-8 without NUL */
} hval;

/* bytes_to_string's test (lib/wire_amqp.c): valid UTF-8 and no NUL. */
static bool clean_bytes(const void *p, size_t n)
{
    return !n || (!memchr(p, 0, n) && tb__ws_utf8_valid(p, n));
}

static hv_kind finite_or_out(double d)
{
    return isfinite(d) ? HV_OTHER : HV_LEFT_OUT;   /* NaN/inf: no JSON form */
}

static hv_kind header_value(const amqp_field_value_t *v, hval *out)
{
    out->is_u64 = false;
    switch (v->kind) {
    case AMQP_FIELD_KIND_BOOLEAN:
        return v->value.boolean ? HV_TRUE : HV_OTHER;
    case AMQP_FIELD_KIND_I8:
    case AMQP_FIELD_KIND_U8:
    case AMQP_FIELD_KIND_I16:
    case AMQP_FIELD_KIND_U16:
    case AMQP_FIELD_KIND_I32:
    case AMQP_FIELD_KIND_U32:
    case AMQP_FIELD_KIND_I64:
    case AMQP_FIELD_KIND_U64:     /* 'L', read signed as py-amqp reads it */
        return HV_OTHER;
    case AMQP_FIELD_KIND_TIMESTAMP:
        /* Above INT64_MAX the conversion writes the number as a string. */
        if (v->value.u64 <= (uint64_t)INT64_MAX)
            return HV_OTHER;
        out->is_u64 = true;
        out->u64 = v->value.u64;
        return HV_STRING;
    case AMQP_FIELD_KIND_F32:
        return finite_or_out(v->value.f32);
    case AMQP_FIELD_KIND_F64:
        return finite_or_out(v->value.f64);
    case AMQP_FIELD_KIND_DECIMAL:
        return finite_or_out(v->value.decimal.value / pow(10.0, v->value.decimal.decimals));
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES:
        if (!clean_bytes(v->value.bytes.bytes, v->value.bytes.len))
            return HV_LEFT_OUT;
        out->str = v->value.bytes;
        return HV_STRING;
    case AMQP_FIELD_KIND_VOID:
        return HV_NULL;
    case AMQP_FIELD_KIND_TABLE:
    case AMQP_FIELD_KIND_ARRAY:
        /* At the top level they are never too deep: always an object/array. */
        return HV_OTHER;
    default:
        return HV_LEFT_OUT;
    }
}

/* The text of an HV_STRING: `num` (21 bytes) holds a u64's digits. */
static amqp_bytes_t hval_text(const hval *h, char num[21])
{
    if (!h->is_u64)
        return h->str;
    int n = snprintf(num, 21, "%llu", (unsigned long long)h->u64);
    return (amqp_bytes_t){.len = (size_t)n, .bytes = num};
}

/* Feeds the builder each entry the JSON conversion would keep. */
static void read_headers(const amqp_table_t *t, tbd_msg_builder *b)
{
    for (int i = 0; t && i < t->num_entries; i++) {
        const amqp_table_entry_t *e = &t->entries[i];
        hval v;
        hv_kind k = header_value(&e->value, &v);
        /* A key that is not clean UTF-8 is left out like its value. */
        if (k == HV_LEFT_OUT || !clean_bytes(e->key.bytes, e->key.len))
            continue;
        char num[21];
        amqp_bytes_t text = {0};
        if (k == HV_STRING)
            text = hval_text(&v, num);
        tbd_hv kind = k == HV_STRING ? TBD_HV_STRING : k == HV_NULL ? TBD_HV_NULL
                    : k == HV_TRUE ? TBD_HV_TRUE : TBD_HV_OTHER;
        tbd_msg_builder_header(b, e->key.bytes, e->key.len, kind, text.bytes, text.len);
    }
}

tbd_amqp_verdict tbd_amqp_msg_decode(tbd_json_scanner *scan, const amqp_table_t *headers,
                                     const char *body, size_t body_len,
                                     const char *stack_uuid, tbd_msg **out)
{
    *out = NULL;
    const char *bname;
    size_t bname_len;
    switch (tbd_json_scan(scan, body, body_len, &bname, &bname_len)) {
    case TBD_JSON_INVALID:    return TBD_AMQP_BODY_NOT_JSON;
    case TBD_JSON_NOT_OBJECT: return TBD_AMQP_BODY_NOT_OBJECT;
    case TBD_JSON_ENOMEM:     return TBD_AMQP_ENOMEM;
    case TBD_JSON_OBJECT:     break;
    }
    tbd_msg_builder b;
    tbd_msg_builder_init(&b, stack_uuid);
    read_headers(headers, &b);
    tbd_amqp_verdict rc = TBD_AMQP_ENOMEM;
    if (b.oom)
        goto out;
    /* The header's name if it is a string, else the body's. */
    rc = TBD_AMQP_NO_NAME;
    if (!tbd_msg_builder_has_name(&b) && !bname)
        goto out;
    rc = (*out = tbd_msg_builder_finish(&b, bname, bname_len, body, body_len)) ? TBD_AMQP_OK
                                                                               : TBD_AMQP_ENOMEM;
out:
    tbd_msg_builder_free(&b);
    return rc;
}
