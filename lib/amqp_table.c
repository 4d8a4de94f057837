/* AMQP field tables <-> JSON (see amqp_table.h). The encoding side is what
 * decides whether a Wazo consumer's binding matches at all: RabbitMQ's
 * headers exchange compares types as well as values, so `true` must be a
 * boolean and a string a long string, and an integer must have the width
 * py-amqp gives it. */
#include "amqp_table.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* ---- JSON -> AMQP ------------------------------------------------------- */

static tb_err value_from_json(const json_t *j, amqp_pool_t *pool, amqp_field_value_t *v,
                              int depth);

static tb_err copy_bytes(amqp_pool_t *pool, const char *s, size_t len, amqp_bytes_t *out)
{
    out->len = len;
    out->bytes = NULL;
    if (!len)
        return TB_OK;
    if (!(out->bytes = amqp_pool_alloc(pool, len)))
        return TB_ENOMEM;
    memcpy(out->bytes, s, len);
    return TB_OK;
}

static tb_err table_from_json(const json_t *obj, amqp_pool_t *pool, amqp_table_t *out,
                              int depth)
{
    size_t n = json_object_size(obj);
    const char *key;
    json_t *val;
    tb_err rc;

    if (!json_is_object(obj) || depth > TB_AMQP_MAX_DEPTH)
        return TB_EINVAL;
    out->num_entries = 0;
    out->entries = NULL;
    if (!n)
        return TB_OK;
    if (n > INT32_MAX)
        return TB_EINVAL;
    if (!(out->entries = amqp_pool_alloc(pool, n * sizeof *out->entries)))
        return TB_ENOMEM;
    json_object_foreach((json_t *)obj, key, val) {
        amqp_table_entry_t *e = &out->entries[out->num_entries];
        size_t klen = strlen(key);

        if (klen > 255) /* keys are short strings */
            return TB_EINVAL;
        if ((rc = copy_bytes(pool, key, klen, &e->key)) != TB_OK ||
            (rc = value_from_json(val, pool, &e->value, depth)) != TB_OK)
            return rc;
        out->num_entries++;
    }
    return TB_OK;
}

static tb_err array_from_json(const json_t *arr, amqp_pool_t *pool, amqp_array_t *out,
                              int depth)
{
    size_t n = json_array_size(arr);
    tb_err rc;

    if (depth > TB_AMQP_MAX_DEPTH)
        return TB_EINVAL;
    out->num_entries = 0;
    out->entries = NULL;
    if (!n)
        return TB_OK;
    if (n > INT32_MAX)
        return TB_EINVAL;
    if (!(out->entries = amqp_pool_alloc(pool, n * sizeof *out->entries)))
        return TB_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        if ((rc = value_from_json(json_array_get(arr, i), pool, &out->entries[i], depth)) != TB_OK)
            return rc;
        out->num_entries++;
    }
    return TB_OK;
}

static tb_err value_from_json(const json_t *j, amqp_pool_t *pool, amqp_field_value_t *v,
                              int depth)
{
    json_int_t i;

    switch (json_typeof(j)) {
    case JSON_STRING:
        v->kind = AMQP_FIELD_KIND_UTF8;
        return copy_bytes(pool, json_string_value(j), json_string_length(j), &v->value.bytes);
    case JSON_TRUE:
    case JSON_FALSE:
        v->kind = AMQP_FIELD_KIND_BOOLEAN;
        v->value.boolean = json_is_true(j);
        return TB_OK;
    case JSON_INTEGER:
        /* py-amqp's choice, byte for byte: 'I' (signed 32) for |i| up to
         * 2^31 - 1, else 'L' holding the signed 64-bit value. RabbitMQ passes
         * the tag through, and py-amqp reads 'L' back as signed; rabbitmq-c
         * names that tag U64, hence the cast. */
        i = json_integer_value(j);
        if (i >= -INT32_MAX && i <= INT32_MAX) {
            v->kind = AMQP_FIELD_KIND_I32;
            v->value.i32 = (int32_t)i;
        } else {
            v->kind = AMQP_FIELD_KIND_U64;
            v->value.u64 = (uint64_t)i;
        }
        return TB_OK;
    case JSON_REAL:
        v->kind = AMQP_FIELD_KIND_F64;
        v->value.f64 = json_real_value(j);
        return TB_OK;
    case JSON_NULL:
        v->kind = AMQP_FIELD_KIND_VOID;
        return TB_OK;
    case JSON_OBJECT:
        v->kind = AMQP_FIELD_KIND_TABLE;
        return table_from_json(j, pool, &v->value.table, depth + 1);
    case JSON_ARRAY:
        v->kind = AMQP_FIELD_KIND_ARRAY;
        return array_from_json(j, pool, &v->value.array, depth + 1);
    }
    return TB_EINVAL;
}

tb_err tb__amqp_from_json(const json_t *obj, amqp_pool_t *pool, amqp_table_t *out)
{
    return table_from_json(obj, pool, out, 0);
}

/* ---- AMQP -> JSON ------------------------------------------------------- */

static json_t *value_to_json(const amqp_field_value_t *v, int depth);

/* json_stringn accepts an embedded NUL, which C-string users would then
 * silently cut short: refuse it here. NULL if not UTF-8. */
static json_t *bytes_to_string(amqp_bytes_t b)
{
    if (b.len && memchr(b.bytes, 0, b.len))
        return NULL;
    return json_stringn(b.len ? b.bytes : "", b.len);
}

static json_t *table_to_json(const amqp_table_t *t, int depth)
{
    json_t *o;

    if (depth > TB_AMQP_MAX_DEPTH || !(o = json_object()))
        return NULL;
    for (int i = 0; i < t->num_entries; i++) {
        const amqp_table_entry_t *e = &t->entries[i];
        json_t *k = bytes_to_string(e->key), *v;

        if (!k)
            continue;
        v = value_to_json(&e->value, depth);
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
    json_t *arr;

    if (depth > TB_AMQP_MAX_DEPTH || !(arr = json_array()))
        return NULL;
    for (int i = 0; i < a->num_entries; i++) {
        json_t *v = value_to_json(&a->entries[i], depth);

        if (json_array_append_new(arr, v ? v : json_null()) < 0) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}

static json_t *real_or_out(double d)
{
    return isfinite(d) ? json_real(d) : NULL;
}

static json_t *value_to_json(const amqp_field_value_t *v, int depth)
{
    char s[24];

    switch (v->kind) {
    case AMQP_FIELD_KIND_BOOLEAN: return json_boolean(v->value.boolean);
    case AMQP_FIELD_KIND_I8:      return json_integer(v->value.i8);
    case AMQP_FIELD_KIND_U8:      return json_integer(v->value.u8);
    case AMQP_FIELD_KIND_I16:     return json_integer(v->value.i16);
    case AMQP_FIELD_KIND_U16:     return json_integer(v->value.u16);
    case AMQP_FIELD_KIND_I32:     return json_integer(v->value.i32);
    case AMQP_FIELD_KIND_U32:     return json_integer(v->value.u32);
    case AMQP_FIELD_KIND_I64:     return json_integer(v->value.i64);
    case AMQP_FIELD_KIND_U64:
        /* 'L': what py-amqp (every Wazo publisher) writes for a signed
         * integer beyond 32 bits, and reads back as signed. */
        return json_integer((json_int_t)v->value.u64);
    case AMQP_FIELD_KIND_TIMESTAMP:
        if (v->value.u64 <= (uint64_t)INT64_MAX)
            return json_integer((json_int_t)v->value.u64);
        snprintf(s, sizeof s, "%llu", (unsigned long long)v->value.u64);
        return json_string(s);
    case AMQP_FIELD_KIND_F32:     return real_or_out(v->value.f32);
    case AMQP_FIELD_KIND_F64:     return real_or_out(v->value.f64);
    case AMQP_FIELD_KIND_DECIMAL:
        return real_or_out(v->value.decimal.value / pow(10.0, v->value.decimal.decimals));
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES:   return bytes_to_string(v->value.bytes);
    case AMQP_FIELD_KIND_VOID:    return json_null();
    case AMQP_FIELD_KIND_TABLE:   return table_to_json(&v->value.table, depth + 1);
    case AMQP_FIELD_KIND_ARRAY:   return array_to_json(&v->value.array, depth + 1);
    default:                      return NULL;
    }
}

json_t *tb__amqp_to_json(const amqp_table_t *t)
{
    return table_to_json(t, 0);
}
