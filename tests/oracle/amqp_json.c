/* AMQP field table -> JSON: the reference mapping (see amqp_json.h). */
#include "amqp_json.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

static json_t *value_to_json(const amqp_field_value_t *v, int depth);

/* A NUL-terminated copy of `b` if it is valid UTF-8 without NUL, else NULL.
 * json_stringn would accept an embedded NUL, which C-string lookups (msg.c)
 * would then silently truncate. */
static json_t *bytes_to_string(amqp_bytes_t b)
{
    if (b.len && memchr(b.bytes, 0, b.len))
        return NULL;
    return json_stringn(b.len ? b.bytes : "", b.len);  /* NULL if not UTF-8 */
}

static json_t *table_to_json(const amqp_table_t *t, int depth)
{
    if (depth > TBD_AMQP_MAX_DEPTH)
        return NULL;
    json_t *o = json_object();
    if (!o)
        return NULL;
    for (int i = 0; i < t->num_entries; i++) {
        const amqp_table_entry_t *e = &t->entries[i];
        json_t *k = bytes_to_string(e->key);   /* validates the key */
        if (!k)
            continue;
        json_t *v = value_to_json(&e->value, depth);
        if (v && json_object_set_new(o, json_string_value(k), v) < 0) {
            json_decref(k);
            json_decref(o);
            return NULL;
        }
        json_decref(k);
    }
    return o;
}

static json_t *array_to_json(const amqp_array_t *a, int depth)
{
    if (depth > TBD_AMQP_MAX_DEPTH)
        return NULL;
    json_t *arr = json_array();
    if (!arr)
        return NULL;
    for (int i = 0; i < a->num_entries; i++) {
        json_t *v = value_to_json(&a->entries[i], depth);
        /* Leaving an element out would shift the others: keep its place. */
        if (json_array_append_new(arr, v ? v : json_null()) < 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

/* NaN and infinities have no JSON form. Left out, not null: a
 * `required_acl` of null would mean "no ACL needed". */
static json_t *real_or_out(double d)
{
    return isfinite(d) ? json_real(d) : NULL;
}

static json_t *value_to_json(const amqp_field_value_t *v, int depth)
{
    switch (v->kind) {
    case AMQP_FIELD_KIND_BOOLEAN:   return json_boolean(v->value.boolean);
    case AMQP_FIELD_KIND_I8:        return json_integer(v->value.i8);
    case AMQP_FIELD_KIND_U8:        return json_integer(v->value.u8);
    case AMQP_FIELD_KIND_I16:       return json_integer(v->value.i16);
    case AMQP_FIELD_KIND_U16:       return json_integer(v->value.u16);
    case AMQP_FIELD_KIND_I32:       return json_integer(v->value.i32);
    case AMQP_FIELD_KIND_U32:       return json_integer(v->value.u32);
    case AMQP_FIELD_KIND_I64:       return json_integer(v->value.i64);
    case AMQP_FIELD_KIND_U64:
    case AMQP_FIELD_KIND_TIMESTAMP:
        if (v->value.u64 <= (uint64_t)INT64_MAX)
            return json_integer((json_int_t)v->value.u64);
        char s[24];
        snprintf(s, sizeof(s), "%llu", (unsigned long long)v->value.u64);
        return json_string(s);
    case AMQP_FIELD_KIND_F32:       return real_or_out(v->value.f32);
    case AMQP_FIELD_KIND_F64:       return real_or_out(v->value.f64);
    case AMQP_FIELD_KIND_DECIMAL:
        return real_or_out(v->value.decimal.value / pow(10.0, v->value.decimal.decimals));
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES:     return bytes_to_string(v->value.bytes);
    case AMQP_FIELD_KIND_VOID:      return json_null();
    case AMQP_FIELD_KIND_TABLE:     return table_to_json(&v->value.table, depth + 1);
    case AMQP_FIELD_KIND_ARRAY:     return array_to_json(&v->value.array, depth + 1);
    default:                        return NULL;
    }
}

json_t *tbd_amqp_table_to_json(const amqp_table_t *t)
{
    return table_to_json(t, 0);
}
