#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "conf/config.h"
#include "tmpfiles.h"

/* Warnings collected by the `warn` callback. */
static char warnings[16][512];
static int n_warnings;

static void collect(const char *msg)
{
    if (n_warnings < 16)
        snprintf(warnings[n_warnings++], sizeof warnings[0], "%s", msg);
}

static int setup(void **state)
{
    n_warnings = 0;
    unsetenv("XIVO_UUID");
    return 0;
}

static void check_defaults(const tbd_config *c)
{
    assert_null(c->uuid);
    assert_false(c->debug);
    assert_string_equal(c->log_level, "info");
    assert_null(c->log_file);
    assert_null(c->extra_config_files);
    assert_string_equal(c->listen, "127.0.0.1");
    assert_int_equal(c->port, 9502);
    assert_int_equal(c->ping_interval, 60);
    assert_string_equal(c->auth_host, "localhost");
    assert_int_equal(c->auth_port, 9497);
    assert_string_equal(c->auth_prefix, "/api/auth");
    assert_false(c->auth_https);
    assert_null(c->auth_username);
    assert_null(c->auth_password);
    assert_null(c->auth_key_file);
    assert_int_equal(c->auth_timeout, 10);
    assert_int_equal(c->auth_check_strategy, TBD_CHECK_DYNAMIC);
    assert_int_equal(c->auth_check_static_interval, 60);
    assert_string_equal(c->bus_host, "localhost");
    assert_int_equal(c->bus_port, 5672);
    assert_string_equal(c->bus_username, "guest");
    assert_string_equal(c->bus_password, "guest");
    assert_string_equal(c->bus_vhost, "/");
    assert_string_equal(c->bus_exchange_name, "wazo-headers");
    assert_string_equal(c->bus_exchange_type, "headers");
    assert_int_equal(c->bus_backend, TBD_BUS_EMBEDDED);
    assert_int_equal(c->auth_backend, TBD_AUTH_FILE);
    assert_null(c->tokens_file);
    assert_null(c->master_tenant_uuid);
    assert_int_equal(c->workers, 0);
    assert_int_equal(c->limits.max_frame_size, 1024 * 1024);
    assert_int_equal(c->limits.max_message_size, 1024 * 1024);
    assert_int_equal(c->limits.max_header_size, 8192);
    assert_int_equal(c->limits.handshake_timeout, 10);
    assert_int_equal(c->limits.max_connections, 0);
    assert_int_equal(c->limits.max_subscriptions, 256);
    assert_int_equal(c->limits.max_queue_bytes, 4 * 1024 * 1024);
    assert_int_equal(c->limits.max_body_size, 1024 * 1024);
    assert_int_equal(c->limits.ping_timeout, 0);
}

static void test_defaults(void **state)
{
    tbd_config c;
    char err[256];
    tbd_config_defaults(&c);
    check_defaults(&c);
    tbd_config_free(&c);

    assert_int_equal(tbd_config_load(&c, NULL, err, sizeof err, collect), 0);
    check_defaults(&c);
    assert_null(c.config_file);
    tbd_config_free(&c);
    tbd_config_free(&c);   /* idempotent on a freed struct */
}

static const char *const wazo_file =
    "# /etc/wazo-websocketd/config.yml as a Wazo stack ships it, plus tenbus keys\n"
    "debug: true\n"
    "log_level: WARNING\n"
    "log_file: /var/log/wazo-websocketd.log\n"
    "user: wazo-websocketd\n"                                     /* 5 */
    "process_workers: 4\n"
    "worker_connections: 1000\n"
    "uuid: 3a0e4ad4-2b44-4a4c-9b0e-7f5d0d6b9a11\n"
    "websocket:\n"
    "  listen: 0.0.0.0\n"                                         /* 10 */
    "  port: 9602\n"
    "  ping_interval: 30\n"
    "  certificate: null\n"
    "  private_key: /etc/x.key\n"
    "auth:\n"                                                     /* 15 */
    "  host: auth.example\n"
    "  port: 9497\n"
    "  prefix: null\n"
    "  https: true\n"
    "  username: websocketd\n"                                    /* 20 */
    "  password: 123456\n"
    "  key_file: /var/lib/wazo-auth-keys/wazo-websocketd-key.yml\n"
    "  timeout: 5\n"
    "auth_check_strategy: static\n"
    "auth_check_static_interval: 2m\n"                            /* 25 */
    "bus:\n"
    "  host: rabbit\n"
    "  port: 5673\n"
    "  username: u\n"
    "  password: p\n"                                             /* 30 */
    "  vhost: wazo\n"
    "  exchange_name: xchg\n"
    "  exchange_type: headers\n"
    "rest_api: {https: {listen: 0.0.0.0}}\n"
    "consul:\n"                                                   /* 35 */
    "  host: localhost\n"
    "service_discovery: {enabled: false}\n"
    "tenbus:\n"
    "  bus_backend: rabbitmq\n"
    "  auth_backend: wazo-auth\n"                                 /* 40 */
    "  tokens_file: /etc/tenbus/tokens.yml\n"
    "  master_tenant_uuid: m-1\n"
    "  workers: 3\n"
    "  mystery: 1\n"
    "  limits:\n"                                                 /* 45 */
    "    max_frame_size: 128k\n"
    "    max_message_size: 1 MiB\n"
    "    max_header_size: 16384\n"
    "    handshake_timeout: 5\n"
    "    max_connections: 50000\n"                                /* 50 */
    "    max_subscriptions: 64\n"
    "    max_queue_bytes: 8M\n"
    "    max_body_size: 512KiB\n";

static void test_full_file(void **state)
{
    tf_dir t;
    tbd_config c;
    char err[512];
    assert_int_equal(tf_init(&t), 0);
    const char *p = tf_write(&t, "config.yml", wazo_file);
    if (tbd_config_load(&c, p, err, sizeof err, collect) < 0)
        fail_msg("%s", err);

    assert_string_equal(c.config_file, p);
    assert_true(c.debug);
    assert_string_equal(c.log_level, "warning");
    assert_string_equal(c.log_file, "/var/log/wazo-websocketd.log");
    assert_string_equal(c.uuid, "3a0e4ad4-2b44-4a4c-9b0e-7f5d0d6b9a11");
    assert_string_equal(c.listen, "0.0.0.0");
    assert_int_equal(c.port, 9602);
    assert_int_equal(c.ping_interval, 30);
    assert_null(c.tls_certificate);
    assert_string_equal(c.tls_private_key, "/etc/x.key");
    assert_null(c.tls_ciphers);
    assert_string_equal(c.auth_host, "auth.example");
    assert_int_equal(c.auth_port, 9497);
    assert_string_equal(c.auth_prefix, "");
    assert_true(c.auth_https);
    assert_string_equal(c.auth_username, "websocketd");
    assert_string_equal(c.auth_password, "123456");
    assert_string_equal(c.auth_key_file, "/var/lib/wazo-auth-keys/wazo-websocketd-key.yml");
    assert_int_equal(c.auth_timeout, 5);
    assert_int_equal(c.auth_check_strategy, TBD_CHECK_STATIC);
    assert_int_equal(c.auth_check_static_interval, 120);
    assert_string_equal(c.bus_host, "rabbit");
    assert_int_equal(c.bus_port, 5673);
    assert_string_equal(c.bus_username, "u");
    assert_string_equal(c.bus_password, "p");
    assert_string_equal(c.bus_vhost, "wazo");
    assert_string_equal(c.bus_exchange_name, "xchg");
    assert_int_equal(c.bus_backend, TBD_BUS_RABBITMQ);
    assert_int_equal(c.auth_backend, TBD_AUTH_WAZO);
    assert_string_equal(c.tokens_file, "/etc/tenbus/tokens.yml");
    assert_string_equal(c.master_tenant_uuid, "m-1");
    assert_int_equal(c.workers, 3);
    assert_int_equal(c.limits.max_frame_size, 128 * 1024);
    assert_int_equal(c.limits.max_message_size, 1024 * 1024);
    assert_int_equal(c.limits.max_header_size, 16384);
    assert_int_equal(c.limits.handshake_timeout, 5);
    assert_int_equal(c.limits.max_connections, 50000);
    assert_int_equal(c.limits.max_subscriptions, 64);
    assert_int_equal(c.limits.max_queue_bytes, 8 * 1024 * 1024);
    assert_int_equal(c.limits.max_body_size, 512 * 1024);

    /* unused keys: warned with file and line, never fatal, subtrees once */
    static const char *const want[] = {
        ":5: unused key user",
        ":6: unused key process_workers",
        ":7: unused key worker_connections",
        ":34: unused key rest_api",
        ":35: unused key consul",
        ":37: unused key service_discovery",
        ":44: unused key tenbus.mystery",
    };
    assert_int_equal(n_warnings, sizeof want / sizeof want[0]);
    for (int i = 0; i < n_warnings; i++) {
        assert_true(strncmp(warnings[i], p, strlen(p)) == 0);
        assert_string_equal(warnings[i] + strlen(p), want[i]);
    }
    tbd_config_free(&c);

    /* a NULL warn callback is fine */
    assert_int_equal(tbd_config_load(&c, p, err, sizeof err, NULL), 0);
    tbd_config_free(&c);
    tf_cleanup(&t);
}

typedef struct {
    const char *text;
    const char *want;   /* the error after "<path>" */
} bad_case;

static void test_type_errors(void **state)
{
    static const bad_case cases[] = {
        { "debug: false\n"
          "log_level: info\n"
          "\n"
          "# the port\n"
          "websocket:\n"
          "  listen: 0.0.0.0\n"
          "  port: abc\n",
          ":7: websocket.port: expected an integer 1-65535, got \"abc\"" },
        { "websocket: {port: 0}\n", ":1: websocket.port: expected an integer 1-65535, got 0" },
        { "websocket: {port: 65536}\n", ":1: websocket.port: expected an integer 1-65535, got 65536" },
        { "websocket: {port: -1}\n", ":1: websocket.port: expected an integer 1-65535, got -1" },
        { "websocket: {port: 80.5}\n", ":1: websocket.port: expected an integer 1-65535, got 80.5" },
        { "websocket: {port: [1]}\n", ":1: websocket.port: expected an integer 1-65535, got a list" },
        { "debug: yes\n", ":1: debug: expected true or false, got \"yes\"" },
        { "debug: 1\n", ":1: debug: expected true or false, got 1" },
        { "auth_check_strategy: sometimes\n",
          ":1: auth_check_strategy: expected one of dynamic, static, got \"sometimes\"" },
        { "tenbus:\n  bus_backend: kafka\n",
          ":2: tenbus.bus_backend: expected one of embedded, rabbitmq, got \"kafka\"" },
        { "log_level: loud\n",
          ":1: log_level: expected one of debug, info, warning, error, got \"loud\"" },
        { "bus:\n  host: null\n", ":2: bus.host: expected a string, got null" },
        { "bus:\n  host: {a: 1}\n", ":2: bus.host: expected a string, got a mapping" },
        { "bus: 3\n", ":1: bus: expected a mapping, got 3" },
        { "tenbus:\n  limits: [1]\n", ":2: tenbus.limits: expected a mapping, got a list" },
        { "websocket:\n  ping_interval: 0\n",
          ":2: websocket.ping_interval: expected a duration of 1-86400 seconds (suffix s, m or h "
          "allowed), got 0" },
        { "tenbus:\n  limits:\n    max_frame_size: 12x\n",
          ":3: tenbus.limits.max_frame_size: expected a size of 1024-1073741824 bytes (suffix k, M "
          "or G allowed), got \"12x\"" },
        { "tenbus:\n  limits:\n    max_frame_size: 2G\n",
          ":3: tenbus.limits.max_frame_size: expected a size of 1024-1073741824 bytes (suffix k, M "
          "or G allowed), got \"2G\"" },
        { "tenbus:\n  limits:\n    max_header_size: 99999999999999999999999k\n",
          ":3: tenbus.limits.max_header_size: expected a size of 1024-1048576 bytes" },
        { "- a\n- b\n", ":1: expected a mapping at the top level" },
        { "a: [\n", ":2:1: " },
    };
    tf_dir t;
    tbd_config c;
    char err[512];
    assert_int_equal(tf_init(&t), 0);
    memset(&c, 0x5a, sizeof c);   /* must stay untouched on error */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char name[32];
        snprintf(name, sizeof name, "bad%zu.yml", i);
        const char *p = tf_write(&t, name, cases[i].text);
        err[0] = '\0';
        if (tbd_config_load(&c, p, err, sizeof err, collect) == 0)
            fail_msg("case %zu accepted", i);
        if (strncmp(err, p, strlen(p)) != 0 ||
            strncmp(err + strlen(p), cases[i].want, strlen(cases[i].want)) != 0)
            fail_msg("case %zu: got \"%s\", want \"<path>%s\"", i, err, cases[i].want);
        for (size_t b = 0; b < sizeof c; b++)
            assert_int_equal(((unsigned char *)&c)[b], 0x5a);
    }
    assert_int_equal(tbd_config_load(&c, tf_path(&t, "nope.yml"), err, sizeof err, NULL), -1);
    assert_non_null(strstr(err, "nope.yml: No such file"));
    tf_cleanup(&t);
}

static void test_extra_config_files(void **state)
{
    tf_dir t;
    tbd_config c;
    char err[512];
    assert_int_equal(tf_init(&t), 0);
    const char *main_path = tf_write(&t, "config.yml",
                                     "extra_config_files: conf.d\n"
                                     "websocket: {port: 1000, listen: 0.0.0.0}\n"
                                     "bus: {host: main}\n"
                                     "tenbus: {tokens_file: tokens.yml}\n");
    tf_mkdir(&t, "conf.d");
    /* written out of order: loading must sort by name */
    tf_write(&t, "conf.d/20-b.yaml", "websocket: {port: 3000}\nauth: {host: b}\n");
    tf_write(&t, "conf.d/10-a.yml",
             "websocket: {port: 2000}\nbus: {host: a}\nauth: {host: a}\n"
             "tenbus: {tokens_file: a-tokens.yml}\n");
    tf_write(&t, "conf.d/30-c.txt", "websocket: {port: 4000}\n");
    tf_write(&t, "conf.d/.hidden.yml", "websocket: {port: 5000}\n");
    tf_write(&t, "conf.d/25-extra.yml", "extra_config_files: /elsewhere\n");
    tf_mkdir(&t, "conf.d/40-dir.yml");
    if (tbd_config_load(&c, main_path, err, sizeof err, collect) < 0)
        fail_msg("%s", err);
    assert_int_equal(c.port, 3000);
    assert_string_equal(c.listen, "0.0.0.0");
    assert_string_equal(c.bus_host, "a");
    assert_string_equal(c.auth_host, "b");
    assert_string_equal(c.extra_config_files, tf_path(&t, "conf.d"));
    /* relative paths resolve against the directory of the file that set them */
    assert_string_equal(c.tokens_file, tf_path(&t, "conf.d/a-tokens.yml"));
    assert_int_equal(n_warnings, 1);
    assert_non_null(strstr(warnings[0], "25-extra.yml:1: extra_config_files is only read"));
    tbd_config_free(&c);

    /* an error in an override names that file */
    const char *bad = tf_write(&t, "conf.d/50-bad.yml", "\n\nbus:\n  port: big\n");
    assert_int_equal(tbd_config_load(&c, main_path, err, sizeof err, NULL), -1);
    char want[512];
    snprintf(want, sizeof want, "%s:4: bus.port: expected an integer 1-65535, got \"big\"", bad);
    assert_string_equal(err, want);
    tf_cleanup(&t);
}

/* Loads `text` (NULL: no file), applies the flags, picks the backends. */
static void picked(tf_dir *t, const char *text, const char *flag, tbd_bus_kind bus,
                   tbd_auth_kind auth, const char *bus_why, const char *auth_why)
{
    tbd_config c;
    char err[512];
    const char *path = text ? tf_write(t, "pick.yml", text) : NULL;
    if (tbd_config_load(&c, path, err, sizeof err, NULL) < 0)
        fail_msg("%s", err);
    if (flag && tbd_config_set_kv(&c, flag, err, sizeof err) < 0)
        fail_msg("%s", err);
    tbd_config_pick_backends(&c);
    assert_int_equal(c.bus_backend, bus);
    assert_int_equal(c.auth_backend, auth);
    assert_non_null(strstr(c.bus_why, bus_why));
    assert_non_null(strstr(c.auth_why, auth_why));
    tbd_config_free(&c);
}

static void test_backend_selection(void **state)
{
    tf_dir t;
    assert_int_equal(tf_init(&t), 0);
    /* no file: embedded */
    picked(&t, NULL, NULL, TBD_BUS_EMBEDDED, TBD_AUTH_FILE, "embedded default", "embedded default");
    /* wazo-websocketd's file: auth.key_file and bus, no tenbus key */
    picked(&t, "auth: {key_file: k.yml}\nbus: {port: 5673}\nprocess_workers: 1\n", NULL,
           TBD_BUS_RABBITMQ, TBD_AUTH_WAZO, "bus.* keys", "auth.* keys");
    /* auth section only: RabbitMQ at the bus defaults */
    picked(&t, "auth: {host: a}\n", NULL, TBD_BUS_RABBITMQ, TBD_AUTH_WAZO,
           "wazo-auth chosen from auth.* keys", "auth.* keys");
    /* an auth key tenbusd does not use still counts */
    picked(&t, "auth: {verify_certificate: false}\n", NULL, TBD_BUS_RABBITMQ, TBD_AUTH_WAZO,
           "wazo-auth chosen", "auth.* keys");
    /* a tokens file wins over auth.* keys; bus.* alone means RabbitMQ */
    picked(&t, "auth: {host: a}\nbus: {host: b}\ntenbus: {tokens_file: t.yml}\n", NULL,
           TBD_BUS_RABBITMQ, TBD_AUTH_FILE, "bus.* keys", "tokens_file");
    picked(&t, "auth: {host: a}\ntenbus: {tokens_file: t.yml}\n", NULL,
           TBD_BUS_EMBEDDED, TBD_AUTH_FILE, "embedded default", "tokens_file");
    /* explicit tenbus keys win; explicit wazo-auth does not pull RabbitMQ in */
    picked(&t, "auth: {host: a}\nbus: {host: b}\ntenbus: {bus_backend: embedded}\n", NULL,
           TBD_BUS_EMBEDDED, TBD_AUTH_WAZO, "tenbus.bus_backend", "auth.* keys");
    picked(&t, "tenbus: {auth_backend: wazo-auth}\n", NULL, TBD_BUS_EMBEDDED, TBD_AUTH_WAZO,
           "embedded default", "tenbus.auth_backend");
    /* flags count like file keys */
    picked(&t, "auth: {host: a}\n", "tenbus.tokens_file=x.yml", TBD_BUS_EMBEDDED, TBD_AUTH_FILE,
           "embedded default", "tokens_file");
    picked(&t, NULL, "bus.host=h", TBD_BUS_RABBITMQ, TBD_AUTH_FILE, "bus.* keys", "embedded default");
    /* "auth:" with nothing under it says nothing */
    picked(&t, "auth:\nbus:\n", NULL, TBD_BUS_EMBEDDED, TBD_AUTH_FILE, "embedded default",
           "embedded default");
    tf_cleanup(&t);
}

static void test_missing_extra_dir(void **state)
{
    tf_dir t;
    tbd_config c;
    char err[512];
    assert_int_equal(tf_init(&t), 0);
    const char *p = tf_write(&t, "config.yml",
                             "extra_config_files: /nonexistent/tenbus/conf.d\n"
                             "websocket: {certificate: tls/cert.pem, private_key: key.pem}\n"
                             "tenbus: {tokens_file: tokens.yml, tls_ciphers: HIGH}\n");
    if (tbd_config_load(&c, p, err, sizeof err, collect) < 0)
        fail_msg("%s", err);
    assert_string_equal(c.extra_config_files, "/nonexistent/tenbus/conf.d");
    assert_string_equal(c.tokens_file, tf_path(&t, "tokens.yml"));
    assert_string_equal(c.tls_certificate, tf_path(&t, "tls/cert.pem"));
    assert_string_equal(c.tls_private_key, tf_path(&t, "key.pem"));
    assert_string_equal(c.tls_ciphers, "HIGH");
    assert_int_equal(n_warnings, 0);
    tbd_config_free(&c);
    tf_cleanup(&t);
}

static void test_xivo_uuid(void **state)
{
    tf_dir t;
    tbd_config c;
    char err[512];
    assert_int_equal(tf_init(&t), 0);
    const char *p = tf_write(&t, "config.yml", "uuid: from-file\n");
    setenv("XIVO_UUID", "from-env", 1);
    assert_int_equal(tbd_config_load(&c, p, err, sizeof err, NULL), 0);
    assert_string_equal(c.uuid, "from-env");
    tbd_config_free(&c);
    assert_int_equal(tbd_config_load(&c, NULL, err, sizeof err, NULL), 0);
    assert_string_equal(c.uuid, "from-env");
    tbd_config_free(&c);
    setenv("XIVO_UUID", "", 1);    /* empty = unset */
    assert_int_equal(tbd_config_load(&c, p, err, sizeof err, NULL), 0);
    assert_string_equal(c.uuid, "from-file");
    tbd_config_free(&c);
    unsetenv("XIVO_UUID");
    tf_cleanup(&t);
}

static void test_set(void **state)
{
    tbd_config c;
    char err[256];
    tbd_config_defaults(&c);

    assert_int_equal(tbd_config_set(&c, "websocket.port", "9600", err, sizeof err), 0);
    assert_int_equal(c.port, 9600);
    assert_int_equal(tbd_config_set(&c, "websocket.port", "abc", err, sizeof err), -1);
    assert_string_equal(err, "websocket.port: expected an integer 1-65535, got \"abc\"");
    assert_int_equal(c.port, 9600);
    assert_int_equal(tbd_config_set(&c, "debug", "true", err, sizeof err), 0);
    assert_true(c.debug);
    assert_int_equal(tbd_config_set(&c, "debug", "nope", err, sizeof err), -1);
    assert_string_equal(err, "debug: expected true or false, got \"nope\"");
    assert_int_equal(tbd_config_set(&c, "log_level", "WARN", err, sizeof err), 0);
    assert_string_equal(c.log_level, "warning");
    /* strings are verbatim: no YAML typing, no path resolution */
    assert_int_equal(tbd_config_set(&c, "uuid", "0x10", err, sizeof err), 0);
    assert_string_equal(c.uuid, "0x10");
    assert_int_equal(tbd_config_set(&c, "tenbus.tokens_file", "rel/tokens.yml", err, sizeof err), 0);
    assert_string_equal(c.tokens_file, "rel/tokens.yml");
    assert_int_equal(tbd_config_set(&c, "auth_check_strategy", "STATIC", err, sizeof err), 0);
    assert_int_equal(c.auth_check_strategy, TBD_CHECK_STATIC);
    assert_int_equal(tbd_config_set(&c, "tenbus.limits.max_queue_bytes", "16MiB", err, sizeof err), 0);
    assert_int_equal(c.limits.max_queue_bytes, 16 * 1024 * 1024);
    assert_int_equal(tbd_config_set(&c, "tenbus.limits.max_connections", "0x100", err, sizeof err), 0);
    assert_int_equal(c.limits.max_connections, 256);
    assert_int_equal(tbd_config_set(&c, "websocket.ping_interval", "1h", err, sizeof err), 0);
    assert_int_equal(c.ping_interval, 3600);

    assert_int_equal(tbd_config_set(&c, "websocket.nope", "1", err, sizeof err), -1);
    assert_string_equal(err, "unknown configuration key websocket.nope");
    assert_int_equal(tbd_config_set(&c, "websocket", "1", err, sizeof err), -1);
    assert_int_equal(tbd_config_set(&c, "uuid", NULL, err, sizeof err), -1);

    assert_int_equal(tbd_config_set_kv(&c, "bus.host=rabbit=1", err, sizeof err), 0);
    assert_string_equal(c.bus_host, "rabbit=1");
    assert_int_equal(tbd_config_set_kv(&c, "bus.host", err, sizeof err), -1);
    assert_string_equal(err, "expected key=value, got \"bus.host\"");
    assert_int_equal(tbd_config_set_kv(&c, "bus.port=", err, sizeof err), -1);
    assert_string_equal(err, "bus.port: expected an integer 1-65535, got null");
    tbd_config_free(&c);
}

typedef struct {
    const char *text;
    uint64_t want;
} size_case;

static void test_sizes(void **state)
{
    static const size_case cases[] = {
        { "4096", 4096 }, { "4k", 4096 }, { "4K", 4096 }, { "4KiB", 4096 }, { "4 KiB", 4096 },
        { "4kB", 4096 }, { "2m", 2 << 20 }, { "2M", 2 << 20 }, { "2MiB", 2 << 20 },
        { "1G", 1ULL << 30 }, { "1GiB", 1ULL << 30 }, { "65536B", 65536 }, { "0x2000", 8192 },
    };
    static const char *const bad[] = { "1023", "4 k b", "k", "-4k", "4.5k", "4kk", "2G", "4 TiB",
                                       "" };
    tbd_config c;
    char err[256];
    tbd_config_defaults(&c);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        if (tbd_config_set(&c, "tenbus.limits.max_frame_size", cases[i].text, err, sizeof err) < 0)
            fail_msg("%s: %s", cases[i].text, err);
        assert_int_equal(c.limits.max_frame_size, cases[i].want);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (tbd_config_set(&c, "tenbus.limits.max_frame_size", bad[i], err, sizeof err) == 0)
            fail_msg("%s: accepted", bad[i]);
    /* 32-bit fields take sizes too, bounded by their own range */
    assert_int_equal(tbd_config_set(&c, "tenbus.limits.max_header_size", "1M", err, sizeof err), 0);
    assert_int_equal(c.limits.max_header_size, 1 << 20);
    assert_int_equal(tbd_config_set(&c, "tenbus.limits.max_header_size", "4G", err, sizeof err), -1);
    tbd_config_free(&c);
}

static void test_empty_and_null_sections(void **state)
{
    tf_dir t;
    tbd_config c;
    char err[512];
    assert_int_equal(tf_init(&t), 0);
    const char *p = tf_write(&t, "config.yml", "# nothing but comments\nauth:\nwebsocket: {}\n");
    if (tbd_config_load(&c, p, err, sizeof err, collect) < 0)
        fail_msg("%s", err);
    check_defaults(&c);
    tbd_config_free(&c);
    p = tf_write(&t, "empty.yml", "");
    assert_int_equal(tbd_config_load(&c, p, err, sizeof err, collect), 0);
    check_defaults(&c);
    assert_int_equal(n_warnings, 0);
    tbd_config_free(&c);
    tf_cleanup(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_defaults, setup),
        cmocka_unit_test_setup(test_full_file, setup),
        cmocka_unit_test_setup(test_type_errors, setup),
        cmocka_unit_test_setup(test_extra_config_files, setup),
        cmocka_unit_test_setup(test_backend_selection, setup),
        cmocka_unit_test_setup(test_missing_extra_dir, setup),
        cmocka_unit_test_setup(test_xivo_uuid, setup),
        cmocka_unit_test_setup(test_set, setup),
        cmocka_unit_test_setup(test_sizes, setup),
        cmocka_unit_test_setup(test_empty_and_null_sections, setup),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
