/* tenbus docs / tenbus catalogue check: the event catalogue's documentation
 * (docs/catalogue.md). */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <tenbus/catalogue.h>

#include "cli.h"
#include "docgen.h"

static tb_catalogue *load(int n, char **paths)
{
    tb_catalogue *cat;
    char err[1024];
    if (tb_catalogue_load((const char *const *)paths, (size_t)n, &cat, err, sizeof(err)) != TB_OK) {
        fprintf(stderr, "tenbus: %s\n", err);
        return NULL;
    }
    return cat;
}

static void docs_usage(FILE *f)
{
    fprintf(f,
            "Usage: tenbus docs [OPTIONS] CATALOGUE... -o DIR\n"
            "\n"
            "Writes the documentation of an event catalogue (YAML files, or directories of\n"
            "them) into DIR: one AsyncAPI 3.0 document per service (SERVICE.asyncapi.json)\n"
            "and a static HTML reference that works offline (index.html, SERVICE.html).\n"
            "\n"
            "Options:\n"
            "  -o, --output DIR     where to write (created if missing)\n"
            "      --server HOST:PORT  AMQP server of the AsyncAPI documents (localhost:5672)\n"
            "      --exchange NAME  exchange (wazo-headers)\n"
            "      --vhost VHOST    virtual host (/)\n"
            "  -h, --help           this help\n");
}

int cli_cmd_docs(int argc, char **argv)
{
    static const struct option opts[] = {
        {"output", required_argument, NULL, 'o'}, {"server", required_argument, NULL, 's'},
        {"exchange", required_argument, NULL, 'e'}, {"vhost", required_argument, NULL, 'v'},
        {"help", no_argument, NULL, 'h'}, {NULL, 0, NULL, 0},
    };
    tb__docgen_opts o = {.amqp_host = "localhost:5672", .vhost = "/", .exchange = "wazo-headers"};
    const char *dir = NULL;
    int c;
    optind = 0; /* 0: full re-initialisation, so options may follow the catalogue paths */
    while ((c = getopt_long(argc, argv, "o:h", opts, NULL)) != -1) {
        switch (c) {
        case 'o': dir = optarg; break;
        case 's': o.amqp_host = optarg; break;
        case 'e': o.exchange = optarg; break;
        case 'v': o.vhost = optarg; break;
        case 'h': docs_usage(stdout); return 0;
        default: docs_usage(stderr); return 2;
        }
    }
    if (!dir || optind >= argc) {
        fprintf(stderr, "tenbus docs: %s\n", !dir ? "-o DIR is required" : "no catalogue given");
        docs_usage(stderr);
        return 2;
    }
    tb_catalogue *cat = load(argc - optind, argv + optind);
    if (!cat)
        return 1;
    tb__docs docs;
    if (tb__docgen(cat, &o, &docs) < 0) {
        fprintf(stderr, "tenbus docs: out of memory\n");
        tb_catalogue_free(cat);
        return 1;
    }
    int rc = 0;
    if (mkdir(dir, 0777) < 0 && errno != EEXIST) {
        fprintf(stderr, "tenbus docs: %s: %s\n", dir, strerror(errno));
        rc = 1;
    }
    for (size_t i = 0; rc == 0 && i < docs.n; i++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s", dir, docs.files[i].name);
        FILE *f = fopen(path, "wb");
        if (!f || fwrite(docs.files[i].body, 1, docs.files[i].len, f) != docs.files[i].len) {
            fprintf(stderr, "tenbus docs: %s: %s\n", path, strerror(errno));
            rc = 1;
        }
        if (f && fclose(f) != 0 && rc == 0) {
            fprintf(stderr, "tenbus docs: %s: %s\n", path, strerror(errno));
            rc = 1;
        }
    }
    if (rc == 0)
        printf("%zu event types, %zu files written to %s\n", tb_catalogue_count(cat), docs.n, dir);
    tb__docs_free(&docs);
    tb_catalogue_free(cat);
    return rc;
}

int cli_cmd_catalogue(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
        printf("Usage: tenbus catalogue check CATALOGUE...\n\n"
               "Loads and checks event catalogue files (or directories of them) without\n"
               "writing anything; errors name the file, line and key. Exit status 0 when valid.\n");
        return 0;
    }
    if (argc < 3 || strcmp(argv[1], "check") != 0) {
        fprintf(stderr, "Usage: tenbus catalogue check CATALOGUE...\n");
        return 2;
    }
    tb_catalogue *cat = load(argc - 2, argv + 2);
    if (!cat)
        return 1;
    size_t n = tb_catalogue_count(cat), services = 0;
    for (size_t i = 0; i < n; i++)
        if (i == 0 || strcmp(tb_catalogue_get(cat, i)->service, tb_catalogue_get(cat, i - 1)->service))
            services++;
    printf("ok: %zu event types, %zu services\n", n, services);
    tb_catalogue_free(cat);
    return 0;
}
