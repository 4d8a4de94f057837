#include "route/msg.h"

#include <stdlib.h>
#include <string.h>

static const char V2_PREFIX[] = "{\"op\":\"event\",\"code\":0,\"data\":";

void tbd_msg_unref(tbd_msg *m)
{
    if (!m || atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
        return;
    tbd_buf_unref(m->v1);
    tbd_buf_unref(m->v2);
    free(m);
}

/* Copies `s` (if any) to *p and advances it. */
static const char *put(char **p, const char *s)
{
    if (!s)
        return NULL;
    size_t n = strlen(s) + 1;
    char *d = memcpy(*p, s, n);
    *p += n;
    return d;
}

tbd_msg *tbd_msg_new_fields(const tbd_msg_fields *f, const char *body, size_t body_len)
{
    /* One block: the message, the user pointer array, then the strings. */
    size_t strs = 0;
    const char *const one[] = {f->name, f->required_acl, f->tenant_uuid};
    for (size_t i = 0; i < 3; i++)
        strs += one[i] ? strlen(one[i]) + 1 : 0;
    for (size_t i = 0; i < f->n_users; i++)
        strs += strlen(f->user_uuids[i]) + 1;
    size_t arr = f->n_users * sizeof(char *);
    tbd_msg *m = malloc(sizeof(*m) + arr + strs);
    if (!m)
        return NULL;
    memset(m, 0, sizeof(*m));
    atomic_init(&m->refs, 1);
    m->user_uuids = f->n_users ? (const char **)(m + 1) : NULL;
    char *p = (char *)(m + 1) + arr;
    m->name = put(&p, f->name);
    m->required_acl = put(&p, f->required_acl);
    m->tenant_uuid = put(&p, f->tenant_uuid);
    for (size_t i = 0; i < f->n_users; i++)
        m->user_uuids[i] = put(&p, f->user_uuids[i]);
    m->n_users = f->n_users;
    m->origin_ok = f->origin_ok;
    m->has_acl = f->has_acl;
    m->all_users = f->all_users;

    m->v1 = tbd_buf_text3(body, body_len, NULL, 0, NULL, 0);
    m->v2 = tbd_buf_text3(V2_PREFIX, sizeof(V2_PREFIX) - 1, body, body_len, "}", 1);
    if (!m->v1 || !m->v2) {
        tbd_msg_unref(m);
        return NULL;
    }
    return m;
}

static const char *string_of(const json_t *v)
{
    return json_is_string(v) ? json_string_value(v) : NULL;
}

tbd_msg *tbd_msg_new(const json_t *headers, const char *body, size_t body_len,
                     const json_t *body_obj, const char *stack_uuid)
{
    if (!json_is_object(headers))
        return NULL;
    tbd_msg_fields f = {0};
    f.name = string_of(json_object_get(headers, "name"));
    if (!f.name && json_is_object(body_obj))
        f.name = string_of(json_object_get(body_obj, "name"));

    const char *origin = string_of(json_object_get(headers, "origin_uuid"));
    f.origin_ok = stack_uuid && origin && strcmp(origin, stack_uuid) == 0;

    /* A required_acl of another type than string/null is treated as absent:
     * it cannot be checked, so the event must not reach any client. */
    const json_t *acl = json_object_get(headers, "required_acl");
    f.has_acl = json_is_string(acl) || json_is_null(acl);
    f.required_acl = string_of(acl);
    f.tenant_uuid = string_of(json_object_get(headers, "tenant_uuid"));

    /* The user_uuid:<x> = true headers. Only the boolean true counts
     * (DESIGN.md §1: the value is JSON true, not "true"). */
    size_t cap = 0;
    const char *key;
    json_t *val;
    json_object_foreach((json_t *)headers, key, val)
        if (strncmp(key, "user_uuid:", 10) == 0 && json_is_true(val) && strcmp(key + 10, "*") != 0)
            cap++;
    const char **users = cap ? malloc(cap * sizeof(*users)) : NULL;
    if (cap && !users)
        return NULL;
    json_object_foreach((json_t *)headers, key, val) {
        if (strncmp(key, "user_uuid:", 10) != 0 || !json_is_true(val))
            continue;
        if (strcmp(key + 10, "*") == 0)
            f.all_users = true;
        else
            users[f.n_users++] = key + 10;
    }
    f.user_uuids = users;
    tbd_msg *m = tbd_msg_new_fields(&f, body, body_len);
    free(users);
    return m;
}
