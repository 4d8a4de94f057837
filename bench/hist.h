/* Log-linear latency histogram (HDR-like): 64 sub-buckets per power of two,
 * so any recorded value is reported within 1/64 (~1.6%) of itself, in a
 * fixed 30 KiB table whatever the range (1 ns .. 2^63 ns). Recording is a
 * few instructions, which matters at hundreds of thousands of deliveries per
 * second in a single-threaded receiver. */
#ifndef TB_BENCH_HIST_H
#define TB_BENCH_HIST_H

#include <stdint.h>

#define HIST_BUCKETS (128 + 57 * 64)

typedef struct hist {
    uint64_t count, max, min;
    uint32_t b[HIST_BUCKETS];
} hist;

void hist_reset(hist *h);
void hist_add(hist *h, uint64_t v);
/* Adds every sample of `src` to `dst`. */
void hist_merge(hist *dst, const hist *src);
/* Value at quantile q in [0,1] (upper edge of its bucket, capped by max);
 * 0 for an empty histogram. */
uint64_t hist_quantile(const hist *h, double q);

#endif
