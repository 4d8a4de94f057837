/* tenbus listen: a wazo-websocketd client (DESIGN.md §3) printing events as
 * JSON lines. */
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <tenbus/hdrmatch.h>

#include "cli.h"
#include "listen.h"
#include "net.h"
#include "url.h"
#include "wsclient.h"
#include "wsx.h"   /* libtenbus internal: tb__pct_encode_append */

enum { EXIT_OK = 0, EXIT_FAIL = 1, EXIT_CLOSED = 2, EXIT_TIMEOUT = 3 };

/* "tenbus listen" or "tenbus consume": the prefix of every message. */
static const char *prog = "tenbus listen";

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: tenbus listen --token TOKEN [OPTIONS] [EVENT_NAME...]\n"
            "\n"
            "Connect to tenbusd's WebSocket (wazo-websocketd protocol), subscribe to the\n"
            "given event names (default: '*', all), send start, and print each event as\n"
            "one JSON line on stdout: the event body (for --version 1, the message as\n"
            "received). The token needs ACL websocketd plus each event's ACL.\n"
            "\n"
            "Options:\n"
            "  -u, --url URL          server (default $TENBUS_URL or %s)\n"
            "  -t, --token TOKEN      auth token, sent as ?token= (default $TENBUS_TOKEN)\n"
            "  -V, --version 1|2      protocol version (default 2)\n"
            "  -c, --count N          exit 0 after N events\n"
            "      --timeout SECONDS  exit 3 if still running after this long\n"
            "  -h, --help             show this help\n"
            "\n"
            "Exit status: 0 after --count events; 1 on an error (connection, refused\n"
            "upgrade, bad reply); 2 when the server closes the session (\"closed: CODE\n"
            "REASON\" on stderr, 1006 if the connection dropped without a close frame);\n"
            "3 on --timeout.\n"
            "\n"
            "Example:\n"
            "  tenbus listen -t $TOK --count 1 chatd_user_room_created\n",
            CLI_DEFAULT_WS_URL);
}

enum { O_TIMEOUT = 256 };


typedef struct session {
    cli_ws_client ws;
    const listen_opts *o;
    int64_t deadline;
    bool inited, started;
    long events;
} session;

/* path + "?" + query + token + version, the token percent-encoded. */
static int build_target(const cli_url *u, const listen_opts *o, char *out, size_t cap)
{
    char ver[16];
    int n = snprintf(out, cap, "%s?%s%stoken=", u->path[0] ? u->path : "/", u->query,
                     u->query[0] ? "&" : "");
    if (n < 0 || (size_t)n >= cap || tb__pct_encode_append(out, cap, o->token) < 0)
        return -1;
    snprintf(ver, sizeof ver, "&version=%d", o->version);
    if (strlen(out) + strlen(ver) >= cap)
        return -1;
    strcat(out, ver);
    return 0;
}

static int send_json(session *s, json_t *msg)
{
    char *text = json_dumps(msg, JSON_COMPACT);
    int rc = text ? cli_ws_send(&s->ws, TB_WS_OP_TEXT, text, strlen(text)) : -1;
    free(text);
    json_decref(msg);
    return rc;
}

static int send_commands(session *s)
{
    for (int i = 0; i < s->o->nnames; i++) {
        json_t *m = json_pack("{s:s, s:{s:s}}", "op", "subscribe", "data", "event_name",
                              s->o->names[i]);
        if (!m) {
            fprintf(stderr, "%s: event name '%s' is not UTF-8\n", prog, s->o->names[i]);
            return -1;
        }
        if (send_json(s, m) < 0)
            goto io;
    }
    if (send_json(s, json_pack("{s:s, s:n}", "op", "start", "data")) < 0)
        goto io;
    return 0;
io:
    fprintf(stderr, "%s: send failed: %m\n", prog);
    return -1;
}

static void print_line(const char *p, size_t len)
{
    fwrite(p, 1, len, stdout);
    putchar('\n');
    /* One line per event, visible at once to a pipe reader. */
    fflush(stdout);
}

/* Consume mode: the bus body carries every header plus data; print it in
 * `tenbus consume`'s shape if the header filter matches. Returns 2 when
 * filtered out, -1 on failure, 0 when printed. */
static int consume_event(session *s, json_t *body)
{
    json_t *headers = json_deep_copy(body), *binding = json_deep_copy(s->o->filter);
    int rc = -1;

    if (!json_is_object(body) || !headers || !binding) {
        fprintf(stderr, "%s: ignoring an event whose body is not an object\n", prog);
        rc = 2;
        goto out;
    }
    json_object_del(headers, "data");
    if (json_object_set_new(binding, "x-match", json_string(s->o->match_all ? "all" : "any")) < 0)
        goto out;
    /* x-match any with no key matches nothing on RabbitMQ; no filter at all
     * here means every event, as a binding holding only the name would. */
    if (json_object_size(s->o->filter) && !tb_hdr_match(binding, headers)) {
        rc = 2;
        goto out;
    }
    rc = cli_consume_print(NULL, headers, body);
out:
    json_decref(headers);
    json_decref(binding);
    return rc;
}

/* Handles one text message. Returns -1 to stop with EXIT_FAIL, 1 when
 * --count is reached, 0 to go on. */
static int on_text(session *s, const char *p, size_t len)
{
    json_t *j = json_loadb(p, len, 0, NULL);
    const char *op = json_string_value(json_object_get(j, "op"));
    int rc = 0;

    if (!json_is_object(j)) {
        fprintf(stderr, "%s: ignoring a non-JSON-object message\n", prog);
        goto out;
    }
    if (!s->started || s->o->version == 2) {
        json_t *code = json_object_get(j, "code");
        if (op && json_is_integer(code) && json_integer_value(code) != 0) {
            fprintf(stderr, "%s: server refused '%s' (code %lld)\n", prog, op,
                    (long long)json_integer_value(code));
            rc = -1;
            goto out;
        }
    }
    if (!s->inited) {
        /* Commands go out after init, so a refused token shows as its
         * close code rather than as a failed send (§3). */
        if (op && strcmp(op, "init") == 0) {
            s->inited = true;
            rc = send_commands(s);
        } else {
            fprintf(stderr, "%s: ignoring a message before init\n", prog);
        }
        goto out;
    }
    if (!s->started) {
        /* Server messages are in command order; the start reply precedes
         * any event (§3), so the rest before it is acknowledgements. */
        if (op && strcmp(op, "start") == 0) {
            s->started = true;
            if (s->o->consume) {
                fputs("ready\n", stderr);
                fflush(stderr);
            }
        }
        goto out;
    }
    if (s->o->consume) {
        if (!op || strcmp(op, "event") != 0)
            goto out;
        rc = consume_event(s, json_object_get(j, "data"));
        if (rc == 2) {
            rc = 0;
            goto out;
        }
        if (rc < 0)
            goto out;
    } else if (s->o->version == 2) {
        if (!op || strcmp(op, "event") != 0)
            goto out;
        char *d = json_dumps(json_object_get(j, "data"), JSON_COMPACT | JSON_ENCODE_ANY);
        if (d)
            print_line(d, strlen(d));
        free(d);
    } else if (memchr(p, '\n', len)) {
        char *d = json_dumps(j, JSON_COMPACT);
        if (d)
            print_line(d, strlen(d));
        free(d);
    } else {
        /* v1 sends the bus body itself: print it byte for byte. */
        print_line(p, len);
    }
    if (s->o->count && ++s->events >= s->o->count)
        rc = 1;
out:
    json_decref(j);
    return rc;
}

static int run(session *s)
{
    tb__ws_msg m;
    int rc;

    for (;;) {
        rc = cli_ws_next(&s->ws, &m, s->deadline);
        if (rc == CLI_NET_TIMEOUT && s->o->consume) {
            cli_ws_send_close(&s->ws, TB_WS_CLOSE_NORMAL, "");
            return EXIT_OK;
        }
        if (rc == CLI_NET_TIMEOUT) {
            fprintf(stderr, "%s: timed out after %lld.%03lld s (%ld events)\n", prog,
                    s->o->timeout_ms / 1000, s->o->timeout_ms % 1000, s->events);
            cli_ws_send_close(&s->ws, TB_WS_CLOSE_NORMAL, "");
            return EXIT_TIMEOUT;
        }
        if (rc == 0) {
            fprintf(stderr, "closed: 1006 connection lost without a close frame\n");
            return EXIT_CLOSED;
        }
        if (rc == -1) {
            fprintf(stderr, "%s: read failed: %m\n", prog);
            return EXIT_FAIL;
        }
        if (rc < 0) {
            fprintf(stderr, "%s: protocol error from the server (closing with %d)\n", prog,
                    -rc);
            cli_ws_send_close(&s->ws, (uint16_t)-rc, "");
            return EXIT_FAIL;
        }
        rc = 0;
        switch (m.opcode) {
        case TB_WS_OP_TEXT:
            rc = on_text(s, (const char *)m.data, m.len);
            if (rc < 0) {
                cli_ws_send_close(&s->ws, TB_WS_CLOSE_NORMAL, "");
                return EXIT_FAIL;
            }
            if (rc == 1) {
                cli_ws_send_close(&s->ws, TB_WS_CLOSE_NORMAL, "");
                return EXIT_OK;
            }
            break;
        case TB_WS_OP_PING:
            /* §5.5.3: a pong echoes the ping's application data. */
            if (cli_ws_send(&s->ws, TB_WS_OP_PONG, m.data, m.len) < 0) {
                fprintf(stderr, "%s: send failed: %m\n", prog);
                return EXIT_FAIL;
            }
            break;
        case TB_WS_OP_CLOSE:
            fprintf(stderr, "closed: %u %.*s\n", m.close_code, (int)m.close_reason_len,
                    m.close_reason);
            /* §5.5.1: answer with a close carrying the same code. */
            cli_ws_send_close(&s->ws, m.close_code == TB_WS_CLOSE_NO_STATUS ? TB_WS_CLOSE_NORMAL
                                                                      : m.close_code, "");
            return EXIT_CLOSED;
        default:
            break; /* pong, binary: nothing to do */
        }
    }
}

int cli_listen_run(const listen_opts *o, const char *name)
{
    char err[1024], target[4096];
    session s;
    cli_url u;
    int rc;

    prog = name;
    if (cli_url_parse(o->url, &u, err, sizeof err) < 0 ||
        (build_target(&u, o, target, sizeof target) < 0 &&
         snprintf(err, sizeof err, "URL and token too long") > 0)) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return EXIT_FAIL;
    }
    memset(&s, 0, sizeof s);
    s.o = o;
    s.deadline = o->timeout_ms ? cli_net_now_ms() + o->timeout_ms : -1;
    rc = cli_ws_connect(&s.ws, &u, target, s.deadline, err, sizeof err);
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", prog, err);
        return rc == CLI_NET_TIMEOUT && !o->consume ? EXIT_TIMEOUT : EXIT_FAIL;
    }
    rc = run(&s);
    cli_ws_close(&s.ws);
    return rc;
}

int cli_cmd_listen(int argc, char **argv)
{
    static const struct option opts[] = {
        { "url", required_argument, NULL, 'u' },
        { "token", required_argument, NULL, 't' },
        { "version", required_argument, NULL, 'V' },
        { "count", required_argument, NULL, 'c' },
        { "timeout", required_argument, NULL, O_TIMEOUT },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    static char *all[] = { "*" };
    listen_opts o = { .url = getenv("TENBUS_URL"), .token = getenv("TENBUS_TOKEN"), .version = 2 };
    char err[1024] = "", *end;
    int c;

    optind = 0;
    while ((c = getopt_long(argc, argv, "u:t:V:c:h", opts, NULL)) != -1) {
        switch (c) {
        case 'u': o.url = optarg; break;
        case 't': o.token = optarg; break;
        case 'V':
            if (strcmp(optarg, "1") == 0 || strcmp(optarg, "2") == 0)
                o.version = optarg[0] - '0';
            else
                snprintf(err, sizeof err, "--version: expected 1 or 2");
            break;
        case 'c':
            o.count = strtol(optarg, &end, 10);
            if (end == optarg || *end || o.count <= 0)
                snprintf(err, sizeof err, "--count: expected a positive integer");
            break;
        case O_TIMEOUT:
            if ((o.timeout_ms = cli_parse_seconds(optarg)) < 0)
                snprintf(err, sizeof err, "--timeout: expected a positive number of seconds");
            break;
        case 'h':
            usage(stdout);
            return EXIT_OK;
        default:
            fprintf(stderr, "Try 'tenbus listen --help'.\n");
            return EXIT_FAIL;
        }
        if (err[0])
            goto usage_err;
    }
    o.names = optind < argc ? argv + optind : all;
    o.nnames = optind < argc ? argc - optind : 1;
    if (!o.url || !*o.url)
        o.url = CLI_DEFAULT_WS_URL;
    if (!o.token || !*o.token) {
        snprintf(err, sizeof err, "--token is required (or set TENBUS_TOKEN)");
        goto usage_err;
    }
    return cli_listen_run(&o, "tenbus listen");

usage_err:
    fprintf(stderr, "%s: %s\nTry 'tenbus listen --help'.\n", prog, err);
    return EXIT_FAIL;
}
