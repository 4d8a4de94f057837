/* Per-worker counters read by /metrics (http/metrics.c). Each counter has
 * one writer, its worker's thread; readers on other threads load them
 * relaxed, so a scrape sees each value whole, if not all at one instant. */
#ifndef TBD_STATS_H
#define TBD_STATS_H

#include <stdatomic.h>
#include <stdint.h>

enum {
    TBD_ST_CONNS_ACCEPTED, TBD_ST_CONNS_REFUSED, TBD_ST_SESSIONS_OPENED, TBD_ST_EVENTS_ROUTED,
    TBD_ST_DELIVERIES, TBD_ST_SLOW_CONSUMER_CLOSES, TBD_ST_HTTP_REQUESTS, TBD_ST_EVENTS_PUBLISHED,
    TBD_ST_HANDSHAKE_TIMEOUTS, TBD_ST__COUNT
};
/* Close codes counted individually for /metrics. */
#define TBD_CLOSE_CODES(X) X(1000) X(1001) X(1002) X(1007) X(1008) X(1009) X(1011) \
    X(4001) X(4002) X(4003) X(4004)
enum { TBD_N_CLOSE_CODES = 11 };

typedef struct tbd_stats {
    _Atomic uint64_t v[TBD_ST__COUNT];
    _Atomic uint64_t closes[TBD_N_CLOSE_CODES];
    _Atomic int64_t sessions;
} tbd_stats;

/* Only the owning worker's thread may add: a load and a store, no RMW. */
#define TBD_STAT_ADD(w, f, n) atomic_store_explicit(&(w)->stats.v[f], \
    atomic_load_explicit(&(w)->stats.v[f], memory_order_relaxed) + (n), memory_order_relaxed)
#define TBD_STAT_INC(w, f) TBD_STAT_ADD(w, f, 1)

#endif
