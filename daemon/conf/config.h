/* tenbusd configuration: one YAML file (-c), an optional directory of
 * overrides (`extra_config_files`, merged in name order), env XIVO_UUID,
 * then command-line flags. Keys follow wazo-websocketd's (DESIGN.md §9);
 * tenbus's own settings live under `tenbus:`. */
#ifndef TBD_CONFIG_H
#define TBD_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { TBD_BUS_EMBEDDED = 0, TBD_BUS_RABBITMQ } tbd_bus_kind;
typedef enum { TBD_AUTH_FILE = 0, TBD_AUTH_WAZO } tbd_auth_kind;
typedef enum { TBD_CHECK_DYNAMIC = 0, TBD_CHECK_STATIC } tbd_check_strategy;

typedef struct tbd_limits {
    uint64_t max_frame_size;      /* tenbus.limits.max_frame_size, default 1 MiB */
    uint64_t max_message_size;    /* default 1 MiB, as wazo-websocketd */
    uint32_t max_header_size;     /* HTTP request head, default 8192 */
    uint32_t handshake_timeout;   /* seconds, default 10 */
    uint32_t max_connections;     /* default 0 = as many as the fd limit allows */
    uint32_t max_subscriptions;   /* per session, default 256 */
    uint64_t max_queue_bytes;     /* per-session outbound queue, default 4 MiB */
    uint64_t max_body_size;       /* HTTP API body, default 1 MiB */
    uint32_t ping_timeout;        /* seconds without any frame from a session before
                                   * it is closed (1011 "ping timeout"); default 0 =
                                   * two ping intervals */
} tbd_limits;

typedef struct tbd_config {
    char *uuid;                   /* `uuid`, env XIVO_UUID overrides the file */
    bool debug;
    char *log_level;              /* "debug", "info" (default), "warning", "error" */
    char *log_file;               /* NULL => stderr */
    char *config_file;            /* path given with -c (NULL = built-in defaults only) */
    char *extra_config_files;     /* directory, may be NULL */

    /* websocket */
    char *listen;                 /* default "127.0.0.1" */
    uint32_t bus_batch_us;        /* tenbus.bus_batch_us: RabbitMQ hand-off gap, default 200 */
    uint32_t bus_wait_timeout;    /* tenbus.bus_wait_timeout: seconds a new session waits for
                                   * a bus connection attempt in progress, default 5 (0 = none) */
    uint16_t port;                /* default 9502 */
    uint32_t ping_interval;       /* seconds, default 60 */
    char *tls_certificate;        /* websocket.certificate: PEM chain (TLS is on when */
    char *tls_private_key;        /* websocket.private_key: PEM key    both are set) */
    char *tls_ciphers;            /* tenbus.tls_ciphers: OpenSSL list for TLS 1.2 (NULL = default) */

    /* auth (wazo-auth) */
    char *auth_host;              /* default "localhost" */
    uint16_t auth_port;           /* default 9497 */
    char *auth_prefix;            /* default "/api/auth" */
    bool auth_https;              /* default false */
    char *auth_username, *auth_password, *auth_key_file;
    uint32_t auth_timeout;        /* auth.timeout: seconds per request, default 10 */
    tbd_check_strategy auth_check_strategy;   /* default dynamic */
    uint32_t auth_check_static_interval;      /* seconds, default 60 */
    char *auth_ca_file;           /* tenbus.auth_ca_file: CA bundle for https (NULL = system's) */

    /* bus (RabbitMQ) */
    char *bus_host;               /* default "localhost" */
    uint16_t bus_port;            /* default 5672 */
    char *bus_username, *bus_password, *bus_vhost; /* guest, guest, "/" */
    char *bus_exchange_name;      /* default "wazo-headers" */
    char *bus_exchange_type;      /* default "headers" */

    /* tenbus: */
    tbd_bus_kind bus_backend;     /* tenbus.bus_backend: embedded | rabbitmq */
    tbd_auth_kind auth_backend;   /* tenbus.auth_backend: file | wazo-auth */
    char *tokens_file;            /* tenbus.tokens_file */
    char *master_tenant_uuid;     /* tenbus.master_tenant_uuid (file backend) */
    uint32_t workers;             /* tenbus.workers, 0 = one per core */
    char **catalogue;             /* tenbus.catalogue: event catalogue files/directories,
                                   * NULL-terminated; NULL = no catalogue */
    bool catalogue_strict;        /* tenbus.catalogue_strict: refuse uncatalogued names */
    tbd_limits limits;            /* tenbus.limits.* */

    /* Which keys a file or a flag set (not defaults): TBD_GIVEN_*. The
     * backend choice reads them (tbd_config_pick_backends). */
    unsigned given;
    const char *bus_why, *auth_why; /* static: why each backend was chosen */
} tbd_config;

enum {
    TBD_GIVEN_BUS_BACKEND = 1 << 0,   /* tenbus.bus_backend */
    TBD_GIVEN_AUTH_BACKEND = 1 << 1,  /* tenbus.auth_backend */
    TBD_GIVEN_TOKENS_FILE = 1 << 2,   /* tenbus.tokens_file */
    TBD_GIVEN_AUTH_KEYS = 1 << 3,     /* any auth.* key */
    TBD_GIVEN_BUS_KEYS = 1 << 4,      /* any bus.* key */
};

/* Fills *cfg with the built-in defaults (all strings owned by cfg). */
void tbd_config_defaults(tbd_config *cfg);

/* Loads `path` (may be NULL: defaults only), then the `extra_config_files`
 * directory it names (files ending in .yml/.yaml, in name order), then
 * XIVO_UUID. Later values override earlier ones key by key (mappings merge).
 * Unknown keys are ignored (reported through `warn` if non-NULL, one call per
 * key, with "file:line: unused key a.b"). On error returns -1 and writes a
 * message naming the file, line and key into err (size errlen).
 *
 * *cfg is output only: everything is parsed into a fresh struct that is
 * copied to *cfg on success; on failure *cfg is untouched. It is never freed
 * here, so for a reload load into a new struct, then free the old one and
 * swap (and don't call tbd_config_defaults first: that would leak).
 *
 * Relative paths (log_file, extra_config_files, auth.key_file,
 * tenbus.tokens_file, websocket.certificate, websocket.private_key) are resolved against the directory of the file that
 * set them. A missing extra_config_files directory is not an error. */
int tbd_config_load(tbd_config *cfg, const char *path, char *err, size_t errlen,
                    void (*warn)(const char *msg));

/* Applies one "dotted.key=value" override (from a command-line flag) with the
 * same typing/validation as the file. Returns 0 or -1 with err filled (an
 * unknown key is an error here). The value is typed as a plain YAML scalar,
 * except for string options, which take it verbatim; relative paths stay
 * relative to the working directory. On error *cfg is unchanged. */
int tbd_config_set(tbd_config *cfg, const char *key, const char *value, char *err, size_t errlen);

/* Applies a "dotted.key=value" string (split at the first '='). */
int tbd_config_set_kv(tbd_config *cfg, const char *kv, char *err, size_t errlen);

/* Chooses the backends not named by tenbus.bus_backend / tenbus.auth_backend,
 * from the keys the file(s) and flags set (docs/tenbusd.md, "Backends"):
 *   auth: tenbus.tokens_file set -> file; else any auth.* key -> wazo-auth;
 *         else file.
 *   bus:  any bus.* key -> rabbitmq; else wazo-auth chosen from auth.* keys
 *         (a wazo-websocketd file) -> rabbitmq; else embedded.
 * Call once, after the file and the flags. Sets bus_why / auth_why. */
void tbd_config_pick_backends(tbd_config *cfg);

void tbd_config_free(tbd_config *cfg);

#endif
