/* tenbusd configuration (see config.h).
 *
 * Every option lives in conf__opts[], the one table that drives defaults,
 * file loading and command-line overrides: a default is just a value
 * applied through the same converter as a flag, and a file value goes
 * through that converter too, so the three can never disagree on typing or
 * bounds. */
#include "conf/config.h"

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "core/log.h"
#include "conf/yamljson.h"

typedef enum {
    CONF_STRING,
    CONF_BOOL,
    CONF_UINT,
    CONF_PORT,
    CONF_ENUM,
    CONF_DURATION,   /* seconds; integer, or "30s" / "5m" / "1h" */
    CONF_SIZE,       /* bytes; integer, or "64k" / "4 MiB" / "1G" */
    CONF_LEVEL,      /* log level, stored as its canonical lower-case name */
    CONF_PATHS,      /* a path or a list of paths, stored as a NULL-terminated char ** */
} conf__type;

enum {
    CONF_NULLABLE = 1 << 0,   /* null sets the string to NULL */
    CONF_NULL_EMPTY = 1 << 1, /* null sets the string to "" */
    CONF_PATH = 1 << 2,       /* relative paths resolve against the file's directory */
    CONF_MAIN_ONLY = 1 << 3,  /* only the main file (or a flag) may set it */
};

typedef struct conf__choice {
    const char *name;
    int value;
} conf__choice;

typedef struct conf__opt {
    const char *key;          /* dotted path in the YAML file */
    conf__type type;
    size_t off, size;         /* where and how wide in tbd_config */
    const char *def;          /* default, as a flag would spell it; NULL = unset */
    uint64_t min, max;        /* numeric bounds, inclusive */
    const conf__choice *choices;
    unsigned flags;
} conf__opt;

static const conf__choice conf__strategies[] = {
    { "dynamic", TBD_CHECK_DYNAMIC }, { "static", TBD_CHECK_STATIC }, { NULL, 0 } };
static const conf__choice conf__bus_kinds[] = {
    { "embedded", TBD_BUS_EMBEDDED }, { "rabbitmq", TBD_BUS_RABBITMQ }, { NULL, 0 } };
static const conf__choice conf__auth_kinds[] = {
    { "file", TBD_AUTH_FILE }, { "wazo-auth", TBD_AUTH_WAZO }, { NULL, 0 } };

#define KIB 1024ULL
#define MIB (1024ULL * 1024)
#define GIB (1024ULL * 1024 * 1024)
#define F(field) offsetof(tbd_config, field), sizeof(((tbd_config *)0)->field)
#define STR(k, field, def, flags) { k, CONF_STRING, F(field), def, 0, 0, NULL, flags }
#define NUM(k, type, field, def, lo, hi) { k, type, F(field), def, lo, hi, NULL, 0 }
#define ENUM(k, field, def, choices) { k, CONF_ENUM, F(field), def, 0, 0, choices, 0 }

static const conf__opt conf__opts[] = {
    STR("uuid", uuid, NULL, CONF_NULLABLE),
    { "debug", CONF_BOOL, F(debug), "false", 0, 0, NULL, 0 },
    { "log_level", CONF_LEVEL, F(log_level), "info", 0, 0, NULL, 0 },
    STR("log_file", log_file, NULL, CONF_NULLABLE | CONF_PATH),
    STR("extra_config_files", extra_config_files, NULL,
        CONF_NULLABLE | CONF_PATH | CONF_MAIN_ONLY),

    STR("websocket.listen", listen, "127.0.0.1", 0),
    NUM("websocket.port", CONF_PORT, port, "9502", 1, 65535),
    NUM("websocket.ping_interval", CONF_DURATION, ping_interval, "60", 1, 86400),
    STR("websocket.certificate", tls_certificate, NULL, CONF_NULLABLE | CONF_PATH),
    STR("websocket.private_key", tls_private_key, NULL, CONF_NULLABLE | CONF_PATH),

    STR("auth.host", auth_host, "localhost", 0),
    NUM("auth.port", CONF_PORT, auth_port, "9497", 1, 65535),
    /* wazo writes `prefix: null` for "no prefix". */
    STR("auth.prefix", auth_prefix, "/api/auth", CONF_NULL_EMPTY),
    { "auth.https", CONF_BOOL, F(auth_https), "false", 0, 0, NULL, 0 },
    STR("auth.username", auth_username, NULL, CONF_NULLABLE),
    STR("auth.password", auth_password, NULL, CONF_NULLABLE),
    STR("auth.key_file", auth_key_file, NULL, CONF_NULLABLE | CONF_PATH),
    NUM("auth.timeout", CONF_DURATION, auth_timeout, "10", 1, 300),
    ENUM("auth_check_strategy", auth_check_strategy, "dynamic", conf__strategies),
    NUM("auth_check_static_interval", CONF_DURATION, auth_check_static_interval, "60", 1, 86400),
    STR("tenbus.auth_ca_file", auth_ca_file, NULL, CONF_NULLABLE | CONF_PATH),

    STR("bus.host", bus_host, "localhost", 0),
    NUM("bus.port", CONF_PORT, bus_port, "5672", 1, 65535),
    STR("bus.username", bus_username, "guest", 0),
    STR("bus.password", bus_password, "guest", 0),
    STR("bus.vhost", bus_vhost, "/", 0),
    STR("bus.exchange_name", bus_exchange_name, "wazo-headers", 0),
    STR("bus.exchange_type", bus_exchange_type, "headers", 0),

    ENUM("tenbus.bus_backend", bus_backend, "embedded", conf__bus_kinds),
    NUM("tenbus.bus_batch_us", CONF_UINT, bus_batch_us, "200", 0, 100000),
    NUM("tenbus.bus_wait_timeout", CONF_DURATION, bus_wait_timeout, "5", 0, 300),
    ENUM("tenbus.auth_backend", auth_backend, "file", conf__auth_kinds),
    STR("tenbus.tokens_file", tokens_file, NULL, CONF_NULLABLE | CONF_PATH),
    STR("tenbus.master_tenant_uuid", master_tenant_uuid, NULL, CONF_NULLABLE),
    STR("tenbus.tls_ciphers", tls_ciphers, NULL, CONF_NULLABLE),
    NUM("tenbus.workers", CONF_UINT, workers, "0", 0, 1024),
    { "tenbus.catalogue", CONF_PATHS, F(catalogue), NULL, 0, 0, NULL, CONF_PATH },
    { "tenbus.catalogue_strict", CONF_BOOL, F(catalogue_strict), "false", 0, 0, NULL, 0 },
    NUM("tenbus.limits.max_frame_size", CONF_SIZE, limits.max_frame_size, "1MiB", 1 * KIB, GIB),
    NUM("tenbus.limits.max_message_size", CONF_SIZE, limits.max_message_size, "1MiB", 1 * KIB, GIB),
    NUM("tenbus.limits.max_header_size", CONF_SIZE, limits.max_header_size, "8192", 1 * KIB, 1 * MIB),
    NUM("tenbus.limits.handshake_timeout", CONF_DURATION, limits.handshake_timeout, "10", 1, 3600),
    NUM("tenbus.limits.max_connections", CONF_UINT, limits.max_connections, "0", 0, 100000000),
    NUM("tenbus.limits.max_subscriptions", CONF_UINT, limits.max_subscriptions, "256", 1, 1000000),
    NUM("tenbus.limits.max_queue_bytes", CONF_SIZE, limits.max_queue_bytes, "4MiB", 4 * KIB, 64 * GIB),
    NUM("tenbus.limits.max_body_size", CONF_SIZE, limits.max_body_size, "1MiB", 1 * KIB, GIB),
    NUM("tenbus.limits.ping_timeout", CONF_DURATION, limits.ping_timeout, "0", 0, 86400),
};
#define CONF__N (sizeof conf__opts / sizeof conf__opts[0])

/* ---- conversions ---------------------------------------------------------- */

static const conf__opt *conf__find(const char *key)
{
    for (size_t i = 0; i < CONF__N; i++)
        if (strcmp(conf__opts[i].key, key) == 0)
            return &conf__opts[i];
    return NULL;
}

/* True if `key` names a mapping that holds options ("auth", "tenbus.limits"). */
static bool conf__is_section(const char *key)
{
    size_t len = strlen(key);
    for (size_t i = 0; i < CONF__N; i++)
        if (strncmp(conf__opts[i].key, key, len) == 0 && conf__opts[i].key[len] == '.')
            return true;
    return false;
}

/* How error messages show the offending value. */
static void conf__repr(const json_t *v, char *buf, size_t len)
{
    switch (json_typeof(v)) {
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t n = strlen(s);
        if (n > 60)
            snprintf(buf, len, "\"%.57s...\"", s);
        else
            snprintf(buf, len, "\"%s\"", s);
        break;
    }
    case JSON_INTEGER:
        snprintf(buf, len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        snprintf(buf, len, "%g", json_real_value(v));
        break;
    case JSON_TRUE:
        snprintf(buf, len, "true");
        break;
    case JSON_FALSE:
        snprintf(buf, len, "false");
        break;
    case JSON_NULL:
        snprintf(buf, len, "null");
        break;
    case JSON_OBJECT:
        snprintf(buf, len, "a mapping");
        break;
    case JSON_ARRAY:
        snprintf(buf, len, "a list");
        break;
    }
}

static void conf__expected(const conf__opt *o, char *why, size_t len)
{
    switch (o->type) {
    case CONF_STRING:
        snprintf(why, len, "expected a string");
        break;
    case CONF_BOOL:
        snprintf(why, len, "expected true or false");
        break;
    case CONF_UINT:
    case CONF_PORT:
        snprintf(why, len, "expected an integer %" PRIu64 "-%" PRIu64, o->min, o->max);
        break;
    case CONF_DURATION:
        snprintf(why, len, "expected a duration of %" PRIu64 "-%" PRIu64
                 " seconds (suffix s, m or h allowed)", o->min, o->max);
        break;
    case CONF_SIZE:
        snprintf(why, len, "expected a size of %" PRIu64 "-%" PRIu64
                 " bytes (suffix k, M or G allowed)", o->min, o->max);
        break;
    case CONF_ENUM: {
        size_t n = (size_t)snprintf(why, len, "expected one of");
        for (const conf__choice *c = o->choices; c->name && n < len; c++)
            n += (size_t)snprintf(why + n, len - n, "%s %s", c == o->choices ? "" : ",", c->name);
        break;
    }
    case CONF_LEVEL:
        snprintf(why, len, "expected one of debug, info, warning, error");
        break;
    case CONF_PATHS:
        snprintf(why, len, "expected a path or a list of paths");
        break;
    }
}

typedef struct conf__unit {
    const char *suffix;
    uint64_t mult;
} conf__unit;

/* Parses "<digits>[ ]<suffix>" where suffix is looked up in `units`.
 * Returns 0 and the scaled value, or -1 (syntax or overflow). */
static int conf__parse_units(const char *s, const conf__unit *units, uint64_t *out)
{
    uint64_t v = 0;
    const char *p = s;
    if (*p < '0' || *p > '9')
        return -1;
    for (; *p >= '0' && *p <= '9'; p++) {
        if (v > (UINT64_MAX - 9) / 10)
            return -1;
        v = v * 10 + (uint64_t)(*p - '0');
    }
    while (*p == ' ')
        p++;
    for (; units->suffix; units++) {
        if (strcmp(p, units->suffix) == 0) {
            if (units->mult && v > UINT64_MAX / units->mult)
                return -1;
            *out = v * units->mult;
            return 0;
        }
    }
    return -1;
}

static const conf__unit conf__plain[] = { { "", 1 }, { NULL, 0 } };
static const conf__unit conf__seconds[] = {
    { "", 1 }, { "s", 1 }, { "m", 60 }, { "h", 3600 }, { NULL, 0 } };
static const conf__unit conf__bytes[] = {
    { "", 1 }, { "b", 1 }, { "B", 1 },
    { "k", KIB }, { "K", KIB }, { "KiB", KIB }, { "kB", KIB }, { "KB", KIB },
    { "m", MIB }, { "M", MIB }, { "MiB", MIB }, { "MB", MIB },
    { "g", GIB }, { "G", GIB }, { "GiB", GIB }, { "GB", GIB }, { NULL, 0 } };

static int conf__number(const conf__opt *o, const json_t *v, uint64_t *out)
{
    uint64_t n;
    if (json_is_integer(v)) {
        if (json_integer_value(v) < 0)
            return -1;
        n = (uint64_t)json_integer_value(v);
    } else if (json_is_string(v)) {
        const conf__unit *u = o->type == CONF_SIZE       ? conf__bytes
                              : o->type == CONF_DURATION ? conf__seconds
                                                         : conf__plain;
        if (conf__parse_units(json_string_value(v), u, &n) < 0)
            return -1;
    } else {
        return -1;
    }
    if (n < o->min || n > o->max)
        return -1;
    *out = n;
    return 0;
}

static void conf__store_uint(void *slot, size_t size, uint64_t v)
{
    switch (size) {
    case 1: *(uint8_t *)slot = (uint8_t)v; break;
    case 2: *(uint16_t *)slot = (uint16_t)v; break;
    case 4: *(uint32_t *)slot = (uint32_t)v; break;
    default: *(uint64_t *)slot = v; break;
    }
}

/* `base` is the directory relative paths resolve against, or NULL (flags:
 * relative to the working directory). Returns a new string, NULL on ENOMEM. */
static char *conf__path(const char *s, const char *base)
{
    if (!base || s[0] == '/' || s[0] == '\0')
        return strdup(s);
    size_t n = strlen(base) + 1 + strlen(s) + 1;
    char *r = malloc(n);
    if (r)
        snprintf(r, n, "%s/%s", base, s);
    return r;
}

static void conf__free_paths(char **list)
{
    for (size_t i = 0; list && list[i]; i++)
        free(list[i]);
    free(list);
}

/* Converts `v` for option `o` and stores it in cfg. Returns 0, or -1 with
 * `why` holding the complete reason ("expected ..., got ..."). */
static int conf__apply(tbd_config *cfg, const conf__opt *o, const json_t *v, const char *base,
                       char *why, size_t whylen)
{
    void *slot = (char *)cfg + o->off;
    uint64_t n;
    char repr[80];

    switch (o->type) {
    case CONF_STRING: {
        char *s = NULL, num[32];
        const char *src = NULL;
        if (json_is_string(v)) {
            src = json_string_value(v);
        } else if (json_is_integer(v)) {
            /* `password: 123456` is an integer to YAML; a string to us. */
            snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
            src = num;
        } else if (json_is_null(v) && (o->flags & CONF_NULL_EMPTY)) {
            src = "";
        } else if (!(json_is_null(v) && (o->flags & CONF_NULLABLE))) {
            goto bad;
        }
        if (src) {
            s = (o->flags & CONF_PATH) ? conf__path(src, base) : strdup(src);
            if (!s) {
                snprintf(why, whylen, "out of memory");
                return -1;
            }
        }
        free(*(char **)slot);
        *(char **)slot = s;
        return 0;
    }
    case CONF_BOOL:
        if (!json_is_boolean(v))
            goto bad;
        *(bool *)slot = json_is_true(v);
        return 0;
    case CONF_UINT:
    case CONF_PORT:
    case CONF_DURATION:
    case CONF_SIZE:
        if (conf__number(o, v, &n) < 0)
            goto bad;
        conf__store_uint(slot, o->size, n);
        return 0;
    case CONF_ENUM:
        if (json_is_string(v)) {
            for (const conf__choice *c = o->choices; c->name; c++) {
                if (strcasecmp(c->name, json_string_value(v)) == 0) {
                    conf__store_uint(slot, o->size, (uint64_t)c->value);
                    return 0;
                }
            }
        }
        goto bad;
    case CONF_PATHS: {
        size_t cnt = json_is_array(v) ? json_array_size(v) : 1;
        if (!json_is_null(v) && !json_is_string(v) && !(json_is_array(v) && cnt))
            goto bad;
        for (size_t i = 0; json_is_array(v) && i < cnt; i++)
            if (!json_is_string(json_array_get(v, i)))
                goto bad;
        char **list = calloc(cnt + 1, sizeof(*list));
        for (size_t i = 0; list && !json_is_null(v) && i < cnt; i++) {
            const json_t *item = json_is_array(v) ? json_array_get(v, i) : v;
            if (!(list[i] = conf__path(json_string_value(item), base))) {
                conf__free_paths(list);
                list = NULL;
            }
        }
        if (!list) {
            snprintf(why, whylen, "out of memory");
            return -1;
        }
        if (json_is_null(v)) {
            free(list);
            list = NULL;
        }
        conf__free_paths(*(char ***)slot);
        *(char ***)slot = list;
        return 0;
    }
    case CONF_LEVEL: {
        static const char *const names[] = { "debug", "info", "warning", "error" };
        tbd_log_level lvl;
        if (!json_is_string(v) || tbd_log_parse_level(json_string_value(v), &lvl) < 0)
            goto bad;
        char *s = strdup(names[lvl]);
        if (!s) {
            snprintf(why, whylen, "out of memory");
            return -1;
        }
        free(*(char **)slot);
        *(char **)slot = s;
        return 0;
    }
    }
bad:
    conf__expected(o, why, whylen);
    conf__repr(v, repr, sizeof repr);
    size_t used = strlen(why);
    snprintf(why + used, whylen - used, ", got %s", repr);
    return -1;
}

/* Types a command-line value: verbatim for strings, as a YAML plain scalar
 * otherwise (so "true", "0x10", "64k" mean what they mean in the file). */
static json_t *conf__typed(const conf__opt *o, const char *value, char *why, size_t whylen)
{
    json_t *v = o->type == CONF_STRING || o->type == CONF_PATHS ? json_string(value)
                                       : tb__yaml_scalar(value, strlen(value), why, whylen);
    if (!v && (o->type == CONF_STRING || o->type == CONF_PATHS))
        snprintf(why, whylen, "expected a string, got invalid UTF-8");
    return v;
}

/* ---- public ------------------------------------------------------------- */

void tbd_config_free(tbd_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < CONF__N; i++)
        if (conf__opts[i].type == CONF_STRING || conf__opts[i].type == CONF_LEVEL)
            free(*(char **)((char *)cfg + conf__opts[i].off));
        else if (conf__opts[i].type == CONF_PATHS)
            conf__free_paths(*(char ***)((char *)cfg + conf__opts[i].off));
    free(cfg->config_file);
    memset(cfg, 0, sizeof *cfg);
}

void tbd_config_defaults(tbd_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    for (size_t i = 0; i < CONF__N; i++) {
        const conf__opt *o = &conf__opts[i];
        char why[256];
        if (!o->def)
            continue;
        /* Defaults are ours and tested to convert; only ENOMEM can fail
         * here, leaving the field at zero/NULL. */
        json_t *v = conf__typed(o, o->def, why, sizeof why);
        if (v)
            conf__apply(cfg, o, v, NULL, why, sizeof why);
        json_decref(v);
    }
}

static void conf__note(tbd_config *cfg, const char *key);

int tbd_config_set(tbd_config *cfg, const char *key, const char *value, char *err, size_t errlen)
{
    const conf__opt *o = key ? conf__find(key) : NULL;
    char why[256] = "out of memory";
    if (!o) {
        snprintf(err, errlen, "unknown configuration key %s", key ? key : "(null)");
        return -1;
    }
    if (!value) {
        snprintf(err, errlen, "%s: missing value", key);
        return -1;
    }
    json_t *v = conf__typed(o, value, why, sizeof why);
    int rc = v ? conf__apply(cfg, o, v, NULL, why, sizeof why) : -1;
    json_decref(v);
    if (rc < 0)
        snprintf(err, errlen, "%s: %s", key, why);
    else
        conf__note(cfg, o->key);
    return rc;
}

int tbd_config_set_kv(tbd_config *cfg, const char *kv, char *err, size_t errlen)
{
    const char *eq = kv ? strchr(kv, '=') : NULL;
    if (!eq) {
        snprintf(err, errlen, "expected key=value, got \"%s\"", kv ? kv : "");
        return -1;
    }
    char *key = strndup(kv, (size_t)(eq - kv));
    if (!key) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = tbd_config_set(cfg, key, eq + 1, err, errlen);
    free(key);
    return rc;
}

/* ---- backend selection ---------------------------------------------------- */

/* Records that a file or a flag set `key`: the backend choice depends on
 * what the operator wrote, not on the values (a default `bus.host` says
 * nothing, a written one says "this file describes a RabbitMQ"). */
static void conf__note(tbd_config *cfg, const char *key)
{
    if (strcmp(key, "tenbus.bus_backend") == 0)
        cfg->given |= TBD_GIVEN_BUS_BACKEND;
    else if (strcmp(key, "tenbus.auth_backend") == 0)
        cfg->given |= TBD_GIVEN_AUTH_BACKEND;
    else if (strcmp(key, "tenbus.tokens_file") == 0)
        cfg->given |= TBD_GIVEN_TOKENS_FILE;
    else if (strncmp(key, "auth.", 5) == 0)
        cfg->given |= TBD_GIVEN_AUTH_KEYS;
    else if (strncmp(key, "bus.", 4) == 0)
        cfg->given |= TBD_GIVEN_BUS_KEYS;
}

void tbd_config_pick_backends(tbd_config *cfg)
{
    unsigned g = cfg->given;
    bool auth_inferred = false;
    if (g & TBD_GIVEN_AUTH_BACKEND) {
        cfg->auth_why = "tenbus.auth_backend is set";
    } else if (g & TBD_GIVEN_TOKENS_FILE) {
        cfg->auth_backend = TBD_AUTH_FILE;
        cfg->auth_why = "tenbus.tokens_file is set";
    } else if (g & TBD_GIVEN_AUTH_KEYS) {
        cfg->auth_backend = TBD_AUTH_WAZO;
        cfg->auth_why = "auth.* keys set and no tenbus.tokens_file (wazo-websocketd configuration)";
        auth_inferred = true;
    } else {
        cfg->auth_backend = TBD_AUTH_FILE;
        cfg->auth_why = "no auth.* key and no tenbus.auth_backend (embedded default)";
    }
    if (g & TBD_GIVEN_BUS_BACKEND) {
        cfg->bus_why = "tenbus.bus_backend is set";
    } else if (g & TBD_GIVEN_BUS_KEYS) {
        cfg->bus_backend = TBD_BUS_RABBITMQ;
        cfg->bus_why = "bus.* keys set and no tenbus.bus_backend";
    } else if (auth_inferred) {
        /* wazo-websocketd always consumes RabbitMQ; its file may rely on
         * the bus defaults (localhost:5672, guest) and name no bus key. */
        cfg->bus_backend = TBD_BUS_RABBITMQ;
        cfg->bus_why = "wazo-auth chosen from auth.* keys: a Wazo stack, RabbitMQ at bus.* (defaults)";
    } else {
        cfg->bus_backend = TBD_BUS_EMBEDDED;
        cfg->bus_why = "no bus.* key and no tenbus.bus_backend (embedded default)";
    }
}

/* ---- files -------------------------------------------------------------- */

typedef struct conf__file {
    const char *path;
    const char *base;         /* directory of path */
    json_t *lines;
    bool main;
    void (*warn)(const char *msg);
    char *err;
    size_t errlen;
} conf__file;

static void conf__warn(const conf__file *f, int line, const char *fmt, const char *key)
{
    char msg[512], text[400];
    if (!f->warn)
        return;
    snprintf(text, sizeof text, fmt, key);
    snprintf(msg, sizeof msg, "%s:%d: %s", f->path, line, text);
    f->warn(msg);
}

/* Appends ".key" to a dotted path and "/key" (RFC 6901-escaped) to a JSON
 * Pointer. Returns -1 if either does not fit. */
static int conf__child(char *dotted, size_t dlen, char *ptr, size_t plen, const char *key)
{
    size_t d = strlen(dotted), p = strlen(ptr);
    int n = snprintf(dotted + d, dlen - d, "%s%s", d ? "." : "", key);
    if (n < 0 || (size_t)n >= dlen - d)
        return -1;
    if (p + 1 >= plen)
        return -1;
    ptr[p++] = '/';
    for (; *key; key++) {
        const char *esc = *key == '~' ? "~0" : *key == '/' ? "~1" : NULL;
        size_t need = esc ? 2 : 1;
        if (p + need >= plen)
            return -1;
        if (esc) {
            memcpy(ptr + p, esc, 2);
        } else {
            ptr[p] = *key;
        }
        p += need;
    }
    ptr[p] = '\0';
    return 0;
}

static int conf__walk(tbd_config *cfg, const conf__file *f, const json_t *obj, char *dotted,
                      size_t dlen, char *ptr, size_t plen)
{
    const char *key;
    json_t *v;
    size_t d0 = strlen(dotted), p0 = strlen(ptr);

    json_object_foreach((json_t *)obj, key, v) {
        dotted[d0] = '\0';
        ptr[p0] = '\0';
        if (conf__child(dotted, dlen, ptr, plen, key) < 0) {
            /* Longer than any option: cannot be one of ours. */
            conf__warn(f, tb__yaml_line(f->lines, ptr), "unused key %s", "(overlong key)");
            continue;
        }
        int line = tb__yaml_line(f->lines, ptr);
        const conf__opt *o = conf__find(dotted);
        if (o) {
            char why[256];
            if ((o->flags & CONF_MAIN_ONLY) && !f->main) {
                conf__warn(f, line, "%s is only read from the main configuration file",
                           dotted);
                continue;
            }
            if (conf__apply(cfg, o, v, f->base, why, sizeof why) < 0) {
                snprintf(f->err, f->errlen, "%s:%d: %s: %s", f->path, line, dotted, why);
                return -1;
            }
            conf__note(cfg, o->key);
        } else if (conf__is_section(dotted)) {
            if (json_is_null(v))
                continue;   /* "auth:" with nothing under it */
            if (!json_is_object(v)) {
                char repr[80];
                conf__repr(v, repr, sizeof repr);
                snprintf(f->err, f->errlen, "%s:%d: %s: expected a mapping, got %s", f->path,
                         line, dotted, repr);
                return -1;
            }
            if (conf__walk(cfg, f, v, dotted, dlen, ptr, plen) < 0)
                return -1;
        } else {
            /* An auth.* / bus.* key we do not use still says what the
             * file describes. */
            conf__note(cfg, dotted);
            conf__warn(f, line, "unused key %s", dotted);
        }
    }
    dotted[d0] = '\0';
    ptr[p0] = '\0';
    return 0;
}

static int conf__load_file(tbd_config *cfg, const char *path, bool main_file,
                           void (*warn)(const char *), char *err, size_t errlen)
{
    json_t *lines = NULL;
    json_t *doc = tb__yaml_load_file_lines(path, &lines, err, errlen);
    if (!doc)
        return -1;

    char *base = strdup(path);
    int rc = -1;
    if (!base) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto out;
    }
    char *slash = strrchr(base, '/');
    if (slash == base)
        slash[1] = '\0';            /* "/conf.yml" -> "/" */
    else if (slash)
        *slash = '\0';
    else
        strcpy(base, ".");          /* fits: base holds at least one char */

    if (!json_is_object(doc)) {
        snprintf(err, errlen, "%s:1: expected a mapping at the top level", path);
        goto out;
    }
    conf__file f = { path, base, lines, main_file, warn, err, errlen };
    char dotted[256] = "", ptr[512] = "";
    rc = conf__walk(cfg, &f, doc, dotted, sizeof dotted, ptr, sizeof ptr);
out:
    free(base);
    json_decref(doc);
    json_decref(lines);
    return rc;
}

static bool conf__is_yaml_name(const char *name)
{
    size_t n = strlen(name);
    if (name[0] == '.')
        return false;   /* hidden files: editor and package-manager leftovers */
    return (n > 4 && strcmp(name + n - 4, ".yml") == 0) ||
           (n > 5 && strcmp(name + n - 5, ".yaml") == 0);
}

static int conf__cmp_names(const void *a, const void *b)
{
    /* Byte order, not the locale's collation: "10-x" sorts the same
     * everywhere the daemon runs. */
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int conf__load_dir(tbd_config *cfg, const char *dir, void (*warn)(const char *),
                          char *err, size_t errlen)
{
    DIR *d = opendir(dir);
    if (!d) {
        /* Like wazo: an absent override directory just means no overrides. */
        if (errno == ENOENT || errno == ENOTDIR)
            return 0;
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = -1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!conf__is_yaml_name(e->d_name))
            continue;
        if (n == cap) {
            size_t ncap = cap ? 2 * cap : 16;
            char **nn = realloc(names, ncap * sizeof *nn);
            if (!nn)
                goto oom;
            names = nn;
            cap = ncap;
        }
        if (!(names[n] = strdup(e->d_name)))
            goto oom;
        n++;
    }
    if (n)  /* qsort's base must not be NULL, even for no elements */
        qsort(names, n, sizeof *names, conf__cmp_names);
    rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t len = strlen(dir) + 1 + strlen(names[i]) + 1;
        char *path = malloc(len);
        if (!path)
            goto oom;
        snprintf(path, len, "%s/%s", dir, names[i]);
        struct stat st;
        if (stat(path, &st) == 0 && S_ISREG(st.st_mode))
            rc = conf__load_file(cfg, path, false, warn, err, errlen);
        free(path);
    }
    goto out;
oom:
    snprintf(err, errlen, "%s: out of memory", dir);
    rc = -1;
out:
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    closedir(d);
    return rc;
}

int tbd_config_load(tbd_config *cfg, const char *path, char *err, size_t errlen,
                    void (*warn)(const char *msg))
{
    tbd_config fresh;
    tbd_config_defaults(&fresh);

    if (path) {
        if (!(fresh.config_file = strdup(path))) {
            snprintf(err, errlen, "%s: out of memory", path);
            goto fail;
        }
        if (conf__load_file(&fresh, path, true, warn, err, errlen) < 0)
            goto fail;
    }
    if (fresh.extra_config_files &&
        conf__load_dir(&fresh, fresh.extra_config_files, warn, err, errlen) < 0)
        goto fail;

    const char *env = getenv("XIVO_UUID");
    if (env && *env) {
        char *u = strdup(env);
        if (!u) {
            snprintf(err, errlen, "XIVO_UUID: out of memory");
            goto fail;
        }
        free(fresh.uuid);
        fresh.uuid = u;
    }
    *cfg = fresh;
    return 0;
fail:
    tbd_config_free(&fresh);
    return -1;
}
