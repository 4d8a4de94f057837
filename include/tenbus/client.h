/* The service side (DESIGN.md §10): publish events and consume them over a
 * bus, as a Wazo service does with wazo-bus.
 *
 * A client talks to one bus named by URL:
 *   amqp://USER:PASS@HOST:PORT/VHOST   RabbitMQ. Defaults guest, guest,
 *       localhost, 5672; an empty or absent vhost is "/" (write "%2F" or
 *       "/" for it explicitly); user, password and vhost are
 *       percent-decoded.
 *   ws://HOST:PORT[/PREFIX]            a tenbusd node on its embedded bus
 *       (port 80 when absent; a path prefix for a reverse proxy is kept).
 *       Needs tb_client_config.token: a master-tenant or `internal` token
 *       (ACL websocketd plus tenbus.publish.<name> to publish). Publishing
 *       is POST /api/events (a batch is one request; HTTP 202 counts as the
 *       confirm); consuming is a WebSocket session (protocol v2) subscribed
 *       to each name, filters applied here. Differences: the node sets
 *       origin_uuid and timestamp itself; tb_message.routing_key is NULL
 *       and headers are the body's members other than "data" (the WebSocket
 *       protocol carries neither); no acknowledgements (auto_ack, queue
 *       and prefetch do not apply); unsubscribe is local (the protocol has
 *       no such command); events published while the session is down are
 *       not seen. wss:// is not supported.
 *
 * Publishing sends what a wazo-bus publisher sends for the same event
 * (docs/library.md lists the remaining differences), as libtenbus's one
 * event codec encodes it (tenbus/wire.h; the AMQP sink tb_wire_amqp() of
 * tenbus/wire_amqp.h, which tenbusd's publisher uses too):
 *   - exchange declared as wazo-bus declares it: given type (headers by
 *     default), durable, not auto-delete, not internal, no arguments;
 *   - routing key tb_event_routing_key(), body tb_event_body() as compact
 *     JSON (every header plus "data");
 *   - AMQP headers = tb_event_headers() typed as py-amqp types them:
 *     strings long strings ('S', UTF-8), booleans 't', null void 'V',
 *     integers signed 32-bit 'I' when |i| < 2^31, else 64-bit 'L' holding
 *     the signed value (py-amqp's tag, read back as signed by py-amqp and
 *     by this client), reals doubles 'd', objects tables 'F', arrays 'A';
 *     origin_uuid is sent (void) even when the event has none;
 *   - properties content_type "application/json", content_encoding
 *     "utf-8", delivery_mode 2 (persistent), priority 0.
 *
 * Consuming binds the client's own queue to the exchange, one binding per
 * subscription: {x-match: all|any, name: NAME, <filter headers>...}, as
 * wazo-bus's subscribe(event_name, handler, headers=..., headers_match_all=...)
 * does. The queue is server-named, exclusive and auto-delete, or, when
 * tb_client_config.queue names one, durable and shared (a service that
 * must not miss events while it restarts). A delivery is handed to every
 * subscription whose filter matches its headers (tb_hdr_match), then
 * acknowledged (unless auto_ack, where the broker forgets it on delivery).
 *
 * Threading: the client creates no thread and never blocks but inside the
 * call made to it. It is not thread-safe: use one client per thread, or
 * lock around every call. Publishing and consuming use two separate AMQP
 * connections, opened on first use. Two ways to consume:
 *   - blocking: call tb_client_process(c, timeout_ms) in a loop on a thread
 *     you own;
 *   - your own loop (libuv, epoll): poll tb_client_fd(c) for reading and
 *     call tb_client_process(c, 0) when it is readable, or when
 *     tb_client_timeout(c) milliseconds have passed (reconnection). The fd
 *     changes after a reconnection: fetch it again after each process call.
 *     tb_client_process() leaves no complete message buffered in user
 *     space, so a level-triggered poll on the fd is enough.
 *
 * Reconnection: a lost consumer connection is re-opened by
 * tb_client_process() after 1, 2, 4, 8, 16, then every 32 s; the exchange
 * and queue are declared again and every subscription re-bound. Events
 * published while a server-named queue was gone are not seen; a named
 * durable queue keeps them. A publish on a lost connection reconnects once,
 * at once, and fails with TB_ECONN if that fails.
 *
 * Errors are tb_err codes; tb_client_errmsg() gives the last one's details
 * (broker reply code and text, socket error, which URL part is wrong). A
 * callback cannot break the client: its return value is counted, the
 * message is acknowledged all the same (as wazo-bus does after a handler
 * raises). A delivery whose body is not a JSON object, or without a name in
 * its headers or body, is acknowledged, skipped and counted (stats.bad). */
#ifndef TENBUS_CLIENT_H
#define TENBUS_CLIENT_H

#include "tenbus/tenbus.h"
#include "tenbus/event.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct tb_client tb_client; /* opaque */
typedef struct tb_event tb_event;   /* event.h; repeated so include order does not matter */

typedef struct tb_client_config {
    const char *url;           /* required; see above */
    const char *token;         /* ws:// only: the session's and the HTTP API's token */
    const char *exchange;      /* NULL or "" => "wazo-headers" */
    const char *exchange_type; /* NULL or "" => "headers" */
    const char *queue;         /* consumer queue: NULL or "" => server-named, exclusive,
                                * auto-delete; else this name, durable, not exclusive */
    bool auto_ack;             /* consumer: no acknowledgement after the callbacks */
    bool confirms;             /* publisher: each publish call waits for the broker's confirms */
    int timeout_ms;            /* connect, declare, bind and confirm timeout; <= 0 => 10000 */
    unsigned prefetch;         /* consumer: unacknowledged deliveries in flight; 0 => 256 */
    char *errbuf;              /* optional: tb_client_new() writes why it failed here */
    size_t errbuf_size;
} tb_client_config;

/* A delivery, borrowed for the duration of the callback. */
typedef struct tb_message {
    const char *name;          /* the `name` header, else the body's "name" */
    const char *routing_key;   /* NULL over ws:// */
    const json_t *headers;     /* object: the AMQP headers, typed as
                                * tb_amqp_table_to_json() reads them (void -> null, tables
                                * -> objects, arrays, integers, reals, booleans, strings) */
    const json_t *body;        /* object: the decoded JSON body (headers plus "data") */
    bool redelivered;
    uint64_t delivery_id;      /* 1, 2, ... per client: the same for every callback one
                                * delivery makes (several subscriptions may match it) */
} tb_message;

/* Called once per matching subscription. Return 0 when handled; anything
 * else is counted in stats.handler_errors (the message is acknowledged all
 * the same). It may call tb_client_publish*() and tb_client_unsubscribe(),
 * not tb_client_free() or tb_client_process(). */
typedef int (*tb_message_cb)(const tb_message *msg, void *arg);

typedef struct tb_client_stats {
    uint64_t published;       /* messages handed to the broker */
    uint64_t confirmed;       /* ... and confirmed by it (confirms on) */
    uint64_t delivered;       /* deliveries received */
    uint64_t dispatched;      /* callback invocations */
    uint64_t unmatched;       /* deliveries no subscription's filter matched (e.g. after an
                               * unsubscribe, or for a shared queue's other bindings) */
    uint64_t bad;             /* deliveries skipped: body not a JSON object, no name */
    uint64_t handler_errors;  /* callbacks that returned non-zero */
    uint64_t reconnects;      /* successful re-connections of the consumer */
} tb_client_stats;

/* Checks the configuration and URL; connects nothing yet. On success *out
 * is a new client to free with tb_client_free(). `cfg` and its strings are
 * copied. Errors: TB_EINVAL (NULL cfg/out/url), TB_EURL (bad or unsupported
 * URL; *out untouched), TB_ENOMEM. */
TB_EXTERN tb_err tb_client_new(const tb_client_config *cfg, tb_client **out);

/* Closes the connections (a server-named queue dies with its connection)
 * and frees everything. NULL is ignored. */
TB_EXTERN void tb_client_free(tb_client *c);

/* Details of the last error of this client (never NULL; "" if none). */
TB_EXTERN const char *tb_client_errmsg(const tb_client *c);

/* Publishes one event (borrowed). Connects and declares the exchange on
 * first use. With confirms, returns once the broker confirmed it.
 * Errors: TB_EINVAL, TB_ECONN (cannot connect; connection lost),
 * TB_EBROKER (the broker refused: e.g. 406 exchange declared differently,
 * 403 access refused), TB_ETIMEOUT (no confirm in time), TB_ENACK (the
 * broker nacked it), TB_ENOMEM. On an error the message may or may not
 * have been routed, except for TB_EINVAL/TB_ENOMEM (nothing sent). */
TB_EXTERN tb_err tb_client_publish(tb_client *c, const tb_event *ev);

/* Publishes n events (borrowed) back to back, then, with confirms, waits
 * once for all their confirms: the fast way to publish many. Same errors;
 * an event that cannot be encoded (TB_EINVAL) stops the batch before it is
 * sent, with the events before it published. */
TB_EXTERN tb_err tb_client_publish_batch(tb_client *c, const tb_event *const *evs, size_t n);

/* Subscribes to `name` (NULL => every name: the binding has no name key)
 * with the header filter `headers` (a JSON object, borrowed, may be NULL;
 * typed: true is an AMQP boolean, a string a long string, null matches on
 * presence) and x-match all (match_all) or any. Connects the consumer on
 * first use (declares exchange and queue, starts consuming) and returns
 * once the broker confirmed the binding: from then on every matching event
 * published reaches `cb`. *id (may be NULL) receives the subscription's id
 * for tb_client_unsubscribe. Identical filters share one binding.
 * Errors: TB_EINVAL (bad arguments, a filter key over 255 bytes, a
 * filter holding a name key when `name` is given), TB_ECONN, TB_EBROKER,
 * TB_ETIMEOUT, TB_ENOMEM; the subscription is not kept on error. */
TB_EXTERN tb_err tb_client_subscribe(tb_client *c, const char *name, const json_t *headers,
                                     bool match_all, tb_message_cb cb, void *arg,
                                     unsigned *id);

/* Removes a subscription; its binding is removed when no other
 * subscription uses the same filter. Deliveries already queued for it are
 * counted as unmatched. Errors: TB_EINVAL (unknown id); TB_ECONN and
 * TB_EBROKER when the unbind failed (the subscription is gone anyway; a
 * reconnection does not re-bind it). */
TB_EXTERN tb_err tb_client_unsubscribe(tb_client *c, unsigned id);

/* Waits up to timeout_ms (0: no wait, < 0: until something happens) for
 * deliveries, dispatches every one that arrived, and reconnects the
 * consumer when it is due. Returns TB_OK; TB_ECONN when the consumer
 * connection is down (lost now, or a reconnection attempt failed; the
 * next attempt is tb_client_timeout() ms away); TB_EINVAL without
 * subscriptions. */
TB_EXTERN tb_err tb_client_process(tb_client *c, int timeout_ms);

/* The consumer's socket for poll/epoll (readable => call
 * tb_client_process(c, 0)), or -1 while it is not connected. */
TB_EXTERN int tb_client_fd(const tb_client *c);

/* Milliseconds until tb_client_process() must run for a reconnection,
 * or -1 when none is pending. */
TB_EXTERN int tb_client_timeout(const tb_client *c);

TB_EXTERN void tb_client_get_stats(const tb_client *c, tb_client_stats *out);

#endif
