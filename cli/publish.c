/* tenbus publish: builds the POST /api/events body (docs/http-api.md). */
#define _GNU_SOURCE /* asprintf */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cli.h"
#include "httpclient.h"
#include "net.h"
#include "url.h"

#define DEFAULT_TIMEOUT_MS 30000

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: tenbus publish --token TOKEN --name NAME [OPTIONS]\n"
            "       tenbus publish --bus URL --name NAME [OPTIONS] --data JSON   (RabbitMQ;\n"
            "                      see 'tenbus publish --bus x --help')\n"
            "\n"
            "Publish one event through tenbusd's HTTP API (POST /api/events) and print\n"
            "the response body. The token needs ACL tenbus.publish.<NAME>.\n"
            "\n"
            "Options:\n"
            "  -u, --url URL             server (default $TENBUS_URL or %s)\n"
            "  -t, --token TOKEN         auth token (default $TENBUS_TOKEN)\n"
            "  -n, --name NAME           event name (required)\n"
            "  -l, --level LEVEL         service | tenant | user | multi_user\n"
            "                            (default: inferred by the server from the fields)\n"
            "      --tenant UUID         tenant_uuid\n"
            "      --user UUID           user_uuid; repeat for several users (multi_user)\n"
            "      --routing-key KEY     literal routing key (default: the name)\n"
            "      --routing-key-fmt F   format filled by the server, e.g.\n"
            "                            'chatd.users.{user_uuid}.rooms.created'\n"
            "      --acl ACL             required ACL (default: events.<routing key>)\n"
            "      --no-acl              no ACL needed to receive the event (null)\n"
            "  -H, --header K=V          extra header with a string value; K:=JSON for a\n"
            "                            JSON value (e.g. -H room_count:=3); repeatable\n"
            "  -d, --data JSON           event content (default {}); @FILE reads a file,\n"
            "                            @- standard input\n"
            "      --timeout SECONDS     give up after this long (default 30)\n"
            "  -h, --help                show this help\n"
            "\n"
            "Exit status: 0 on a 2xx answer, 1 otherwise (the status and error on stderr).\n"
            "\n"
            "Example:\n"
            "  tenbus publish -t $TOK -n chatd_user_room_created --tenant $T --user $U \\\n"
            "      --routing-key-fmt 'chatd.users.{user_uuid}.rooms.created' -d '{\"uuid\":\"r1\"}'\n",
            CLI_DEFAULT_HTTP_URL);
}

enum { O_TENANT = 256, O_USER, O_RK, O_RKF, O_ACL, O_NO_ACL, O_TIMEOUT };

typedef struct pub_opts {
    const char *url, *token, *name, *level, *tenant, *rk, *rkf, *acl, *data;
    int no_acl;
    long long timeout_ms;
    json_t *users;   /* array of strings */
    json_t *headers; /* object */
} pub_opts;

static json_t *load_data(const char *arg, char *err, size_t errlen)
{
    json_error_t je;
    json_t *v;
    if (arg[0] == '@') {
        FILE *f = strcmp(arg + 1, "-") == 0 ? stdin : fopen(arg + 1, "r");
        if (!f) {
            snprintf(err, errlen, "--data: cannot open %s: %m", arg + 1);
            return NULL;
        }
        v = json_loadf(f, JSON_DECODE_ANY, &je);
        if (f != stdin)
            fclose(f);
    } else {
        v = json_loads(arg, JSON_DECODE_ANY, &je);
    }
    if (!v)
        snprintf(err, errlen, "--data: invalid JSON at line %d column %d: %s", je.line,
                 je.column, je.text);
    return v;
}

static int add_header(json_t *headers, const char *arg, char *err, size_t errlen)
{
    const char *eq = strchr(arg, '=');
    json_t *v;
    if (!eq || eq == arg || (eq == arg + 1 && arg[0] == ':')) {
        snprintf(err, errlen, "--header '%s': expected KEY=VALUE or KEY:=JSON", arg);
        return -1;
    }
    size_t klen = (size_t)(eq - arg);
    if (arg[klen - 1] == ':') {
        json_error_t je;
        klen--;
        v = json_loads(eq + 1, JSON_DECODE_ANY, &je);
        if (!v) {
            snprintf(err, errlen, "--header '%s': invalid JSON: %s", arg, je.text);
            return -1;
        }
    } else {
        v = json_string(eq + 1);
        if (!v) {
            snprintf(err, errlen, "--header '%s': value is not UTF-8", arg);
            return -1;
        }
    }
    if (json_object_setn_new(headers, arg, klen, v) < 0) {
        snprintf(err, errlen, "--header '%s': key is not UTF-8", arg);
        return -1;
    }
    return 0;
}

static int set_str(json_t *o, const char *k, const char *v, char *err, size_t errlen)
{
    if (!v)
        return 0;
    if (json_object_set_new(o, k, json_string(v)) < 0) {
        snprintf(err, errlen, "%s: not valid UTF-8", k);
        return -1;
    }
    return 0;
}

/* Returns the request body, or NULL with err set. */
static json_t *build_body(const pub_opts *o, char *err, size_t errlen)
{
    json_t *b = json_object();
    size_t nusers = json_array_size(o->users);
    const char *level = o->level;

    if (level && strcmp(level, "multi-user") == 0)
        level = "multi_user";
    if (level && strcmp(level, "service") && strcmp(level, "tenant") && strcmp(level, "user") &&
        strcmp(level, "multi_user")) {
        snprintf(err, errlen, "--level: expected service, tenant, user or multi_user");
        goto fail;
    }
    if (level && strcmp(level, "user") == 0 && nusers != 1) {
        snprintf(err, errlen, "--level user takes exactly one --user");
        goto fail;
    }
    if (set_str(b, "name", o->name, err, errlen) < 0 ||
        set_str(b, "level", level, err, errlen) < 0 ||
        set_str(b, "tenant_uuid", o->tenant, err, errlen) < 0 ||
        set_str(b, "routing_key", o->rk, err, errlen) < 0 ||
        set_str(b, "routing_key_fmt", o->rkf, err, errlen) < 0 ||
        set_str(b, "required_acl", o->acl, err, errlen) < 0)
        goto fail;
    /* Several users, or an explicit multi_user level, take the list form. */
    if (nusers > 1 || (nusers && level && strcmp(level, "multi_user") == 0))
        json_object_set(b, "user_uuids", o->users);
    else if (nusers == 1)
        json_object_set(b, "user_uuid", json_array_get(o->users, 0));
    if (o->no_acl)
        json_object_set_new(b, "required_acl", json_null());
    if (json_object_size(o->headers))
        json_object_set(b, "headers", o->headers);
    if (o->data) {
        json_t *d = load_data(o->data, err, errlen);
        if (!d)
            goto fail;
        json_object_set_new(b, "data", d);
    }
    return b;
fail:
    json_decref(b);
    return NULL;
}

/* Reports a failed answer: status plus the API's error fields if any. */
static void report_error(const cli_http_response *res)
{
    json_t *j = json_loadb(res->body, res->body_len, 0, NULL);
    const char *e = json_string_value(json_object_get(j, "error"));
    const char *field = json_string_value(json_object_get(j, "field"));
    const char *msg = json_string_value(json_object_get(j, "message"));
    json_t *idx = json_object_get(j, "index");

    fprintf(stderr, "tenbus publish: HTTP %d", res->status);
    if (e)
        fprintf(stderr, ": %s", e);
    if (field)
        fprintf(stderr, ": field '%s'", field);
    if (json_is_integer(idx))
        fprintf(stderr, " (event %lld)", (long long)json_integer_value(idx));
    if (msg)
        fprintf(stderr, ": %s", msg);
    else if (!e && res->body_len)
        fprintf(stderr, ": %.*s", (int)(res->body_len > 200 ? 200 : res->body_len), res->body);
    fputc('\n', stderr);
    json_decref(j);
}

static int post(const pub_opts *o, const char *body)
{
    char err[512], target[1200], *hdrs = NULL;
    cli_url u;
    cli_http_response res;
    int rc;

    if (cli_url_parse(o->url, &u, err, sizeof err) < 0) {
        fprintf(stderr, "tenbus publish: %s\n", err);
        return 1;
    }
    /* Keep a path prefix (reverse proxy), e.g. http://host/tenbus/api/events. */
    size_t pl = strlen(u.path);
    while (pl && u.path[pl - 1] == '/')
        pl--;
    snprintf(target, sizeof target, "%.*s/api/events", (int)pl, u.path);
    if (strpbrk(o->token, "\r\n")) {
        fprintf(stderr, "tenbus publish: --token contains a line break\n");
        return 1;
    }
    if (asprintf(&hdrs, "Content-Type: application/json\r\nAccept: application/json\r\n"
                        "X-Auth-Token: %s\r\n", o->token) < 0)
        return 1;
    rc = cli_http_request(&u, "POST", target, hdrs, body, strlen(body),
                      cli_net_now_ms() + o->timeout_ms, &res, err, sizeof err);
    free(hdrs);
    if (rc < 0) {
        fprintf(stderr, "tenbus publish: %s\n", err);
        return 1;
    }
    if (res.body_len) {
        fwrite(res.body, 1, res.body_len, stdout);
        if (res.body[res.body_len - 1] != '\n')
            putchar('\n');
    }
    rc = res.status >= 200 && res.status < 300 ? 0 : 1;
    if (rc)
        report_error(&res);
    cli_http_response_free(&res);
    return rc;
}

int cli_cmd_publish(int argc, char **argv)
{
    static const struct option opts[] = {
        { "url", required_argument, NULL, 'u' },
        { "token", required_argument, NULL, 't' },
        { "name", required_argument, NULL, 'n' },
        { "level", required_argument, NULL, 'l' },
        { "tenant", required_argument, NULL, O_TENANT },
        { "user", required_argument, NULL, O_USER },
        { "routing-key", required_argument, NULL, O_RK },
        { "routing-key-fmt", required_argument, NULL, O_RKF },
        { "acl", required_argument, NULL, O_ACL },
        { "no-acl", no_argument, NULL, O_NO_ACL },
        { "header", required_argument, NULL, 'H' },
        { "data", required_argument, NULL, 'd' },
        { "timeout", required_argument, NULL, O_TIMEOUT },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    pub_opts o = { .url = getenv("TENBUS_URL"), .token = getenv("TENBUS_TOKEN"),
                   .timeout_ms = DEFAULT_TIMEOUT_MS };
    char err[512] = "";
    json_t *body = NULL;
    char *text = NULL;
    int c, rc = 1;

    /* --bus selects the RabbitMQ form, which has options of its own. */
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--") == 0)
            break;
        if (strcmp(argv[i], "--bus") == 0 || strncmp(argv[i], "--bus=", 6) == 0)
            return cli_cmd_publish_bus(argc, argv);
    }
    o.users = json_array();
    o.headers = json_object();
    optind = 0;
    while ((c = getopt_long(argc, argv, "u:t:n:l:H:d:h", opts, NULL)) != -1) {
        switch (c) {
        case 'u': o.url = optarg; break;
        case 't': o.token = optarg; break;
        case 'n': o.name = optarg; break;
        case 'l': o.level = optarg; break;
        case O_TENANT: o.tenant = optarg; break;
        case O_RK: o.rk = optarg; break;
        case O_RKF: o.rkf = optarg; break;
        case O_ACL: o.acl = optarg; break;
        case O_NO_ACL: o.no_acl = 1; break;
        case 'd': o.data = optarg; break;
        case O_USER:
            if (json_array_append_new(o.users, json_string(optarg)) < 0) {
                snprintf(err, sizeof err, "--user: not valid UTF-8");
                goto usage_err;
            }
            break;
        case 'H':
            if (add_header(o.headers, optarg, err, sizeof err) < 0)
                goto usage_err;
            break;
        case O_TIMEOUT:
            if ((o.timeout_ms = cli_parse_seconds(optarg)) < 0) {
                snprintf(err, sizeof err, "--timeout: expected a positive number of seconds");
                goto usage_err;
            }
            break;
        case 'h':
            usage(stdout);
            rc = 0;
            goto out;
        default:
            goto usage_hint;
        }
    }
    if (optind < argc) {
        snprintf(err, sizeof err, "unexpected argument '%s'", argv[optind]);
        goto usage_err;
    }
    if (!o.url || !*o.url)
        o.url = CLI_DEFAULT_HTTP_URL;
    if (!o.token || !*o.token)
        snprintf(err, sizeof err, "--token is required (or set TENBUS_TOKEN)");
    else if (!o.name)
        snprintf(err, sizeof err, "--name is required");
    else if (o.rk && o.rkf)
        snprintf(err, sizeof err, "--routing-key and --routing-key-fmt are exclusive");
    else if (o.acl && o.no_acl)
        snprintf(err, sizeof err, "--acl and --no-acl are exclusive");
    if (err[0])
        goto usage_err;
    if (!(body = build_body(&o, err, sizeof err)))
        goto usage_err;
    text = json_dumps(body, JSON_COMPACT);
    rc = text ? post(&o, text) : 1;
    goto out;

usage_err:
    fprintf(stderr, "tenbus publish: %s\n", err);
usage_hint:
    fprintf(stderr, "Try 'tenbus publish --help'.\n");
out:
    free(text);
    json_decref(body);
    json_decref(o.users);
    json_decref(o.headers);
    return rc;
}
