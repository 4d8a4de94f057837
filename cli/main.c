/* tenbus: publish events to tenbusd and listen to them over its WebSocket. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include <tenbus/tenbus.h>

static void usage(FILE *f)
{
    fprintf(f,
            "Usage: tenbus [--help] [--version] COMMAND [ARGS...]\n"
            "\n"
            "Client for tenbusd, the tenant-aware event bus and WebSocket gateway\n"
            "(wazo-websocketd compatible).\n"
            "\n"
            "Commands:\n"
            "  publish   publish one event through the HTTP API (POST /api/events), or\n"
            "            with --bus straight to RabbitMQ as a Wazo service does\n"
            "  listen    connect to the WebSocket, subscribe, print events as JSON lines\n"
            "  consume   consume as a service: bind a queue (RabbitMQ) or open a session\n"
            "            (tenbusd), print each message as a JSON line\n"
            "  docs      write an event catalogue's AsyncAPI documents and HTML reference\n"
            "  catalogue check: validate event catalogue files\n"
            "\n"
            "Run 'tenbus COMMAND --help' for a command's options.\n"
            "\n"
            "Environment:\n"
            "  TENBUS_TOKEN  default for --token\n"
            "  TENBUS_URL    default for --url (http:// and ws:// are interchangeable)\n");
}

long long cli_parse_seconds(const char *s)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end || !(v > 0) || v > 1e9)
        return -1;
    return (long long)(v * 1000.0 + 0.5);
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        { "help", no_argument, NULL, 'h' },
        { "version", no_argument, NULL, 'V' },
        { NULL, 0, NULL, 0 },
    };
    int c;

    /* '+': stop at the command name; its options are its own. */
    while ((c = getopt_long(argc, argv, "+hV", opts, NULL)) != -1) {
        switch (c) {
        case 'h':
            usage(stdout);
            return 0;
        case 'V':
            printf("tenbus %s\n", tb_version());
            return 0;
        default:
            usage(stderr);
            return 1;
        }
    }
    if (optind >= argc) {
        usage(stderr);
        return 1;
    }
    const char *cmd = argv[optind];
    int sub_argc = argc - optind;
    char **sub_argv = argv + optind;
    if (strcmp(cmd, "publish") == 0)
        return cli_cmd_publish(sub_argc, sub_argv);
    if (strcmp(cmd, "listen") == 0)
        return cli_cmd_listen(sub_argc, sub_argv);
    if (strcmp(cmd, "consume") == 0)
        return cli_cmd_consume(sub_argc, sub_argv);
    if (strcmp(cmd, "docs") == 0)
        return cli_cmd_docs(sub_argc, sub_argv);
    if (strcmp(cmd, "catalogue") == 0)
        return cli_cmd_catalogue(sub_argc, sub_argv);
    if (strcmp(cmd, "help") == 0) {
        if (sub_argc > 1 && strcmp(sub_argv[1], "publish") == 0) {
            char *a[] = { "publish", "--help", NULL };
            return cli_cmd_publish(2, a);
        }
        if (sub_argc > 1 && strcmp(sub_argv[1], "consume") == 0) {
            char *a[] = { "consume", "--help", NULL };
            return cli_cmd_consume(2, a);
        }
        if (sub_argc > 1 && strcmp(sub_argv[1], "listen") == 0) {
            char *a[] = { "listen", "--help", NULL };
            return cli_cmd_listen(2, a);
        }
        usage(stdout);
        return 0;
    }
    fprintf(stderr, "tenbus: unknown command '%s'\n\n", cmd);
    usage(stderr);
    return 1;
}
