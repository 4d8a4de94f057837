/* tenbus consume: a service-side consumer printing each message as one JSON
 * line {"routing_key", "headers", "body"}. Over RabbitMQ (--bus) with
 * libtenbus's client; over a tenbusd node (--url ws://, --token) with a
 * WebSocket session (listen.c). */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tenbus/tenbus.h>

#include "cli.h"
#include "listen.h"
#include "net.h"

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: tenbus consume --bus URL [OPTIONS]\n"
            "       tenbus consume --url ws://HOST:PORT --token TOKEN [OPTIONS]\n"
            "\n"
            "Bind a queue to the exchange (one binding per --name, each with every\n"
            "--header and the x-match), print \"ready\" on stderr once the bindings are\n"
            "confirmed, then one JSON object per message on stdout, one per line:\n"
            "  {\"routing_key\": \"...\", \"headers\": {...}, \"body\": {...}}\n"
            "Header values keep their AMQP types (booleans, null for void, numbers,\n"
            "strings, tables as objects, arrays).\n"
            "\n"
            "Options:\n"
            "      --bus URL          amqp://USER:PASS@HOST:PORT/VHOST (empty vhost = /)\n"
            "      --exchange NAME    exchange, declared as the publisher declares it\n"
            "                         (default wazo-headers, type headers, durable)\n"
            "  -n, --name NAME        event name; repeatable (default: every name)\n"
            "  -H, --header KEY=VALUE header filter; true/false are booleans, anything\n"
            "                         else a string; repeatable\n"
            "      --match all|any    x-match of the bindings (default all)\n"
            "  -c, --count N          exit 0 after N messages\n"
            "      --timeout SECONDS  exit 0 after this long\n"
            "      --queue NAME       durable queue NAME (default: a server-named,\n"
            "                         exclusive, auto-delete queue)\n"
            "  -u, --url URL          a tenbusd node (ws://) instead of --bus: a WebSocket\n"
            "                         session; the token must be a master-tenant or\n"
            "                         internal token. routing_key is null there (the\n"
            "                         WebSocket protocol does not carry it) and headers are\n"
            "                         the body's members other than data.\n"
            "  -t, --token TOKEN      token for --url (default $TENBUS_TOKEN)\n"
            "  -h, --help             show this help\n"
            "\n"
            "Exit status: 0 after --count messages or at --timeout; 1 on an error.\n");
}

enum { O_BUS = 256, O_EXCHANGE, O_MATCH, O_TIMEOUT, O_QUEUE };

typedef struct consume_state {
    long count, printed;
    uint64_t last_delivery;
} consume_state;

int cli_consume_print(const char *routing_key, const json_t *headers, const json_t *body)
{
    json_t *line = json_pack("{s:s?, s:O, s:O}", "routing_key", routing_key, "headers", headers,
                             "body", body);
    char *text = line ? json_dumps(line, JSON_COMPACT) : NULL;

    json_decref(line);
    if (!text)
        return -1;
    fputs(text, stdout);
    putchar('\n');
    fflush(stdout);
    free(text);
    return 0;
}

static int on_message(const tb_message *m, void *arg)
{
    consume_state *st = arg;

    /* Several bindings may match one delivery: print it once. */
    if (m->delivery_id == st->last_delivery || (st->count && st->printed >= st->count))
        return 0;
    st->last_delivery = m->delivery_id;
    if (cli_consume_print(m->routing_key, m->headers, m->body) < 0)
        return -1;
    st->printed++;
    return 0;
}

/* KEY=VALUE into `filter`: "true"/"false" booleans, else a string. */
static int add_filter(json_t *filter, const char *arg, char *err, size_t errlen)
{
    const char *eq = strchr(arg, '=');
    json_t *v;

    if (!eq || eq == arg) {
        snprintf(err, errlen, "--header '%s': expected KEY=VALUE", arg);
        return -1;
    }
    if (strcmp(eq + 1, "true") == 0)
        v = json_true();
    else if (strcmp(eq + 1, "false") == 0)
        v = json_false();
    else if (!(v = json_string(eq + 1))) {
        snprintf(err, errlen, "--header '%s': value is not UTF-8", arg);
        return -1;
    }
    if (json_object_setn_new(filter, arg, (size_t)(eq - arg), v) < 0) {
        snprintf(err, errlen, "--header '%s': key is not UTF-8", arg);
        return -1;
    }
    return 0;
}

static int consume_amqp(const char *bus, const char *exchange, const char *queue, char **names,
                        int nnames, const json_t *filter, bool match_all, long count,
                        long long timeout_ms)
{
    consume_state st = {.count = count};
    char err[512];
    tb_client_config cfg = {.url = bus, .exchange = exchange, .queue = queue, .errbuf = err,
                            .errbuf_size = sizeof err};
    tb_client *cl;
    int64_t deadline = timeout_ms ? cli_net_now_ms() + timeout_ms : -1;
    bool down = false;
    int rc = 1;
    tb_err e;

    if ((e = tb_client_new(&cfg, &cl)) != TB_OK) {
        fprintf(stderr, "tenbus consume: --bus: %s\n", err);
        return 1;
    }
    for (int i = 0; i < (nnames ? nnames : 1); i++) {
        if ((e = tb_client_subscribe(cl, nnames ? names[i] : NULL, filter, match_all, on_message,
                                     &st, NULL)) != TB_OK) {
            fprintf(stderr, "tenbus consume: %s: %s\n", tb_strerror(e), tb_client_errmsg(cl));
            goto out;
        }
    }
    fputs("ready\n", stderr);
    fflush(stderr);
    while (!count || st.printed < count) {
        int wait = 1000;
        if (deadline >= 0) {
            int64_t left = deadline - cli_net_now_ms();
            if (left <= 0)
                break;
            if (left < wait)
                wait = (int)left;
        }
        e = tb_client_process(cl, wait);
        if (e == TB_ECONN && !down) {
            fprintf(stderr, "tenbus consume: %s; reconnecting\n", tb_client_errmsg(cl));
            down = true;
        } else if (e == TB_OK && down) {
            fprintf(stderr, "tenbus consume: reconnected\n");
            down = false;
        } else if (e != TB_OK && e != TB_ECONN) {
            fprintf(stderr, "tenbus consume: %s: %s\n", tb_strerror(e), tb_client_errmsg(cl));
            goto out;
        }
    }
    rc = 0;
out:
    tb_client_free(cl);
    return rc;
}

int cli_cmd_consume(int argc, char **argv)
{
    static const struct option opts[] = {
        { "bus", required_argument, NULL, O_BUS },
        { "exchange", required_argument, NULL, O_EXCHANGE },
        { "name", required_argument, NULL, 'n' },
        { "header", required_argument, NULL, 'H' },
        { "match", required_argument, NULL, O_MATCH },
        { "count", required_argument, NULL, 'c' },
        { "timeout", required_argument, NULL, O_TIMEOUT },
        { "queue", required_argument, NULL, O_QUEUE },
        { "url", required_argument, NULL, 'u' },
        { "token", required_argument, NULL, 't' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    const char *bus = NULL, *exchange = NULL, *queue = NULL, *url = NULL,
               *token = getenv("TENBUS_TOKEN");
    char **names = calloc((size_t)argc + 1, sizeof *names), err[512] = "", *end;
    json_t *filter = json_object();
    bool match_all = true;
    long count = 0;
    long long timeout_ms = 0;
    int nnames = 0, c, rc = 1;

    if (!names || !filter)
        goto out;
    optind = 0;
    while ((c = getopt_long(argc, argv, "n:H:c:u:t:h", opts, NULL)) != -1) {
        switch (c) {
        case O_BUS: bus = optarg; break;
        case O_EXCHANGE: exchange = optarg; break;
        case 'n': names[nnames++] = optarg; break;
        case 'H': add_filter(filter, optarg, err, sizeof err); break;
        case O_MATCH:
            if (strcmp(optarg, "all") == 0 || strcmp(optarg, "any") == 0)
                match_all = optarg[1] == 'l';
            else
                snprintf(err, sizeof err, "--match: expected all or any");
            break;
        case 'c':
            count = strtol(optarg, &end, 10);
            if (end == optarg || *end || count <= 0)
                snprintf(err, sizeof err, "--count: expected a positive integer");
            break;
        case O_TIMEOUT:
            if ((timeout_ms = cli_parse_seconds(optarg)) < 0)
                snprintf(err, sizeof err, "--timeout: expected a positive number of seconds");
            break;
        case O_QUEUE: queue = optarg; break;
        case 'u': url = optarg; break;
        case 't': token = optarg; break;
        case 'h':
            usage(stdout);
            rc = 0;
            goto out;
        default:
            fprintf(stderr, "Try 'tenbus consume --help'.\n");
            goto out;
        }
        if (err[0])
            goto usage_err;
    }
    if (optind < argc)
        snprintf(err, sizeof err, "unexpected argument '%s'", argv[optind]);
    else if (!bus == !url)
        snprintf(err, sizeof err, "exactly one of --bus (RabbitMQ) and --url (tenbusd) is needed");
    else if (url && (!token || !*token))
        snprintf(err, sizeof err, "--url needs --token (or TENBUS_TOKEN)");
    else if (url && (queue || exchange))
        snprintf(err, sizeof err, "--queue and --exchange go with --bus, not --url");
    if (err[0])
        goto usage_err;
    if (bus) {
        rc = consume_amqp(bus, exchange, queue, names, nnames, filter, match_all, count,
                          timeout_ms);
    } else {
        static char *all[] = { "*" };
        listen_opts o = { .url = url, .token = token, .version = 2, .count = count,
                          .timeout_ms = timeout_ms, .names = nnames ? names : all,
                          .nnames = nnames ? nnames : 1, .consume = true,
                          .filter = filter, .match_all = match_all };
        rc = cli_listen_run(&o, "tenbus consume");
    }
    goto out;

usage_err:
    fprintf(stderr, "tenbus consume: %s\nTry 'tenbus consume --help'.\n", err);
out:
    free(names);
    json_decref(filter);
    return rc;
}
