/* tbd_msg_new (daemon/route/msg.c): an event as the bus hands it over. Input: the
 * headers as JSON, then (after the first newline) the body text, which may
 * or may not be JSON. Checks the routing fields against the headers and the
 * two frames against the body. */
#include <stdbool.h>

#include "fuzz.h"
#include "route/msg.h"
#include "ws_frame.h"

#define STACK "4c1ad1ee-0000-4000-8000-00000000c0de"

/* Payload of one of our server frames (unmasked, FIN, text). */
static const uint8_t *frame_payload(const tbd_buf *b, size_t *len)
{
    FUZZ_CHECK(b->len >= 2);
    FUZZ_CHECK(b->data[0] == (0x80 | TB_WS_OP_TEXT));
    FUZZ_CHECK(!(b->data[1] & 0x80));
    uint64_t n = b->data[1] & 0x7F;
    size_t h = 2;
    if (n == 126) {
        n = (uint64_t)b->data[2] << 8 | b->data[3];
        h = 4;
    } else if (n == 127) {
        n = 0;
        for (int i = 0; i < 8; i++)
            n = n << 8 | b->data[2 + i];
        h = 10;
    }
    FUZZ_CHECK(h == tb__ws_header_size(n, false));
    FUZZ_CHECK(h + n == b->len);
    *len = (size_t)n;
    return b->data + h;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const uint8_t *nl = memchr(data, '\n', size);
    size_t hlen = nl ? (size_t)(nl - data) : size;
    const char *body = nl ? (const char *)nl + 1 : "";
    size_t blen = nl ? size - hlen - 1 : 0;
    json_t *headers = json_loadb((const char *)data, hlen, JSON_DECODE_ANY, NULL);
    json_t *body_obj = json_loadb(body, blen, JSON_DECODE_ANY, NULL);

    tbd_msg *m = tbd_msg_new(headers, body, blen, body_obj, STACK);
    if (!json_is_object(headers)) {
        FUZZ_CHECK(!m);
        goto out;
    }
    FUZZ_CHECK(m);

    const json_t *name = json_object_get(headers, "name");
    if (json_is_string(name))
        FUZZ_CHECK(m->name && strcmp(m->name, json_string_value(name)) == 0);
    else if (!json_is_string(json_object_get(body_obj, "name")))
        FUZZ_CHECK(!m->name);
    const json_t *origin = json_object_get(headers, "origin_uuid");
    FUZZ_CHECK(m->origin_ok == (json_is_string(origin) && strcmp(json_string_value(origin), STACK) == 0));
    const json_t *acl = json_object_get(headers, "required_acl");
    FUZZ_CHECK(m->has_acl == (json_is_string(acl) || json_is_null(acl)));
    FUZZ_CHECK((m->required_acl != NULL) == json_is_string(acl));
    const json_t *tenant = json_object_get(headers, "tenant_uuid");
    FUZZ_CHECK((m->tenant_uuid != NULL) == json_is_string(tenant));
    FUZZ_CHECK(m->all_users == json_is_true(json_object_get(headers, "user_uuid:*")));
    size_t want_users = 0;
    const char *k;
    json_t *v;
    json_object_foreach(headers, k, v)
        if (strncmp(k, "user_uuid:", 10) == 0 && strcmp(k, "user_uuid:*") != 0 && json_is_true(v))
            want_users++;
    FUZZ_CHECK(m->n_users == want_users);
    for (size_t i = 0; i < m->n_users; i++) {
        char key[4096];
        if (strlen(m->user_uuids[i]) + 11 > sizeof key)
            continue;
        snprintf(key, sizeof key, "user_uuid:%s", m->user_uuids[i]);
        FUZZ_CHECK(json_is_true(json_object_get(headers, key)));
    }

    size_t n1, n2;
    const uint8_t *p1 = frame_payload(m->v1, &n1), *p2 = frame_payload(m->v2, &n2);
    static const char pre[] = "{\"op\":\"event\",\"code\":0,\"data\":";
    FUZZ_CHECK(n1 == blen && memcmp(p1, body, blen) == 0);
    FUZZ_CHECK(n2 == sizeof pre - 1 + blen + 1);
    FUZZ_CHECK(memcmp(p2, pre, sizeof pre - 1) == 0);
    FUZZ_CHECK(memcmp(p2 + sizeof pre - 1, body, blen) == 0 && p2[n2 - 1] == '}');
    tbd_msg_unref(tbd_msg_ref(m));
    tbd_msg_unref(m);
out:
    json_decref(headers);
    json_decref(body_obj);
    return 0;
}
