/* See event_oracle.h. */
#include "event_oracle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static json_t *str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

static json_t *value(const tb_value *v)
{
    switch (v->kind) {
    case TB_VALUE_NULL:   return json_null();
    case TB_VALUE_BOOL:   return json_boolean(v->u.b);
    case TB_VALUE_INT:    return json_integer(v->u.i);
    case TB_VALUE_REAL:   return json_real(v->u.r);
    case TB_VALUE_STRING: return json_stringn(v->u.str.s, v->u.str.len);
    case TB_VALUE_JSON:   return json_deep_copy(v->u.json);
    case TB_VALUE_RAW:    return json_loadb(v->u.str.s, v->u.str.len, JSON_DECODE_ANY, NULL);
    }
    return NULL;
}

static char *cat(const char *a, const char *b)
{
    char *s = malloc(strlen(a) + strlen(b) + 1);
    strcpy(s, a);
    strcat(s, b);
    return s;
}

static void flag(json_t *o, const char *uuid)
{
    char *k = cat("user_uuid:", uuid);
    json_object_set_new(o, k, json_true());
    free(k);
}

json_t *oracle_event_body(const tb_wire_event *ev)
{
    json_t *o = json_object();
    const char *rkey = ev->routing_key ? ev->routing_key : ev->name;
    char *access = cat("event.", ev->name), *acl = cat("events.", rkey);
    json_object_set_new(o, "name", json_string(ev->name));
    json_object_set_new(o, "origin_uuid", str_or_null(ev->origin_uuid));
    json_object_set_new(o, "timestamp", json_string(ev->timestamp));
    json_object_set_new(o, "required_access", json_string(access));
    json_object_set_new(o, "required_acl", ev->acl_set ? str_or_null(ev->required_acl)
                                                       : json_string(acl));
    free(access);
    free(acl);
    if (ev->level != TB_LEVEL_SERVICE)
        json_object_set_new(o, "tenant_uuid", json_string(ev->tenant_uuid));
    if (ev->level == TB_LEVEL_TENANT)
        flag(o, "*");
    if (ev->level == TB_LEVEL_USER)
        flag(o, ev->user_uuid);
    if (ev->level == TB_LEVEL_MULTI_USER)
        for (size_t i = 0; i < ev->n_user_uuids; i++)
            flag(o, ev->user_uuids[i]);
    for (size_t i = 0; i < ev->n_extra; i++)
        json_object_set_new(o, ev->extra[i].key, value(&ev->extra[i].value));
    json_t *data = ev->data ? value(ev->data) : json_object();
    if (!data) {
        json_decref(o);
        return NULL;
    }
    json_object_set_new(o, "data", data);
    return o;
}
