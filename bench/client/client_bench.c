/* tenbus-client-bench: events/s of one libtenbus publisher (with and without
 * publisher confirms) and of one consumer, against a real broker.
 *
 *   tenbus-client-bench URL N BATCH
 *
 * Uses its own exchange (tenbus-client-bench-<pid>, deleted by the broker
 * never: durable like wazo-headers; remove it with rabbitmqctl if needed).
 * Prints one line per measurement: events/s (wall clock, so it includes
 * waiting for the broker) and the client's own CPU time per event
 * (getrusage, user + system), which a loaded machine disturbs less. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <tenbus/tenbus.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* This process's CPU time so far, user + system, in seconds. */
static double cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
           (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static void report(const char *what, long n, double wall, double cpu)
{
    printf("%s: %ld events in %.3f s = %.0f events/s; client CPU %.1f us/event\n", what, n, wall,
           n / wall, cpu * 1e6 / n);
}

static int count_cb(const tb_message *m, void *arg)
{
    (void)m;
    ++*(long *)arg;
    return 0;
}

static tb_event **make_events(long n)
{
    static const tb_event_type t = {.service = "bench", .name = "bench_evt",
                                    .level = TB_LEVEL_USER, .routing_key_fmt = "bench.{user_uuid}"};
    tb_event **evs = calloc((size_t)n, sizeof *evs);
    json_t *content = json_pack("{s:s, s:i}", "text", "hello", "n", 1);
    tb_event_args a = {.tenant_uuid = "2f1e4a9c-6b1d-4c0e-9a51-7d3f0b8e6a10",
                       .user_uuid = "5a6f8e2b-1c3d-4e5f-8a9b-0c1d2e3f4a5b", .content = content};
    for (long i = 0; i < n; i++)
        if (tb_event_new(&t, &a, "ab12cd34-5e6f-4a7b-8c9d-0e1f2a3b4c5d", &evs[i]) != TB_OK)
            exit(1);
    json_decref(content);
    return evs;
}

/* Returns the wall time; *cpu gets the CPU time spent. */
static double publish_all(const char *url, const char *ex, tb_event **evs, long n, long batch,
                          bool confirms, double *cpu)
{
    tb_client_config cfg = {.url = url, .exchange = ex, .confirms = confirms};
    tb_client *c;
    double t0;
    if (tb_client_new(&cfg, &c) != TB_OK)
        exit(1);
    t0 = now_s();
    *cpu = cpu_s();
    for (long i = 0; i < n; i += batch) {
        long k = n - i < batch ? n - i : batch;
        tb_err rc = tb_client_publish_batch(c, (const tb_event *const *)evs + i, (size_t)k);
        if (rc != TB_OK) {
            fprintf(stderr, "publish: %s: %s\n", tb_strerror(rc), tb_client_errmsg(c));
            exit(1);
        }
    }
    t0 = now_s() - t0;
    *cpu = cpu_s() - *cpu;
    tb_client_free(c);
    return t0;
}

int main(int argc, char **argv)
{
    char ex[64];
    long n, batch, got = 0;
    tb_event **evs;
    tb_client *cons;
    double t, cpu;
    char what[80];

    if (argc != 4) {
        fprintf(stderr, "usage: %s URL N BATCH\n", argv[0]);
        return 2;
    }
    n = atol(argv[2]);
    batch = atol(argv[3]);
    snprintf(ex, sizeof ex, "tenbus-client-bench-%ld", (long)getpid());
    evs = make_events(n);

    /* A consumer bound first, so every publish is routed to a queue (the
     * broker's cost of a routed message is what a service pays). */
    tb_client_config ccfg = {.url = argv[1], .exchange = ex, .prefetch = 1000};
    if (tb_client_new(&ccfg, &cons) != TB_OK ||
        tb_client_subscribe(cons, "bench_evt", NULL, true, count_cb, &got, NULL) != TB_OK) {
        fprintf(stderr, "consumer: %s\n", tb_client_errmsg(cons));
        return 1;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    t = publish_all(argv[1], ex, evs, n, batch, false, &cpu);
    snprintf(what, sizeof what, "publish, no confirms, batch %ld", batch);
    report(what, n, t, cpu);
    t = now_s();
    cpu = cpu_s();
    while (got < n)
        if (tb_client_process(cons, 1000) != TB_OK)
            return 1;
    report("consume (ack each, prefetch 1000)", n, now_s() - t, cpu_s() - cpu);
    got = 0;
    t = publish_all(argv[1], ex, evs, n, batch, true, &cpu);
    snprintf(what, sizeof what, "publish, confirms, batch %ld", batch);
    report(what, n, t, cpu);
    t = publish_all(argv[1], ex, evs, n > 20000 ? 20000 : n, 1, true, &cpu);
    report("publish, confirms, one at a time", n > 20000 ? 20000 : n, t, cpu);
    while (got < n + (n > 20000 ? 20000 : n))
        if (tb_client_process(cons, 1000) != TB_OK)
            return 1;
    tb_client_free(cons);
    for (long i = 0; i < n; i++)
        tb_event_free(evs[i]);
    free(evs);
    return 0;
}
