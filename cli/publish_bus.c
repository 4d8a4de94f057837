/* tenbus publish --bus URL: one event straight to RabbitMQ, built and sent by
 * libtenbus (tb_event_new + tb_client_publish with confirms), i.e. exactly
 * what a Wazo service's publisher sends for it. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tenbus/tenbus.h>

#include "cli.h"

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: tenbus publish --bus URL --name NAME [OPTIONS] --data JSON\n"
            "\n"
            "Publish one event straight to RabbitMQ with the headers, header types, body,\n"
            "routing key and message properties a Wazo service sends (wazo-bus).\n"
            "\n"
            "Options:\n"
            "      --bus URL              amqp://USER:PASS@HOST:PORT/VHOST (empty vhost = /)\n"
            "      --exchange NAME        exchange (default wazo-headers, type headers)\n"
            "  -n, --name NAME            event name (required)\n"
            "      --service SVC          publishing service (documentation only)\n"
            "  -l, --level LEVEL          service | tenant | user | multi_user; default:\n"
            "                             --users => multi_user, --user => user,\n"
            "                             --tenant => tenant, else service\n"
            "      --tenant UUID          tenant_uuid\n"
            "      --user UUID            user_uuid (user level)\n"
            "      --users UUID,UUID,...  user_uuids (multi_user level)\n"
            "      --routing-key-fmt FMT  routing key format; {field} from the tenant/user\n"
            "                             uuid, then the top-level keys of --data (values\n"
            "                             escaped); default: the event name\n"
            "      --required-acl ACL     literal required_acl (default events.<routing key>)\n"
            "      --origin-uuid UUID     origin_uuid (default $XIVO_UUID; else void)\n"
            "  -d, --data JSON            event content (default {})\n"
            "      --timeout SECONDS      connect and confirm timeout (default 10)\n"
            "  -h, --help                 show this help\n"
            "\n"
            "Exit status: 0 once the broker confirmed the message; 1 if the event cannot\n"
            "be built (nothing is published) or the broker did not confirm it.\n");
}

enum { O_BUS = 256, O_EXCHANGE, O_SERVICE, O_TENANT, O_USER, O_USERS, O_RKF, O_ACL, O_ORIGIN,
       O_TIMEOUT };

static int parse_level(const char *s, tb_level *out)
{
    static const struct { const char *name; tb_level level; } levels[] = {
        {"service", TB_LEVEL_SERVICE}, {"tenant", TB_LEVEL_TENANT}, {"user", TB_LEVEL_USER},
        {"multi_user", TB_LEVEL_MULTI_USER}, {"multi-user", TB_LEVEL_MULTI_USER},
    };
    for (size_t i = 0; i < sizeof levels / sizeof levels[0]; i++) {
        if (strcmp(s, levels[i].name) == 0) {
            *out = levels[i].level;
            return 0;
        }
    }
    return -1;
}

/* Splits "a,b,c" in place; empty items are kept (tb_event_new refuses them). */
static const char **split_users(char *s, size_t *n)
{
    size_t cap = 1;
    const char **v;

    for (const char *p = s; *p; p++)
        cap += *p == ',';
    if (!(v = calloc(cap, sizeof *v)))
        return NULL;
    *n = 0;
    for (char *tok = s;; ) {
        char *comma = strchr(tok, ',');
        if (comma)
            *comma = '\0';
        v[(*n)++] = tok;
        if (!comma)
            break;
        tok = comma + 1;
    }
    return v;
}

int cli_cmd_publish_bus(int argc, char **argv)
{
    static const struct option opts[] = {
        { "bus", required_argument, NULL, O_BUS },
        { "exchange", required_argument, NULL, O_EXCHANGE },
        { "name", required_argument, NULL, 'n' },
        { "service", required_argument, NULL, O_SERVICE },
        { "level", required_argument, NULL, 'l' },
        { "tenant", required_argument, NULL, O_TENANT },
        { "user", required_argument, NULL, O_USER },
        { "users", required_argument, NULL, O_USERS },
        { "routing-key-fmt", required_argument, NULL, O_RKF },
        { "required-acl", required_argument, NULL, O_ACL },
        { "origin-uuid", required_argument, NULL, O_ORIGIN },
        { "data", required_argument, NULL, 'd' },
        { "timeout", required_argument, NULL, O_TIMEOUT },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *bus = NULL, *exchange = NULL, *origin = getenv("XIVO_UUID"), *acl = NULL,
               *data = NULL, *level_s = NULL;
    char *users_arg = NULL;
    tb_event_type type = {0};
    tb_event_args args = {0};
    long long timeout_ms = 10000;
    json_t *content = NULL;
    json_error_t je;
    tb_event *ev = NULL;
    tb_client *cl = NULL;
    char err[512] = "";
    int c, rc = 1;
    tb_err e;

    optind = 0;
    while ((c = getopt_long(argc, argv, "n:l:d:h", opts, NULL)) != -1) {
        switch (c) {
        case O_BUS: bus = optarg; break;
        case O_EXCHANGE: exchange = optarg; break;
        case 'n': type.name = optarg; break;
        case O_SERVICE: type.service = optarg; break;
        case 'l': level_s = optarg; break;
        case O_TENANT: args.tenant_uuid = optarg; break;
        case O_USER: args.user_uuid = optarg; break;
        case O_USERS: users_arg = optarg; break;
        case O_RKF: type.routing_key_fmt = optarg; break;
        case O_ACL: acl = optarg; break;
        case O_ORIGIN: origin = optarg; break;
        case 'd': data = optarg; break;
        case O_TIMEOUT:
            if ((timeout_ms = cli_parse_seconds(optarg)) < 0 || timeout_ms > 3600000)
                snprintf(err, sizeof err, "--timeout: expected a positive number of seconds");
            break;
        case 'h':
            usage(stdout);
            return 0;
        default:
            fprintf(stderr, "Try 'tenbus publish --help'.\n");
            return 1;
        }
        if (err[0])
            goto usage_err;
    }
    if (optind < argc)
        snprintf(err, sizeof err, "unexpected argument '%s'", argv[optind]);
    else if (!bus || !*bus)
        snprintf(err, sizeof err, "--bus is required");
    else if (!type.name || !*type.name)
        snprintf(err, sizeof err, "--name is required");
    else if (level_s && parse_level(level_s, &type.level) < 0)
        snprintf(err, sizeof err, "--level: expected service, tenant, user or multi_user");
    if (err[0])
        goto usage_err;
    if (!level_s)
        type.level = users_arg ? TB_LEVEL_MULTI_USER : args.user_uuid ? TB_LEVEL_USER
                   : args.tenant_uuid ? TB_LEVEL_TENANT : TB_LEVEL_SERVICE;
    if (users_arg) {
        args.user_uuids = split_users(users_arg, &args.n_user_uuids);
        if (!args.user_uuids)
            goto out;
    }
    if (!(content = data ? json_loads(data, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &je)
                         : json_object())) {
        snprintf(err, sizeof err, "--data: invalid JSON at line %d column %d: %s", je.line,
                 je.column, je.text);
        goto usage_err;
    }
    args.content = content;

    /* Everything is built before anything connects: an event that cannot be
     * built is never half-published. */
    if ((e = tb_event_new(&type, &args, origin && *origin ? origin : NULL, &ev)) != TB_OK) {
        fprintf(stderr, "tenbus publish: cannot build the event: %s\n", tb_strerror(e));
        goto out;
    }
    if (acl && (e = tb_event_set_required_acl(ev, acl)) != TB_OK) {
        fprintf(stderr, "tenbus publish: --required-acl: %s\n", tb_strerror(e));
        goto out;
    }
    tb_client_config cfg = {.url = bus, .exchange = exchange, .confirms = true,
                            .timeout_ms = (int)timeout_ms, .errbuf = err,
                            .errbuf_size = sizeof err};
    if ((e = tb_client_new(&cfg, &cl)) != TB_OK) {
        fprintf(stderr, "tenbus publish: --bus: %s\n", err);
        goto out;
    }
    if ((e = tb_client_publish(cl, ev)) != TB_OK) {
        fprintf(stderr, "tenbus publish: %s: %s\n", tb_strerror(e), tb_client_errmsg(cl));
        goto out;
    }
    rc = 0;
    goto out;

usage_err:
    fprintf(stderr, "tenbus publish: %s\nTry 'tenbus publish --help'.\n", err);
out:
    tb_client_free(cl);
    tb_event_free(ev);
    json_decref(content);
    free((void *)args.user_uuids);
    return rc;
}
