/* The AMQP sink of the wire codec, and the one AMQP table <-> JSON mapping
 * of libtenbus (see tenbus/wire_amqp.h). The writing side decides whether a
 * Wazo consumer's binding matches at all: RabbitMQ's headers exchange
 * compares types as well as values, so `true` must be a boolean, a string a
 * long string, and an integer must have the width py-amqp gives it. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "tenbus/wire_amqp.h"

/* py-amqp's choice, byte for byte (amqp/serialization.py): 'I' (signed 32)
 * for |i| up to 2^31 - 1, else 'L' holding the signed 64-bit value.
 * RabbitMQ passes the tag through and py-amqp reads 'L' back as signed;
 * rabbitmq-c names that tag U64, hence the cast. */
static void set_int(amqp_field_value_t *f, int64_t i)
{
    if (i >= -INT32_MAX && i <= INT32_MAX) {
        f->kind = AMQP_FIELD_KIND_I32;
        f->value.i32 = (int32_t)i;
    } else {
        f->kind = AMQP_FIELD_KIND_U64;
        f->value.u64 = (uint64_t)i;
    }
}

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

static tb_err value_from_json(const json_t *j, amqp_pool_t *pool, amqp_field_value_t *v, int depth);

static tb_err table_from_json(const json_t *obj, amqp_pool_t *pool, amqp_table_t *out, int depth)
{
    if (!json_is_object(obj) || depth > TB_AMQP_MAX_DEPTH)
        return TB_EINVAL;
    size_t n = json_object_size(obj);
    out->num_entries = 0;
    out->entries = NULL;
    if (!n)
        return TB_OK;
    if (n > INT32_MAX)
        return TB_EINVAL;
    if (!(out->entries = amqp_pool_alloc(pool, n * sizeof(*out->entries))))
        return TB_ENOMEM;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)obj, key, val) {
        amqp_table_entry_t *e = &out->entries[out->num_entries];
        size_t klen = strlen(key);
        tb_err rc;
        if (klen > 255)
            return TB_EINVAL;
        if ((rc = copy_bytes(pool, key, klen, &e->key)) != TB_OK ||
            (rc = value_from_json(val, pool, &e->value, depth)) != TB_OK)
            return rc;
        out->num_entries++;
    }
    return TB_OK;
}

static tb_err array_from_json(const json_t *arr, amqp_pool_t *pool, amqp_array_t *out, int depth)
{
    if (depth > TB_AMQP_MAX_DEPTH)
        return TB_EINVAL;
    size_t n = json_array_size(arr);
    out->num_entries = 0;
    out->entries = NULL;
    if (!n)
        return TB_OK;
    if (n > INT32_MAX)
        return TB_EINVAL;
    if (!(out->entries = amqp_pool_alloc(pool, n * sizeof(*out->entries))))
        return TB_ENOMEM;
    for (size_t i = 0; i < n; i++) {
        tb_err rc = value_from_json(json_array_get(arr, i), pool, &out->entries[i], depth);
        if (rc != TB_OK)
            return rc;
        out->num_entries++;
    }
    return TB_OK;
}

static tb_err value_from_json(const json_t *j, amqp_pool_t *pool, amqp_field_value_t *v, int depth)
{
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
        set_int(v, json_integer_value(j));
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

tb_err tb_amqp_table_from_json(const json_t *obj, amqp_pool_t *pool, amqp_table_t *out)
{
    if (!pool || !out)
        return TB_EINVAL;
    return table_from_json(obj, pool, out, 0);
}

/* ---- AMQP -> JSON ---- */

static json_t *value_to_json(const amqp_field_value_t *v, int depth);

/* A copy of `b` if it is valid UTF-8 without NUL, else NULL. json_stringn
 * would accept an embedded NUL, which C-string users would then silently
 * cut short. */
static json_t *bytes_to_string(amqp_bytes_t b)
{
    if (b.len && memchr(b.bytes, 0, b.len))
        return NULL;
    return json_stringn(b.len ? b.bytes : "", b.len);  /* NULL if not UTF-8 */
}

static json_t *table_to_json(const amqp_table_t *t, int depth)
{
    if (depth > TB_AMQP_MAX_DEPTH)
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
    if (depth > TB_AMQP_MAX_DEPTH)
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
        /* 'L': what py-amqp (every Wazo publisher, and set_int above)
         * writes for an integer beyond 32 bits, and reads back as signed. */
        return json_integer((json_int_t)v->value.u64);
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

json_t *tb_amqp_table_to_json(const amqp_table_t *t)
{
    return t ? table_to_json(t, 0) : NULL;
}

/* ---- the sink ---- */

typedef struct amqp_sink {
    amqp_pool_t *pool;
    amqp_table_entry_t *e;    /* `cap` entries from the pool */
    int n, cap;
    tb_wire_text *body;
} amqp_sink;

static tb_err sink_header(void *ctx, const char *key, size_t key_len, const tb_value *v)
{
    amqp_sink *s = ctx;
    tb_err rc = tb_wire_text_sink.header(s->body, key, key_len, v);
    if (rc != TB_OK)
        return rc;
    if (key_len > 255 || s->n == s->cap)
        return TB_EINVAL;
    amqp_table_entry_t *e = &s->e[s->n];
    if ((rc = copy_bytes(s->pool, key, key_len, &e->key)) != TB_OK)
        return rc;
    amqp_field_value_t *f = &e->value;
    switch (v->kind) {
    case TB_VALUE_NULL:
        f->kind = AMQP_FIELD_KIND_VOID;
        break;
    case TB_VALUE_BOOL:
        f->kind = AMQP_FIELD_KIND_BOOLEAN;
        f->value.boolean = v->u.b;
        break;
    case TB_VALUE_INT:
        set_int(f, v->u.i);
        break;
    case TB_VALUE_REAL:
        f->kind = AMQP_FIELD_KIND_F64;
        f->value.f64 = v->u.r;
        break;
    case TB_VALUE_STRING:
        f->kind = AMQP_FIELD_KIND_UTF8;
        rc = copy_bytes(s->pool, v->u.str.s, v->u.str.len, &f->value.bytes);
        break;
    case TB_VALUE_JSON:
        rc = value_from_json(v->u.json, s->pool, f, 0);
        break;
    case TB_VALUE_RAW:
        rc = TB_EINVAL;   /* tb_wire_check refuses RAW headers */
        break;
    }
    if (rc == TB_OK)
        s->n++;
    return rc;
}

static tb_err sink_data(void *ctx, const tb_value *v)
{
    amqp_sink *s = ctx;
    return tb_wire_text_sink.data(s->body, v);
}

static const tb_wire_sink amqp_wire_sink = {.header = sink_header, .data = sink_data};

tb_err tb_wire_amqp(const tb_wire_event *ev, amqp_pool_t *pool, amqp_table_t *headers,
                    tb_wire_text *body)
{
    if (!ev || !pool || !headers || !body)
        return TB_EINVAL;
    /* At most: the generated headers (tb_wire_hdr's TB_HDR_NAME ..
     * TB_HDR_TENANT_UUID), one user flag (or one per user), the extras. */
    size_t most = TB_HDR_TENANT_UUID + 1 + (ev->level == TB_LEVEL_MULTI_USER ? ev->n_user_uuids : 0) + ev->n_extra;
    if (most > INT32_MAX)
        return TB_EINVAL;
    amqp_sink s = {.pool = pool, .cap = (int)most, .body = body};
    if (!(s.e = amqp_pool_alloc(pool, most * sizeof(*s.e))))
        return TB_ENOMEM;
    tb_wire_text_reset(body);
    tb_err rc = tb_wire_encode(ev, &amqp_wire_sink, &s);
    if (rc != TB_OK)
        return rc;
    headers->num_entries = s.n;
    headers->entries = s.e;
    return TB_OK;
}
