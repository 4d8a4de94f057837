/* tenbusd: the tenant-aware event bus and WebSocket gateway. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config.h"
#include "core/log.h"
#include "core/server.h"
#include "core/version.h"
#include "catalogue/catalogue.h"

static void usage(FILE *out)
{
    fprintf(out,
        "Usage: tenbusd [OPTIONS]\n"
        "\n"
        "Tenant-aware event bus and WebSocket gateway, compatible with wazo-websocketd.\n"
        "\n"
        "Options (flags override the configuration file):\n"
        "  -c, --config FILE        YAML configuration file (wazo-websocketd keys + tenbus:)\n"
        "  -d, --debug              log at debug level\n"
        "  -l, --listen ADDR        listen address            (websocket.listen, default 127.0.0.1)\n"
        "  -p, --port PORT          listen port               (websocket.port, default 9502)\n"
        "  -w, --workers N          worker threads, 0 = cores (tenbus.workers)\n"
        "  -t, --tokens-file FILE   tokens file of the file auth backend (tenbus.tokens_file)\n"
        "  -m, --master-tenant UUID master tenant uuid        (tenbus.master_tenant_uuid)\n"
        "  -u, --uuid UUID          this stack's uuid         (uuid; env XIVO_UUID)\n"
        "      --log-file FILE      log to FILE instead of stderr\n"
        "      --log-level LEVEL    debug, info, warning or error\n"
        "      --log-format FORMAT  text or json: one JSON object per line (tenbus.log_format)\n"
        "  -o, --set KEY=VALUE      set any configuration key, e.g. -o tenbus.limits.max_connections=5000\n"
        "      --check-config       load and validate the configuration, then exit\n"
        "  -h, --help               show this help\n"
        "  -V, --version            show the version\n"
        "\n"
        "Signals: SIGTERM/SIGINT close sessions with 1001 and exit; SIGHUP reloads the tokens\n"
        "file, the log level and the TLS certificate and reopens the log file.\n"
        "See docs/tenbusd.md for the configuration reference.\n");
}

static void warn_unused(const char *msg)
{
    tbd_log_debug("config: %s (ignored)", msg);
}

int main(int argc, char **argv)
{
    enum { OPT_LOG_FILE = 256, OPT_LOG_LEVEL, OPT_CHECK, OPT_LOG_FORMAT };
    static const struct option opts[] = {
        {"config", required_argument, NULL, 'c'},    {"debug", no_argument, NULL, 'd'},
        {"listen", required_argument, NULL, 'l'},    {"port", required_argument, NULL, 'p'},
        {"workers", required_argument, NULL, 'w'},   {"tokens-file", required_argument, NULL, 't'},
        {"master-tenant", required_argument, NULL, 'm'}, {"uuid", required_argument, NULL, 'u'},
        {"log-file", required_argument, NULL, OPT_LOG_FILE},
        {"log-level", required_argument, NULL, OPT_LOG_LEVEL},
        {"log-format", required_argument, NULL, OPT_LOG_FORMAT},
        {"set", required_argument, NULL, 'o'},       {"check-config", no_argument, NULL, OPT_CHECK},
        {"help", no_argument, NULL, 'h'},            {"version", no_argument, NULL, 'V'},
        {NULL, 0, NULL, 0},
    };
    /* Flags are collected first and applied after the file, whatever their
     * position on the command line. */
    const char *config_file = NULL;
    const char *keys[64], *vals[64];
    char *owned[64];
    int n_over = 0, n_owned = 0;
    bool check_only = false;
    int ch;
    while ((ch = getopt_long(argc, argv, "c:dl:p:w:t:m:u:o:hV", opts, NULL)) != -1) {
        const char *key = NULL;
        switch (ch) {
        case 'c': config_file = optarg; continue;
        case 'd': key = "debug"; optarg = "true"; break;
        case 'l': key = "websocket.listen"; break;
        case 'p': key = "websocket.port"; break;
        case 'w': key = "tenbus.workers"; break;
        case 't': key = "tenbus.tokens_file"; break;
        case 'm': key = "tenbus.master_tenant_uuid"; break;
        case 'u': key = "uuid"; break;
        case OPT_LOG_FILE: key = "log_file"; break;
        case OPT_LOG_LEVEL: key = "log_level"; break;
        case OPT_LOG_FORMAT: key = "tenbus.log_format"; break;
        case OPT_CHECK: check_only = true; continue;
        case 'o': {
            char *eq = strchr(optarg, '=');
            if (!eq || eq == optarg) {
                fprintf(stderr, "tenbusd: --set expects KEY=VALUE, got \"%s\"\n", optarg);
                return 2;
            }
            char *k = strndup(optarg, (size_t)(eq - optarg));
            owned[n_owned++] = k;
            key = k;
            optarg = eq + 1;
            break;
        }
        case 'h': usage(stdout); return 0;
        case 'V': printf("tenbusd %s\n", TBD_VERSION); return 0;
        default: usage(stderr); return 2;
        }
        if (n_over == 64 || n_owned == 64) {
            fprintf(stderr, "tenbusd: too many options\n");
            return 2;
        }
        keys[n_over] = key;
        vals[n_over++] = optarg;
    }
    if (optind < argc) {
        fprintf(stderr, "tenbusd: unexpected argument \"%s\"\n", argv[optind]);
        usage(stderr);
        return 2;
    }

    tbd_config cfg;
    char err[512];
    memset(&cfg, 0, sizeof(cfg)); /* tbd_config_load fills it, defaults included */
    int rc = 1;
    if (tbd_config_load(&cfg, config_file, err, sizeof(err), warn_unused) < 0) {
        fprintf(stderr, "tenbusd: %s\n", err);
        goto out_cfg;
    }
    for (int i = 0; i < n_over; i++)
        if (tbd_config_set(&cfg, keys[i], vals[i], err, sizeof(err)) < 0) {
            fprintf(stderr, "tenbusd: %s\n", err);
            goto out_cfg;
        }
    tbd_config_pick_backends(&cfg);
    tbd_log_level lvl = TBD_LOG_INFO;
    if (cfg.log_level && tbd_log_parse_level(cfg.log_level, &lvl) < 0) {
        fprintf(stderr, "tenbusd: log_level: unknown level \"%s\"\n", cfg.log_level);
        goto out_cfg;
    }
    tbd_log_set_level(cfg.debug ? TBD_LOG_DEBUG : lvl);
    tbd_log_set_json(cfg.log_format == TBD_LOG_JSON);
    if (cfg.auth_backend == TBD_AUTH_FILE && !cfg.tokens_file) {
        fprintf(stderr, "tenbusd: auth backend file (%s): tenbus.tokens_file is not set "
                "(-t FILE; or auth.* keys for wazo-auth)\n", cfg.auth_why);
        goto out_cfg;
    }
    if (check_only) {
        /* The event catalogue too: its errors name file, line and key. */
        tbd_catalogue *cat;
        if (tbd_catalogue_open(&cfg, &cat, err, sizeof(err)) < 0) {
            fprintf(stderr, "tenbusd: %s\n", err);
            goto out_cfg;
        }
        tbd_catalogue_free(cat);
        printf("configuration OK\nbus backend: %s (%s)\nauth backend: %s (%s)\n",
               cfg.bus_backend == TBD_BUS_RABBITMQ ? "rabbitmq" : "embedded", cfg.bus_why,
               cfg.auth_backend == TBD_AUTH_WAZO ? "wazo-auth" : "file", cfg.auth_why);
        rc = 0;
        goto out_cfg;
    }
    if (tbd_log_open(cfg.log_file) < 0) {
        fprintf(stderr, "tenbusd: cannot open log file %s\n", cfg.log_file);
        goto out_cfg;
    }
    tbd_log_info("bus backend: %s (%s)", cfg.bus_backend == TBD_BUS_RABBITMQ ? "rabbitmq" : "embedded",
             cfg.bus_why);
    tbd_log_info("auth backend: %s (%s)", cfg.auth_backend == TBD_AUTH_WAZO ? "wazo-auth" : "file",
             cfg.auth_why);
    if (!cfg.uuid)
        tbd_log_warn("no stack uuid configured (uuid / XIVO_UUID): no event will match origin_uuid");

    tbd_server srv;
    if (tbd_server_init(&srv, &cfg, err, sizeof(err)) < 0) {
        tbd_log_error("%s", err);
    } else {
        rc = tbd_server_run(&srv) == 0 ? 0 : 1;
    }
    tbd_server_free(&srv);
    tbd_log_close();
out_cfg:
    tbd_config_free(&cfg);
    for (int i = 0; i < n_owned; i++)
        free(owned[i]);
    return rc;
}
