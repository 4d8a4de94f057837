/* The RabbitMQ bus (DESIGN.md §5): AMQP 0-9-1 to a headers exchange
 * (default `wazo-headers`), one exclusive auto-delete queue per node, bound
 * by what the node's sessions subscribed to.
 *
 * Threads. One thread owns the only AMQP connection (rabbitmq-c connections
 * are not thread-safe) and does all broker I/O: it consumes, publishes what
 * workers queued, and keeps the bindings in line with the node's subscriptions (host->sub_names).
 * Workers never touch the connection: publish() encodes (the wire codec's
 * AMQP sink) and queues (bounded; it takes none when down, fewer when full), subscribe()/unsubscribe() only flag the bindings
 * dirty; both wake the thread through a pipe it polls with the socket.
 * One connection rather than a publisher + consumer pair: a gateway node
 * mostly consumes (Wazo services publish to RabbitMQ themselves; only the
 * HTTP API publishes through us), and one connection keeps a single
 * reconnect state and a single notion of "connected". The cost: if the
 * broker blocks publishers (memory/disk alarm), a publish stuck in send()
 * stalls consumption on this node too.
 *
 * Consuming is no-ack: the queue is exclusive and auto-delete, so on a
 * connection loss it is gone with its unacked messages anyway, and the
 * sessions are closed (clients re-sync); acks would buy nothing but upstream
 * traffic. basic.qos does not apply to no-ack consumers; TCP flow control
 * bounds what the broker pushes.
 *
 * Bindings are reconciled, not replayed: the thread keeps the set it has
 * bound and, when flagged dirty (or after a reconnect), diffs it against a
 * snapshot of the node's subscriptions. That makes a subscribe racing an unsubscribe
 * of the same name harmless, and makes re-binding after a reconnect the same
 * code path. Name N binds {x-match: all, name: N, origin_uuid: U}; "*" binds
 * {x-match: all, origin_uuid: U}. A message matching several bindings is
 * still delivered once to the queue. */
#define _GNU_SOURCE            /* pipe2 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <uthash.h>
#include <uv.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <tenbus/wire_amqp.h>

#include "route/amqp_msg.h"
#include "bus/bus.h"
#include "core/log.h"

#define CHANNEL 1
#define PUB_QUEUE_MAX 10000       /* queued publishes before publish() takes no more */
#define CONSUME_BURST 256         /* deliveries per loop turn before publishing again */
#define POLL_MS 1000              /* also the heartbeat bookkeeping granularity */
#define HEARTBEAT_S 30
#define FRAME_MAX 131072
#define CONNECT_TIMEOUT_S 5
#define RPC_TIMEOUT_S 10
#define BACKOFF_MAX_S 32

typedef struct pub_item {
    struct pub_item *next;
    amqp_pool_t pool;             /* holds the headers table */
    amqp_table_t headers;
    char *body;
    size_t body_len;
    char *routing_key;
} pub_item;

typedef struct bound {
    char *name;
    UT_hash_handle hh;
} bound;

typedef struct bus_rmq {
    tbd_bus base;
    tbd_bus_host host;
    const tbd_config *cfg;
    uv_thread_t thread;
    int wake_rd, wake_wr;         /* self-pipe: publish, (un)subscribe, stop */
    atomic_bool stop;
    atomic_bool up;               /* connected(): consuming and bound */
    atomic_bool bind_dirty;
    atomic_int state;             /* tbd_bus_state, for sessions arriving meanwhile */

    uv_mutex_t lock;              /* guards the publish queue */
    pub_item *q_head, **q_tail;
    size_t q_len;

    /* thread-owned */
    amqp_connection_state_t conn;
    char *queue;                  /* server-named queue of this connection */
    tbd_json_scanner *scan;       /* parse memory for the bodies consumed */
    tbd_msg *pend[CONSUME_BURST]; /* consumed, not yet handed to the workers */
    size_t n_pend;
    uint64_t last_handoff;        /* uv_hrtime() of the last hand-off */
    bound *bound;                 /* names bound on `queue` */
    unsigned long dropped;        /* undeliverable messages, for the log */
} bus_rmq;

static void wake(bus_rmq *r)
{
    char c = 1;
    /* A full pipe already guarantees a wake-up. */
    ssize_t n = write(r->wake_wr, &c, 1);
    (void)n;
}

static void drain_wake(bus_rmq *r)
{
    char buf[64];
    while (read(r->wake_rd, buf, sizeof(buf)) > 0)
        ;
}

static void pub_free(pub_item *p)
{
    empty_amqp_pool(&p->pool);
    free(p->body);
    free(p->routing_key);
    free(p);
}

/* ---- worker side ---- */

/* One publication as the AMQP thread sends it. The encoding runs here, on
 * the worker, so the AMQP thread only writes; the pool owns every byte of
 * the table. NULL on ENOMEM (or a refused event). */
static pub_item *pub_encode(const tbd_pub *pub)
{
    pub_item *p = calloc(1, sizeof(*p));
    if (!p)
        return NULL;
    init_amqp_pool(&p->pool, 4096);
    bool ok;
    if (pub->ev) {
        tb_wire_text body = {0};
        ok = tb_wire_amqp(pub->ev, &p->pool, &p->headers, &body) == TB_OK &&
             (p->routing_key = strdup(tb_wire_routing_key(pub->ev)));
        p->body = body.p;
        p->body_len = body.len;
    } else {
        p->body = json_dumps(pub->raw_body, JSON_COMPACT);
        p->body_len = p->body ? strlen(p->body) : 0;
        ok = p->body && (p->routing_key = strdup(pub->raw_routing_key ? pub->raw_routing_key : "")) &&
             tb_amqp_table_from_json(pub->raw_headers, &p->pool, &p->headers) == TB_OK;
    }
    if (!ok) {
        pub_free(p);
        return NULL;
    }
    return p;
}

/* Encodes p[0..n) and queues them for the AMQP thread, at most
 * PUB_QUEUE_MAX pending in all. */
static size_t publish(tbd_bus *b, const tbd_pub *pubs, size_t n)
{
    bus_rmq *r = (bus_rmq *)b;
    if (!atomic_load(&r->up) || n == 0)
        return 0;
    pub_item *head = NULL, **tail = &head;
    size_t k = 0;
    for (; k < n; k++) {
        pub_item *p = pub_encode(&pubs[k]);
        if (!p)
            break;
        *tail = p;
        tail = &p->next;
    }
    uv_mutex_lock(&r->lock);
    size_t room = r->q_len < PUB_QUEUE_MAX ? PUB_QUEUE_MAX - r->q_len : 0;
    size_t take = k < room ? k : room;
    pub_item *rest = head, **end = &head;
    for (size_t i = 0; i < take; i++) {
        end = &rest->next;
        rest = rest->next;
    }
    if (take) {
        *r->q_tail = head;
        r->q_tail = end;
        *end = NULL;
        r->q_len += take;
    }
    uv_mutex_unlock(&r->lock);
    while (rest) {
        pub_item *next = rest->next;
        pub_free(rest);
        rest = next;
    }
    if (take)
        wake(r);
    return take;
}

static void binding_changed(tbd_bus *b, const char *name)
{
    bus_rmq *r = (bus_rmq *)b;
    atomic_store(&r->bind_dirty, true);
    wake(r);
}

static bool connected(tbd_bus *b)
{
    return atomic_load(&((bus_rmq *)b)->up);
}

static tbd_bus_state bus_state(tbd_bus *b)
{
    return (tbd_bus_state)atomic_load(&((bus_rmq *)b)->state);
}

/* ---- connection state and binding confirmations (AMQP thread) ----
 * Sessions wait on these (session.c): a new one while an attempt is in
 * progress, a subscriber until its name's binding is confirmed. */

/* Publishes the outcome of an attempt (or a loss) and wakes the waiters. */
static void set_state(bus_rmq *r, tbd_bus_state st)
{
    if (atomic_exchange(&r->state, (int)st) != (int)st && st != TBD_BUS_CONNECTING)
        r->host.state_changed(r->host.ctx);
}

/* Every name of `set` is bound: queue.bind answered bind-ok for it on this
 * connection (synchronous RPCs), now or in an earlier pass. */
static void confirm_bound(bus_rmq *r, struct bound *set)
{
    size_t n = HASH_COUNT(set), i = 0;
    if (!n)
        return;
    const char **names = malloc(n * sizeof(*names));
    if (!names) {
        /* The waiters stay; the next pass confirms again. */
        tbd_log_error("rabbitmq: out of memory confirming bindings");
        atomic_store(&r->bind_dirty, true);
        return;
    }
    for (struct bound *e = set; e; e = e->hh.next)
        names[i++] = e->name;
    r->host.bound(r->host.ctx, names, n);
    free(names);
}

/* ---- AMQP thread ---- */

static const char *reply_text(amqp_rpc_reply_t rep, char *buf, size_t len)
{
    switch (rep.reply_type) {
    case AMQP_RESPONSE_NORMAL:
        return "ok";
    case AMQP_RESPONSE_NONE:
        return "missing reply";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
        return amqp_error_string2(rep.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
        if (rep.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
            amqp_connection_close_t *m = rep.reply.decoded;
            snprintf(buf, len, "connection closed by broker: %u %.*s", m->reply_code,
                     (int)m->reply_text.len, (char *)m->reply_text.bytes);
        } else if (rep.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
            amqp_channel_close_t *m = rep.reply.decoded;
            snprintf(buf, len, "channel closed by broker: %u %.*s", m->reply_code,
                     (int)m->reply_text.len, (char *)m->reply_text.bytes);
        } else {
            snprintf(buf, len, "broker error method=0x%08x", rep.reply.id);
        }
        return buf;
    }
    return "unknown";
}

/* 0 if the last synchronous call succeeded; else logs `what` and -1. */
static int check_rpc(bus_rmq *r, const char *what)
{
    amqp_rpc_reply_t rep = amqp_get_rpc_reply(r->conn);
    if (rep.reply_type == AMQP_RESPONSE_NORMAL)
        return 0;
    char buf[256];
    tbd_log_warn("rabbitmq %s failed host=%s port=%u: %s", what, r->cfg->bus_host, r->cfg->bus_port,
             reply_text(rep, buf, sizeof(buf)));
    return -1;
}

static void bound_clear(bus_rmq *r)
{
    bound *e, *t;
    HASH_ITER(hh, r->bound, e, t) {
        HASH_DEL(r->bound, e);
        free(e->name);
        free(e);
    }
}

/* Drops the connection without the closing handshake (it is broken, or we
 * are giving up on it). */
static void conn_drop(bus_rmq *r)
{
    if (r->conn) {
        amqp_destroy_connection(r->conn);
        r->conn = NULL;
    }
    free(r->queue);
    r->queue = NULL;
    bound_clear(r);
}

static amqp_bytes_t cstr(const char *s)
{
    return amqp_cstring_bytes(s ? s : "");
}

static int bind_args(bus_rmq *r, const char *name, amqp_table_entry_t e[3], amqp_table_t *args)
{
    int n = 0;
    e[n].key = amqp_cstring_bytes("x-match");
    e[n].value.kind = AMQP_FIELD_KIND_UTF8;
    e[n++].value.value.bytes = amqp_cstring_bytes("all");
    if (strcmp(name, "*") != 0) {
        e[n].key = amqp_cstring_bytes("name");
        e[n].value.kind = AMQP_FIELD_KIND_UTF8;
        e[n++].value.value.bytes = amqp_cstring_bytes(name);
    }
    /* Without a stack uuid nothing is deliverable (msg.c), so binding on
     * origin_uuid would not matter; bind without it rather than on "". */
    if (r->cfg->uuid) {
        e[n].key = amqp_cstring_bytes("origin_uuid");
        e[n].value.kind = AMQP_FIELD_KIND_UTF8;
        e[n++].value.value.bytes = amqp_cstring_bytes(r->cfg->uuid);
    }
    args->num_entries = n;
    args->entries = e;
    return n;
}

static int do_bind(bus_rmq *r, const char *name, bool bind)
{
    amqp_table_entry_t e[3];
    amqp_table_t args;
    bind_args(r, name, e, &args);
    if (bind)
        amqp_queue_bind(r->conn, CHANNEL, cstr(r->queue), cstr(r->cfg->bus_exchange_name),
                        amqp_empty_bytes, args);
    else
        amqp_queue_unbind(r->conn, CHANNEL, cstr(r->queue), cstr(r->cfg->bus_exchange_name),
                          amqp_empty_bytes, args);
    if (check_rpc(r, bind ? "queue.bind" : "queue.unbind") < 0)
        return -1;
    tbd_log_debug("rabbitmq %s name=%s queue=%s", bind ? "bound" : "unbound", name, r->queue);
    return 0;
}

/* Makes the bound set equal to the names the node subscribes to now.
 * -1 on a broker error (the connection must then be dropped). */
static int reconcile(bus_rmq *r)
{
    size_t n = 0;
    char **want = r->host.sub_names(r->host.ctx, &n);
    int rc = -1;
    if (!want) {
        /* Retry on the next turn rather than unbinding what we could not list. */
        tbd_log_error("rabbitmq: out of memory listing subscriptions");
        atomic_store(&r->bind_dirty, true);
        return 0;
    }
    bound *keep = NULL, *e, *t;
    for (size_t i = 0; i < n; i++) {
        HASH_FIND_STR(r->bound, want[i], e);
        if (e) {
            HASH_DEL(r->bound, e);
        } else {
            if (!(e = calloc(1, sizeof(*e))))
                goto fail_merge;
            e->name = want[i];
            want[i] = NULL;
            if (do_bind(r, e->name, true) < 0) {
                free(e->name);
                free(e);
                goto fail_merge;
            }
        }
        HASH_ADD_KEYPTR(hh, keep, e->name, strlen(e->name), e);
    }
    /* What is left in r->bound nobody subscribes to any more. */
    HASH_ITER(hh, r->bound, e, t) {
        if (do_bind(r, e->name, false) < 0)
            goto fail_merge;
        HASH_DEL(r->bound, e);
        free(e->name);
        free(e);
    }
    r->bound = keep;
    confirm_bound(r, keep);
    rc = 0;
    goto out;
fail_merge:
    /* The connection is dropped next, and the bound set with it. */
    HASH_ITER(hh, keep, e, t) {
        HASH_DEL(keep, e);
        free(e->name);
        free(e);
    }
out:
    for (size_t i = 0; i < n; i++)
        free(want[i]);
    free(want);
    return rc;
}

static int conn_open(bus_rmq *r)
{
    const tbd_config *cfg = r->cfg;
    if (!(r->conn = amqp_new_connection()))
        return -1;
    amqp_socket_t *sock = amqp_tcp_socket_new(r->conn);
    if (!sock)
        return -1;
    struct timeval cto = {CONNECT_TIMEOUT_S, 0}, rto = {RPC_TIMEOUT_S, 0};
    int st = amqp_socket_open_noblock(sock, cfg->bus_host, cfg->bus_port, &cto);
    if (st != AMQP_STATUS_OK) {
        tbd_log_warn("rabbitmq connect failed host=%s port=%u: %s", cfg->bus_host, cfg->bus_port,
                 amqp_error_string2(st));
        return -1;
    }
    amqp_set_rpc_timeout(r->conn, &rto);
    amqp_rpc_reply_t rep = amqp_login(r->conn, cfg->bus_vhost, 0, FRAME_MAX, HEARTBEAT_S,
                                      AMQP_SASL_METHOD_PLAIN, cfg->bus_username, cfg->bus_password);
    if (rep.reply_type != AMQP_RESPONSE_NORMAL) {
        char buf[256];
        tbd_log_warn("rabbitmq login failed host=%s port=%u vhost=%s user=%s: %s", cfg->bus_host,
                 cfg->bus_port, cfg->bus_vhost, cfg->bus_username, reply_text(rep, buf, sizeof(buf)));
        return -1;
    }
    amqp_channel_open(r->conn, CHANNEL);
    if (check_rpc(r, "channel.open") < 0)
        return -1;
    amqp_exchange_declare(r->conn, CHANNEL, cstr(cfg->bus_exchange_name), cstr(cfg->bus_exchange_type),
                          0, 1, 0, 0, amqp_empty_table);
    if (check_rpc(r, "exchange.declare") < 0)
        return -1;
    amqp_queue_declare_ok_t *q = amqp_queue_declare(r->conn, CHANNEL, amqp_empty_bytes, 0, 0, 1, 1,
                                                    amqp_empty_table);
    if (check_rpc(r, "queue.declare") < 0 || !q)
        return -1;
    if (!(r->queue = strndup(q->queue.bytes, q->queue.len)))
        return -1;
    amqp_basic_consume(r->conn, CHANNEL, q->queue, amqp_empty_bytes, 0, 1, 1, amqp_empty_table);
    if (check_rpc(r, "basic.consume") < 0)
        return -1;
    if (reconcile(r) < 0)
        return -1;
    return 0;
}

/* Empties the publish queue under the lock; returns its items in order. */
static pub_item *take_queued(bus_rmq *r)
{
    uv_mutex_lock(&r->lock);
    pub_item *p = r->q_head;
    r->q_head = NULL;
    r->q_tail = &r->q_head;
    r->q_len = 0;
    uv_mutex_unlock(&r->lock);
    return p;
}

static int send_queued(bus_rmq *r)
{
    pub_item *p = take_queued(r);
    int rc = 0;
    while (p) {
        pub_item *next = p->next;
        if (rc == 0) {
            amqp_basic_properties_t props = {
                ._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_CONTENT_ENCODING_FLAG |
                          AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_HEADERS_FLAG,
                .content_type = amqp_cstring_bytes("application/json"),
                .content_encoding = amqp_cstring_bytes("utf-8"),
                /* Persistent, as wazo-bus (kombu's default): durable queues
                 * other services bind to the exchange keep the event across
                 * a broker restart. Our own queue is transient anyway. */
                .delivery_mode = AMQP_DELIVERY_PERSISTENT,
                .headers = p->headers,
            };
            amqp_bytes_t body = {.len = p->body_len, .bytes = p->body};
            int st = amqp_basic_publish(r->conn, CHANNEL, cstr(r->cfg->bus_exchange_name),
                                        cstr(p->routing_key), 0, 0, &props, body);
            if (st != AMQP_STATUS_OK) {
                /* The rest of the batch is lost with the connection: publish()
                 * already answered for it (documented in the README). */
                tbd_log_warn("rabbitmq publish failed: %s", amqp_error_string2(st));
                rc = -1;
            }
        }
        pub_free(p);
        p = next;
    }
    return rc;
}

static void drop_pending(bus_rmq *r)
{
    pub_item *p = take_queued(r);
    while (p) {
        pub_item *next = p->next;
        pub_free(p);
        p = next;
    }
}

static void undeliverable(bus_rmq *r, const char *why, const amqp_envelope_t *env)
{
    r->dropped++;
    tbd_log_warn("rabbitmq message dropped reason=%s exchange=%.*s routing_key=%.*s size=%zu dropped_total=%lu",
             why, (int)env->exchange.len, (char *)env->exchange.bytes, (int)env->routing_key.len,
             (char *)env->routing_key.bytes, env->message.body.len, r->dropped);
}

/* Decodes one delivery; returns a message to dispatch (new ref) or NULL
 * if it was dropped. The routing fields come straight from the header
 * table and the body is validated in one streaming pass (amqp_msg.c): no
 * JSON DOM per message on this thread, which every event crosses. */
static tbd_msg *handle_delivery(bus_rmq *r, const amqp_envelope_t *env)
{
    const amqp_basic_properties_t *props = &env->message.properties;
    amqp_bytes_t body = env->message.body;
    tbd_msg *m;
    tbd_amqp_verdict v = tbd_amqp_msg_decode(r->scan, (props->_flags & AMQP_BASIC_HEADERS_FLAG)
                                                      ? &props->headers : NULL,
                                             body.bytes, body.len, r->cfg->uuid, &m);
    if (v == TBD_AMQP_ENOMEM)
        tbd_log_error("rabbitmq: out of memory, message dropped");
    else if (v != TBD_AMQP_OK)
        undeliverable(r, tbd_amqp_verdict_reason(v), env);
    return m;
}

/* Forgets the consumed messages, handing them to the workers first unless
 * they are going away. */
static void release_pending(bus_rmq *r, bool to_workers)
{
    if (!r->n_pend)
        return;
    if (to_workers) {
        r->host.deliver(r->host.ctx, r->pend, r->n_pend);
        r->last_handoff = uv_hrtime();
    }
    for (size_t i = 0; i < r->n_pend; i++)
        tbd_msg_unref(r->pend[i]);
    r->n_pend = 0;
}

static void handoff(bus_rmq *r)
{
    release_pending(r, true);
}

/* Nanoseconds until the pending messages are due (0: now). Hand-offs are
 * at least tenbus.bus_batch_us apart: each one wakes every worker, and at
 * tens of thousands of events a second, reads of one or two deliveries made
 * context switches the largest item of the daemon's profile (17%). A full
 * batch, or the first message after a quiet spell, goes at once. */
static uint64_t handoff_due_in(const bus_rmq *r)
{
    uint64_t gap = (uint64_t)r->cfg->bus_batch_us * 1000, since = uv_hrtime() - r->last_handoff;
    if (!r->n_pend || r->n_pend == CONSUME_BURST || since >= gap)
        return 0;
    return gap - since;
}

/* A frame other than a delivery is waiting (amqp_consume_message said
 * UNEXPECTED_STATE). Returns -1 if the channel or connection is gone. */
static int handle_other_frame(bus_rmq *r)
{
    amqp_frame_t f;
    struct timeval zero = {0, 0};
    int st = amqp_simple_wait_frame_noblock(r->conn, &f, &zero);
    if (st == AMQP_STATUS_TIMEOUT)
        return 0;
    if (st != AMQP_STATUS_OK) {
        tbd_log_warn("rabbitmq read failed: %s", amqp_error_string2(st));
        return -1;
    }
    if (f.frame_type != AMQP_FRAME_METHOD)
        return 0;
    switch (f.payload.method.id) {
    case AMQP_CHANNEL_CLOSE_METHOD: {
        amqp_channel_close_t *m = f.payload.method.decoded;
        tbd_log_warn("rabbitmq channel closed by broker: %u %.*s", m->reply_code,
                 (int)m->reply_text.len, (char *)m->reply_text.bytes);
        return -1;
    }
    case AMQP_CONNECTION_CLOSE_METHOD: {
        amqp_connection_close_t *m = f.payload.method.decoded;
        tbd_log_warn("rabbitmq connection closed by broker: %u %.*s", m->reply_code,
                 (int)m->reply_text.len, (char *)m->reply_text.bytes);
        return -1;
    }
    case AMQP_BASIC_CANCEL_METHOD:
        /* Our queue was deleted under us: nothing more will arrive. */
        tbd_log_warn("rabbitmq consumer cancelled by broker queue=%s", r->queue ? r->queue : "-");
        return -1;
    case AMQP_BASIC_RETURN_METHOD: {
        amqp_message_t msg;
        amqp_rpc_reply_t rep = amqp_read_message(r->conn, f.channel, &msg, 0);
        if (rep.reply_type != AMQP_RESPONSE_NORMAL)
            return -1;
        amqp_destroy_message(&msg);
        return 0;
    }
    default:
        return 0;
    }
}

/* Reads whatever is available without waiting (until CONSUME_BURST
 * deliveries are pending), then hands them off if they are due. Zero
 * timeouts also let rabbitmq-c send and check heartbeats. -1 if the
 * connection is lost. */
static int consume_available(bus_rmq *r)
{
    int rc = 0;
    struct timeval zero = {0, 0};
    while (r->n_pend < CONSUME_BURST && !atomic_load(&r->stop)) {
        amqp_envelope_t env;
        amqp_maybe_release_buffers(r->conn);
        amqp_rpc_reply_t rep = amqp_consume_message(r->conn, &env, &zero, 0);
        if (rep.reply_type == AMQP_RESPONSE_NORMAL) {
            tbd_msg *m = handle_delivery(r, &env);
            if (m)
                r->pend[r->n_pend++] = m;
            amqp_destroy_envelope(&env);
            continue;
        }
        if (rep.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
            if (rep.library_error == AMQP_STATUS_TIMEOUT)
                break;
            if (rep.library_error == AMQP_STATUS_UNEXPECTED_STATE) {
                if (handle_other_frame(r) < 0) {
                    rc = -1;
                    break;
                }
                continue;
            }
        }
        char buf[256];
        tbd_log_warn("rabbitmq consume failed: %s", reply_text(rep, buf, sizeof(buf)));
        rc = -1;
        break;
    }
    /* What was read before a failure still goes out. */
    if (rc < 0 || handoff_due_in(r) == 0)
        handoff(r);
    return rc;
}

/* Sleeps up to ms, returning early on stop. Wake-ups from publish() are
 * swallowed: nothing can be published while down. */
static void nap(bus_rmq *r, int ms)
{
    uint64_t end = uv_hrtime() / 1000000 + (uint64_t)ms;
    while (!atomic_load(&r->stop)) {
        uint64_t now = uv_hrtime() / 1000000;
        if (now >= end)
            return;
        struct pollfd pfd = {.fd = r->wake_rd, .events = POLLIN};
        if (poll(&pfd, 1, (int)(end - now)) > 0)
            drain_wake(r);
    }
}

static void lost(bus_rmq *r)
{
    handoff(r);   /* consumed before the loss: still theirs to deliver */
    atomic_store(&r->up, false);
    conn_drop(r);
    r->host.unbound_all(r->host.ctx);
    drop_pending(r);
    tbd_log_warn("rabbitmq connection lost host=%s port=%u: closing sessions", r->cfg->bus_host,
             r->cfg->bus_port);
    r->host.lost(r->host.ctx, "bus connection lost");
    set_state(r, TBD_BUS_DOWN);
}

/* Returns while stopping or once the connection is lost. */
static void serve(bus_rmq *r)
{
    int fd = amqp_get_sockfd(r->conn);
    while (!atomic_load(&r->stop)) {
        if ((atomic_exchange(&r->bind_dirty, false) && reconcile(r) < 0) ||
            send_queued(r) < 0 || consume_available(r) < 0) {
            lost(r);
            return;
        }
        /* rabbitmq-c may hold whole frames read with the last batch. */
        if (r->n_pend < CONSUME_BURST &&
            (amqp_frames_enqueued(r->conn) || amqp_data_in_buffer(r->conn)))
            continue;
        /* Wait for input, or until the pending messages are due. */
        uint64_t due = handoff_due_in(r);
        if (r->n_pend && due == 0) {
            handoff(r);
            continue;
        }
        struct timespec ts = {.tv_sec = r->n_pend ? 0 : POLL_MS / 1000,
                              .tv_nsec = r->n_pend ? (long)due : 0};
        struct pollfd pfd[2] = {{.fd = fd, .events = POLLIN}, {.fd = r->wake_rd, .events = POLLIN}};
        if (ppoll(pfd, 2, &ts, NULL) > 0 && (pfd[1].revents & POLLIN))
            drain_wake(r);
    }
    release_pending(r, false);   /* stopping: the workers are going away too */
}

static void graceful_close(bus_rmq *r)
{
    if (!r->conn)
        return;
    struct timeval t = {2, 0};
    amqp_set_rpc_timeout(r->conn, &t);
    amqp_channel_close(r->conn, CHANNEL, AMQP_REPLY_SUCCESS);
    amqp_connection_close(r->conn, AMQP_REPLY_SUCCESS);
    conn_drop(r);
}

static void amqp_thread(void *arg)
{
    bus_rmq *r = arg;
    unsigned failures = 0;
    while (!atomic_load(&r->stop)) {
        atomic_store(&r->bind_dirty, false);
        set_state(r, TBD_BUS_CONNECTING);
        if (conn_open(r) < 0) {
            conn_drop(r);
            r->host.unbound_all(r->host.ctx);
            set_state(r, TBD_BUS_DOWN);
            /* 1, 2, 4, 8, 16, then every 32 s (DESIGN.md §5). */
            unsigned delay = failures < 5 ? 1u << failures : BACKOFF_MAX_S;
            failures++;
            tbd_log_info("rabbitmq reconnect in %us attempt=%u", delay, failures);
            nap(r, (int)delay * 1000);
            continue;
        }
        failures = 0;
        drop_pending(r);   /* none can exist: publish() refused while down */
        atomic_store(&r->up, true);
        set_state(r, TBD_BUS_UP);
        tbd_log_info("rabbitmq connected host=%s port=%u vhost=%s exchange=%s queue=%s", r->cfg->bus_host,
                 r->cfg->bus_port, r->cfg->bus_vhost, r->cfg->bus_exchange_name, r->queue);
        serve(r);
    }
    atomic_store(&r->up, false);
    atomic_store(&r->state, TBD_BUS_DOWN);
    if (r->conn) {
        send_queued(r);   /* best effort: what the API already accepted */
        graceful_close(r);
    }
}

static void destroy(tbd_bus *b)
{
    bus_rmq *r = (bus_rmq *)b;
    atomic_store(&r->stop, true);
    wake(r);
    uv_thread_join(&r->thread);
    conn_drop(r);
    drop_pending(r);
    close(r->wake_rd);
    close(r->wake_wr);
    uv_mutex_destroy(&r->lock);
    tbd_json_scanner_free(r->scan);
    free(r);
}

static const tbd_bus_ops rabbitmq_ops = {
    .name = "rabbitmq", .publish = publish, .subscribe = binding_changed,
    .unsubscribe = binding_changed, .connected = connected, .state = bus_state, .free = destroy,
    .confirms_binds = true,
};

tbd_bus *tbd_bus_rabbitmq_new(const tbd_bus_host *host)
{
    bus_rmq *r = calloc(1, sizeof(*r));
    if (!r)
        return NULL;
    r->base.ops = &rabbitmq_ops;
    r->host = *host;
    r->cfg = host->cfg;
    r->q_tail = &r->q_head;
    /* The first attempt starts with the thread: a session arriving before
     * it ends waits for it (DESIGN.md §5). */
    atomic_init(&r->state, TBD_BUS_CONNECTING);
    if (!(r->scan = tbd_json_scanner_new())) {
        free(r);
        return NULL;
    }
    int p[2];
    if (pipe2(p, O_NONBLOCK | O_CLOEXEC) < 0) {
        tbd_log_error("rabbitmq: pipe: %s", strerror(errno));
        tbd_json_scanner_free(r->scan);
        free(r);
        return NULL;
    }
    r->wake_rd = p[0];
    r->wake_wr = p[1];
    uv_mutex_init(&r->lock);
    if (strcmp(r->cfg->bus_exchange_type, "headers") != 0)
        tbd_log_warn("bus.exchange_type=%s: bindings are header matches, only a headers exchange routes them",
                 r->cfg->bus_exchange_type);
    if (!r->cfg->uuid)
        tbd_log_warn("no uuid configured: no event from the bus can be delivered (origin_uuid check)");
    if (uv_thread_create(&r->thread, amqp_thread, r) < 0) {
        close(p[0]);
        close(p[1]);
        uv_mutex_destroy(&r->lock);
        tbd_json_scanner_free(r->scan);
        free(r);
        return NULL;
    }
    return &r->base;
}
