/* The AMQP sink of the wire codec (see tenbus/wire_amqp.h). */
#include <stdint.h>
#include <string.h>

#include "tenbus/wire_amqp.h"

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
        v->kind = AMQP_FIELD_KIND_I64;
        v->value.i64 = json_integer_value(j);
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
        f->kind = AMQP_FIELD_KIND_I64;
        f->value.i64 = v->u.i;
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
    /* At most: name, origin_uuid, timestamp, required_access, required_acl,
     * tenant_uuid, one flag (or one per user), the extra headers. */
    size_t most = 7 + (ev->level == TB_LEVEL_MULTI_USER ? ev->n_user_uuids : 0) + ev->n_extra;
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
