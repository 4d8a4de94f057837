/* GET /status and GET /metrics (Prometheus text format 0.0.4). Counters are
 * per worker (one writer each) and summed here. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/metrics.h"
#include "core/worker.h"
#include "core/server.h"
#include "core/stats.h"
#include "core/version.h"

static uint64_t sum(tbd_server *srv, int f)
{
    uint64_t n = 0;
    for (unsigned i = 0; i < srv->n_workers; i++)
        n += atomic_load_explicit(&srv->workers[i].stats.v[f], memory_order_relaxed);
    return n;
}

static int64_t sum_sessions(tbd_server *srv)
{
    int64_t n = 0;
    for (unsigned i = 0; i < srv->n_workers; i++)
        n += atomic_load_explicit(&srv->workers[i].stats.sessions, memory_order_relaxed);
    return n;
}

json_t *tbd_status_json(tbd_server *srv)
{
    bool bus_up = srv->bus->ops->connected(srv->bus);
    bool auth_ready = srv->auth->ops->ready(srv->auth);
    return json_pack("{s:s,s:s,s:{s:s,s:b},s:{s:s,s:b},s:I,s:I,s:i}",
                     "status", bus_up && auth_ready ? "ok" : "degraded",
                     "version", TBD_VERSION,
                     "bus", "backend", srv->bus->ops->name, "connected", bus_up,
                     "auth", "backend", srv->auth->ops->name, "ready", auth_ready,
                     "sessions", (json_int_t)sum_sessions(srv),
                     "connections", (json_int_t)atomic_load(&srv->n_conns),
                     "workers", (int)srv->n_workers);
}

char *tbd_metrics_text(tbd_server *srv)
{
    static const struct { int f; const char *name, *help; } counters[] = {
        {TBD_ST_CONNS_ACCEPTED, "tenbus_connections_accepted_total", "TCP connections accepted"},
        {TBD_ST_CONNS_REFUSED, "tenbus_connections_refused_total", "Connections refused (max_connections)"},
        {TBD_ST_SESSIONS_OPENED, "tenbus_sessions_opened_total", "WebSocket sessions authenticated"},
        {TBD_ST_EVENTS_ROUTED, "tenbus_events_routed_total", "Events routed, summed over workers"},
        {TBD_ST_DELIVERIES, "tenbus_deliveries_total", "Event frames queued to sessions"},
        {TBD_ST_SLOW_CONSUMER_CLOSES, "tenbus_slow_consumer_closes_total", "Sessions closed for a full queue"},
        {TBD_ST_HTTP_REQUESTS, "tenbus_http_responses_total", "HTTP responses sent"},
        {TBD_ST_EVENTS_PUBLISHED, "tenbus_events_published_total", "Events accepted by the HTTP API"},
        {TBD_ST_HANDSHAKE_TIMEOUTS, "tenbus_handshake_timeouts_total", "Connections closed idle before upgrade"},
    };
    static const uint16_t codes[] = {
#define X(n) n,
        TBD_CLOSE_CODES(X)
#undef X
    };
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    if (!f)
        return NULL;
    for (size_t i = 0; i < sizeof(counters) / sizeof(counters[0]); i++)
        fprintf(f, "# HELP %s %s\n# TYPE %s counter\n%s %llu\n", counters[i].name, counters[i].help,
                counters[i].name, counters[i].name, (unsigned long long)sum(srv, counters[i].f));
    fprintf(f, "# HELP tenbus_closes_total WebSocket sessions closed by tenbusd, by close code\n"
               "# TYPE tenbus_closes_total counter\n");
    for (unsigned c = 0; c < TBD_N_CLOSE_CODES; c++) {
        uint64_t n = 0;
        for (unsigned i = 0; i < srv->n_workers; i++)
            n += atomic_load_explicit(&srv->workers[i].stats.closes[c], memory_order_relaxed);
        fprintf(f, "tenbus_closes_total{code=\"%u\"} %llu\n", codes[c], (unsigned long long)n);
    }
    fprintf(f, "# HELP tenbus_sessions Authenticated WebSocket sessions\n# TYPE tenbus_sessions gauge\n"
               "tenbus_sessions %lld\n", (long long)sum_sessions(srv));
    fprintf(f, "# HELP tenbus_connections Open TCP connections\n# TYPE tenbus_connections gauge\n"
               "tenbus_connections %d\n", atomic_load(&srv->n_conns));
    fprintf(f, "# HELP tenbus_bus_connected 1 if the bus backend is connected\n"
               "# TYPE tenbus_bus_connected gauge\ntenbus_bus_connected %d\n",
            srv->bus->ops->connected(srv->bus) ? 1 : 0);
    if (fclose(f) != 0) {
        free(out);
        return NULL;
    }
    return out;
}
