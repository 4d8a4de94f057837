/* tenbus-bench: shared state of the load generator's modules. */
#ifndef TB_BENCH_H
#define TB_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hist.h"

/* Who is connected: tenants own users, users own sessions (one token each). */
typedef struct b_tenant {
    char *uuid;
    uint32_t *sess;            /* indices into b_pop.sess */
    uint32_t n_sess, cap;
    uint32_t n_ready;
} b_tenant;

typedef struct b_user {
    char *uuid;
    uint32_t tenant;
    uint32_t *sess;
    uint32_t n_sess, cap;
    uint32_t n_ready;
} b_user;

typedef struct b_sess {
    char *token;
    uint32_t tenant, user;
} b_sess;

typedef struct b_pop {
    b_tenant *tenants; uint32_t n_tenants;
    b_user *users;     uint32_t n_users;
    b_sess *sess;      uint32_t n_sess;
    char *publisher;   /* master-tenant token granting tenbus.publish.# */
    char *master_tenant;
} b_pop;

/* pop.c */
/* A generated population: `n` sessions, one user and one token each, spread
 * round-robin over `t` tenants, plus a publisher in a separate master tenant. */
int pop_generate(b_pop *p, uint32_t n, uint32_t t);
/* Reads a tokens file in the JSON form pop_write_tokens writes. Sessions are
 * the plain user tokens outside the master tenant; the publisher is the token
 * named `publisher` (whose tenant is the master tenant). */
int pop_load(b_pop *p, const char *path, const char *publisher, uint32_t max_sess);
int pop_write_tokens(const b_pop *p, const char *path);
void pop_free(b_pop *p);

/* The stack uuid of a spawned daemon (origin_uuid of AMQP-published events). */
#define BENCH_STACK_UUID "5f6c1c9e-8f1a-4b8e-9d4f-0000000be4c4"

/* amqp_pub.c: publishing straight to the RabbitMQ exchange, as a Wazo
 * service does (typed headers + JSON body), bypassing the HTTP API. */
int amqp_pub_open(const char *host, int port, const char *exchange);
/* One event: user != NULL => user event (user_uuid:<user> = true), else a
 * tenant event (user_uuid:* = true). Returns 0 or -1. */
int amqp_pub_event(const char *name, const char *tenant, const char *user, uint32_t seq, int64_t ts);
void amqp_pub_close(void);

/* proc.c: a spawned daemon's resource usage. */
typedef struct b_daemon {
    pid_t pid;
    int port;
    char *dir;                 /* work directory (config, tokens, log) */
    char *log;
} b_daemon;

/* extra_set: NULL-terminated "KEY=VALUE" options (at most B_MAX_DAEMON_SET). */
#define B_MAX_DAEMON_SET 8
int daemon_spawn(b_daemon *d, const char *exe, const b_pop *p, uint32_t max_conns,
                 int workers, const char *const *extra_set, bool verbose);
/* SIGTERM then wait; returns the wait status, or -1 if it had to be killed. */
int daemon_stop(b_daemon *d, double timeout_s);
/* True while the process exists and has not exited (reaps it otherwise). */
bool daemon_alive(b_daemon *d, int *status);
long proc_rss_bytes(pid_t pid);
double proc_cpu_seconds(pid_t pid);

/* Blocking one-shot HTTP GET on 127.0.0.1-style hosts, for /status and
 * /metrics (not on the measured path). Returns the status code, the body in
 * *body (malloc'd), or -1. */
int http_get(const char *host, int port, const char *path, const char *token, char **body);

int64_t now_ns(void);

#endif
