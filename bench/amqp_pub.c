/* Publishing to the RabbitMQ exchange directly (rabbitmq-c, blocking, one
 * channel), the way a Wazo service publishes: headers typed as AMQP
 * strings/booleans, body = headers + data. Used by --publish-amqp to measure
 * what tenbusd spends consuming and delivering alone, without the HTTP API. */
#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"

static amqp_connection_state_t conn;
static amqp_bytes_t exchange;

int amqp_pub_open(const char *host, int port, const char *exch)
{
    conn = amqp_new_connection();
    amqp_socket_t *sock = amqp_tcp_socket_new(conn);
    if (!sock || amqp_socket_open(sock, host, port) != AMQP_STATUS_OK) {
        fprintf(stderr, "tenbus-bench: cannot connect to RabbitMQ at %s:%d\n", host, port);
        return -1;
    }
    amqp_rpc_reply_t r = amqp_login(conn, "/", 0, 131072, 0, AMQP_SASL_METHOD_PLAIN, "guest", "guest");
    if (r.reply_type != AMQP_RESPONSE_NORMAL || !amqp_channel_open(conn, 1)) {
        fprintf(stderr, "tenbus-bench: RabbitMQ login or channel failed\n");
        return -1;
    }
    exchange = amqp_cstring_bytes(exch);
    return 0;
}

static void set_str(amqp_table_entry_t *e, const char *k, const char *v)
{
    e->key = amqp_cstring_bytes(k);
    e->value.kind = AMQP_FIELD_KIND_UTF8;
    e->value.value.bytes = amqp_cstring_bytes(v);
}

int amqp_pub_event(const char *name, const char *tenant, const char *user, uint32_t seq, int64_t ts)
{
    char acl[160], ukey[80], body[768];
    snprintf(acl, sizeof(acl), "events.%s", name);
    snprintf(ukey, sizeof(ukey), "user_uuid:%s", user ? user : "*");
    amqp_table_entry_t h[5];
    set_str(&h[0], "name", name);
    set_str(&h[1], "origin_uuid", BENCH_STACK_UUID);
    set_str(&h[2], "tenant_uuid", tenant);
    set_str(&h[3], "required_acl", acl);
    h[4].key = amqp_cstring_bytes(ukey);
    h[4].value.kind = AMQP_FIELD_KIND_BOOLEAN;
    h[4].value.value.boolean = 1;
    int n = snprintf(body, sizeof(body),
                     "{\"name\":\"%s\",\"origin_uuid\":\"%s\",\"tenant_uuid\":\"%s\","
                     "\"required_acl\":\"%s\",\"%s\":true,\"data\":{\"tbseq\":%u,\"tbts\":%lld}}",
                     name, BENCH_STACK_UUID, tenant, acl, ukey, seq, (long long)ts);
    amqp_basic_properties_t props = {
        ._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_HEADERS_FLAG,
        .content_type = amqp_cstring_bytes("application/json"),
        .headers = {.num_entries = 5, .entries = h},
    };
    amqp_bytes_t b = {.len = (size_t)n, .bytes = body};
    return amqp_basic_publish(conn, 1, exchange, amqp_empty_bytes, 0, 0, &props, b) == AMQP_STATUS_OK ? 0 : -1;
}

void amqp_pub_close(void)
{
    if (!conn)
        return;
    amqp_channel_close(conn, 1, AMQP_REPLY_SUCCESS);
    amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
    amqp_destroy_connection(conn);
    conn = NULL;
}
