/* tbd_amqp_msg_decode (daemon/amqp_msg.c) against the jansson path it
 * replaced (amqp_oracle.h): same verdict, same routing fields, same frames.
 *
 * Input: a header table described by the first bytes, then the body.
 *   byte 0: number of entries (mod 24; 23 = no headers at all)
 *   per entry: a key byte, a kind byte, then the kind's value bytes:
 *     key % 10: 0 name, 1 origin_uuid, 2 required_acl, 3 tenant_uuid,
 *       4 user_uuid:*, 5 user_uuid:u1, 6 user_uuid:u2, 7 user_uuid: + a
 *       length byte and raw bytes, 8 a raw key (length byte + bytes),
 *       9 user_uuid: (empty)
 *     kind % 20: one of KINDS below ('?' = a kind rabbitmq-c does not know)
 *     strings: a length byte then bytes (0xFF = the stack uuid); integers,
 *     floats: 8 raw bytes (NaN and infinities included); decimal: 1 + 4
 *     bytes; boolean: 1 byte; void, table, array: none.
 *   the rest: the body. */
#include <stdbool.h>

#include "amqp_oracle.h"
#include "fuzz.h"

#define STACK "4c1ad1ee-0000-4000-8000-00000000c0de"
#define MAX_ENTRIES 23

static const char KINDS[20] = {
    AMQP_FIELD_KIND_BOOLEAN, AMQP_FIELD_KIND_I8, AMQP_FIELD_KIND_U8, AMQP_FIELD_KIND_I16,
    AMQP_FIELD_KIND_U16, AMQP_FIELD_KIND_I32, AMQP_FIELD_KIND_U32, AMQP_FIELD_KIND_I64,
    AMQP_FIELD_KIND_U64, AMQP_FIELD_KIND_F32, AMQP_FIELD_KIND_F64, AMQP_FIELD_KIND_DECIMAL,
    AMQP_FIELD_KIND_UTF8, AMQP_FIELD_KIND_TIMESTAMP, AMQP_FIELD_KIND_BYTES, AMQP_FIELD_KIND_VOID,
    AMQP_FIELD_KIND_TABLE, AMQP_FIELD_KIND_ARRAY, '?', AMQP_FIELD_KIND_UTF8,
};

static uint64_t take_u64(fuzz_in *in)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | fuzz_byte(in);
    return v;
}

/* `len` bytes of the input (fewer at its end), borrowed. */
static amqp_bytes_t take_bytes(fuzz_in *in, size_t len)
{
    amqp_bytes_t b = {.len = len < in->n ? len : in->n, .bytes = (void *)in->p};
    in->p += b.len;
    in->n -= b.len;
    return b;
}

/* A key `prefix` + the bytes of `rest`, written into `buf` (256 bytes). */
static amqp_bytes_t make_key(char *buf, const char *prefix, amqp_bytes_t rest)
{
    size_t n = strlen(prefix);
    memcpy(buf, prefix, n);
    if (rest.len)
        memcpy(buf + n, rest.bytes, rest.len);
    return (amqp_bytes_t){.len = n + rest.len, .bytes = buf};
}

static void take_entry(fuzz_in *in, amqp_table_entry_t *e, char *keybuf)
{
    static const char *const fixed[] = {"name", "origin_uuid", "required_acl", "tenant_uuid",
                                        "user_uuid:*", "user_uuid:u1", "user_uuid:u2"};
    uint8_t k = fuzz_byte(in) % 10;
    amqp_bytes_t none = {0};
    if (k < 7)
        e->key = make_key(keybuf, fixed[k], none);
    else if (k == 7)
        e->key = make_key(keybuf, "user_uuid:", take_bytes(in, fuzz_byte(in) % 64));
    else if (k == 8)
        e->key = make_key(keybuf, "", take_bytes(in, fuzz_byte(in) % 64));
    else
        e->key = make_key(keybuf, "user_uuid:", none);

    amqp_field_value_t *v = &e->value;
    memset(v, 0, sizeof(*v));
    v->kind = (uint8_t)KINDS[fuzz_byte(in) % 20];
    switch (v->kind) {
    case AMQP_FIELD_KIND_BOOLEAN:
        v->value.boolean = fuzz_byte(in) & 1;
        break;
    case AMQP_FIELD_KIND_I8: case AMQP_FIELD_KIND_U8: case AMQP_FIELD_KIND_I16:
    case AMQP_FIELD_KIND_U16: case AMQP_FIELD_KIND_I32: case AMQP_FIELD_KIND_U32:
    case AMQP_FIELD_KIND_I64: case AMQP_FIELD_KIND_U64: case AMQP_FIELD_KIND_TIMESTAMP:
    case AMQP_FIELD_KIND_F64: {
        uint64_t u = take_u64(in);
        memcpy(&v->value.u64, &u, sizeof(u));   /* the union's widest member */
        break;
    }
    case AMQP_FIELD_KIND_F32: {
        uint32_t u = (uint32_t)take_u64(in);
        memcpy(&v->value.f32, &u, sizeof(u));
        break;
    }
    case AMQP_FIELD_KIND_DECIMAL:
        v->value.decimal.decimals = fuzz_byte(in);
        v->value.decimal.value = (uint32_t)take_u64(in);
        break;
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES: {
        uint8_t n = fuzz_byte(in);
        v->value.bytes = n == 0xFF ? amqp_cstring_bytes(STACK) : take_bytes(in, n);
        break;
    }
    default:
        break;   /* void, empty table/array, unknown kind: no payload */
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static tbd_json_scanner *scan;
    if (!scan && !(scan = tbd_json_scanner_new()))
        abort();
    fuzz_in in = {data, size};
    uint8_t n = fuzz_byte(&in) % (MAX_ENTRIES + 1);
    bool no_headers = n == MAX_ENTRIES;
    if (no_headers)
        n = 0;
    amqp_table_entry_t e[MAX_ENTRIES];
    char keys[MAX_ENTRIES][256];
    for (uint8_t i = 0; i < n; i++)
        take_entry(&in, &e[i], keys[i]);
    amqp_table_t t = {.num_entries = n, .entries = e};
    const char *body = in.n ? (const char *)in.p : "";

    const char *diff = oracle_compare(scan, no_headers ? NULL : &t, body, in.n, STACK, NULL);
    if (diff)
        fprintf(stderr, "amqp_msg: decoders differ: %s\n", diff);
    FUZZ_CHECK(!diff);
    return 0;
}
