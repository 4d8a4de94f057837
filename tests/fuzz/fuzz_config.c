/* Configuration loading (daemon/conf/config.c). An input starting with '@' is a
 * list of "key=value" lines applied like command-line flags; any other input
 * is written to a file in a private directory and loaded as the -c file (an
 * `extra_config_files: .` then re-reads that directory). A failed load must
 * leave the caller's struct untouched and explain itself. */
#include <unistd.h>

#include "conf/config.h"
#include "fuzz.h"

static char dir[64];

static void remove_dir(void)
{
    rmdir(dir);
}

static void ignore(const char *msg)
{
    FUZZ_CHECK(msg && *msg);
}

static void check_limits(const tbd_config *c)
{
    FUZZ_CHECK(c->limits.max_frame_size >= 1024);
    FUZZ_CHECK(c->limits.max_message_size >= 1024);
    FUZZ_CHECK(c->limits.max_header_size >= 1024);
    FUZZ_CHECK(c->limits.handshake_timeout >= 1);
    FUZZ_CHECK(c->limits.max_subscriptions >= 1);
    FUZZ_CHECK(c->limits.max_queue_bytes >= 4096);
    FUZZ_CHECK(c->limits.max_body_size >= 1024);
    FUZZ_CHECK(c->ping_interval >= 1 && c->port >= 1);
    FUZZ_CHECK(c->listen && c->log_level);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[512] = "";
    if (size && data[0] == '@') {
        tbd_config cfg;
        tbd_config_defaults(&cfg);
        fuzz_in in = { data + 1, size - 1 };
        char *line;
        while ((line = fuzz_line(&in))) {
            err[0] = '\0';
            if (tbd_config_set_kv(&cfg, line, err, sizeof err) < 0)
                FUZZ_CHECK(err[0] != '\0');
            free(line);
        }
        check_limits(&cfg);
        tbd_config_free(&cfg);
        return 0;
    }

    if (!dir[0]) {
        snprintf(dir, sizeof dir, "/tmp/tbfuzz-config.XXXXXX");
        FUZZ_CHECK(mkdtemp(dir));
        atexit(remove_dir);
        unsetenv("XIVO_UUID");
    }
    char path[128];
    snprintf(path, sizeof path, "%s/tenbusd.yml", dir);
    FILE *f = fopen(path, "wb");
    FUZZ_CHECK(f);
    FUZZ_CHECK(fwrite(data, 1, size, f) == size);
    fclose(f);

    tbd_config cfg;
    memset(&cfg, 0xA5, sizeof cfg);
    int rc = tbd_config_load(&cfg, path, err, sizeof err, ignore);
    if (rc == 0) {
        check_limits(&cfg);
        FUZZ_CHECK(cfg.config_file && strcmp(cfg.config_file, path) == 0);
        tbd_config_free(&cfg);
    } else {
        FUZZ_CHECK(rc == -1 && err[0] != '\0');
        for (size_t i = 0; i < sizeof cfg; i++)
            FUZZ_CHECK(((unsigned char *)&cfg)[i] == 0xA5);
    }
    unlink(path);
    return 0;
}
