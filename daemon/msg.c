#include "msg.h"

#include <stdlib.h>
#include <string.h>

static const char V2_PREFIX[] = "{\"op\":\"event\",\"code\":0,\"data\":";

void tbd_msg_unref(tbd_msg *m)
{
    if (!m || atomic_fetch_sub_explicit(&m->refs, 1, memory_order_acq_rel) != 1)
        return;
    free(m->name);
    free(m->required_acl);
    free(m->tenant_uuid);
    for (size_t i = 0; i < m->n_users; i++)
        free(m->user_uuids[i]);
    free(m->user_uuids);
    tbd_buf_unref(m->v1);
    tbd_buf_unref(m->v2);
    free(m);
}

static char *dup_string(const json_t *v)
{
    return json_is_string(v) ? strdup(json_string_value(v)) : NULL;
}

/* Collects the user_uuid:<x> = true headers. Only the boolean true counts
 * (DESIGN.md §1: the value is JSON true, not "true"). */
static int collect_users(tbd_msg *m, const json_t *headers)
{
    const char *key;
    json_t *val;
    size_t cap = 0;
    json_object_foreach((json_t *)headers, key, val) {
        if (strncmp(key, "user_uuid:", 10) != 0 || !json_is_true(val))
            continue;
        const char *u = key + 10;
        if (strcmp(u, "*") == 0) {
            m->all_users = true;
            continue;
        }
        if (m->n_users == cap) {
            size_t ncap = cap ? cap * 2 : 4;
            char **n = realloc(m->user_uuids, ncap * sizeof(*n));
            if (!n)
                return -1;
            m->user_uuids = n;
            cap = ncap;
        }
        if (!(m->user_uuids[m->n_users] = strdup(u)))
            return -1;
        m->n_users++;
    }
    return 0;
}

tbd_msg *tbd_msg_new(const json_t *headers, const char *body, size_t body_len,
                     const json_t *body_obj, const char *stack_uuid)
{
    if (!json_is_object(headers))
        return NULL;
    tbd_msg *m = calloc(1, sizeof(*m));
    if (!m)
        return NULL;
    atomic_init(&m->refs, 1);

    m->name = dup_string(json_object_get(headers, "name"));
    if (!m->name && json_is_object(body_obj))
        m->name = dup_string(json_object_get(body_obj, "name"));

    const json_t *origin = json_object_get(headers, "origin_uuid");
    m->origin_ok = stack_uuid && json_is_string(origin) &&
                   strcmp(json_string_value(origin), stack_uuid) == 0;

    /* A required_acl of another type than string/null is treated as absent:
     * it cannot be checked, so the event must not reach any client. */
    const json_t *acl = json_object_get(headers, "required_acl");
    if (json_is_string(acl)) {
        m->has_acl = true;
        if (!(m->required_acl = strdup(json_string_value(acl))))
            goto fail;
    } else if (json_is_null(acl)) {
        m->has_acl = true;
    }

    const json_t *tenant = json_object_get(headers, "tenant_uuid");
    if (json_is_string(tenant) && !(m->tenant_uuid = strdup(json_string_value(tenant))))
        goto fail;
    if (collect_users(m, headers) < 0)
        goto fail;

    m->v1 = tbd_buf_text3(body, body_len, NULL, 0, NULL, 0);
    m->v2 = tbd_buf_text3(V2_PREFIX, sizeof(V2_PREFIX) - 1, body, body_len, "}", 1);
    if (!m->v1 || !m->v2)
        goto fail;
    return m;
fail:
    tbd_msg_unref(m);
    return NULL;
}
