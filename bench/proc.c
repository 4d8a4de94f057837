/* Spawning the daemon under test, reading its resource usage from /proc, and
 * a blocking HTTP GET for /status and /metrics (never on the measured path). */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

long proc_rss_bytes(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long kb = -1;
    while (fgets(line, sizeof(line), f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb < 0 ? -1 : kb * 1024;
}

double proc_cpu_seconds(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    int fd = open(path, O_RDONLY);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    buf[n] = 0;
    /* The command name (field 2) may hold spaces and parentheses: fields are
     * counted from the last ')'. utime and stime are fields 14 and 15. */
    char *p = strrchr(buf, ')');
    if (!p)
        return -1;
    unsigned long ut, st;
    if (sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return -1;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
        getsockname(fd, (struct sockaddr *)&a, &al) < 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    close(fd);
    return ntohs(a.sin_port);
}

/* True if a /status body's top-level "status" is "ok". */
static bool status_ok(const char *body)
{
    const char *p = body ? strstr(body, "\"status\"") : NULL;
    if (!p)
        return false;
    p += strlen("\"status\"");
    while (*p == ' ' || *p == ':')
        p++;
    return strncmp(p, "\"ok\"", 4) == 0;
}

int daemon_spawn(b_daemon *d, const char *exe, const b_pop *p, uint32_t max_conns,
                 int workers, const char *const *extra_set, bool verbose)
{
    char tmpl[] = "/tmp/tenbus-bench.XXXXXX";
    if (!mkdtemp(tmpl)) {
        perror("tenbus-bench: mkdtemp");
        return -1;
    }
    d->dir = strdup(tmpl);
    char tokens[512], conf[512], log[512];
    snprintf(tokens, sizeof(tokens), "%s/tokens.json", tmpl);
    snprintf(conf, sizeof(conf), "%s/tenbusd.yml", tmpl);
    snprintf(log, sizeof(log), "%s/tenbusd.log", tmpl);
    d->log = strdup(log);
    if (pop_write_tokens(p, tokens) < 0) {
        perror("tenbus-bench: writing tokens");
        return -1;
    }
    d->port = free_port();
    FILE *f = fopen(conf, "w");
    if (!f || d->port < 0) {
        perror("tenbus-bench: writing config");
        return -1;
    }
    /* The queue limit is the default's: the bench must see what a deployed
     * daemon would do with a slow consumer. */
    fprintf(f,
            "uuid: " BENCH_STACK_UUID "\n"
            "log_level: %s\n"
            "websocket:\n  listen: 127.0.0.1\n  port: %d\n  ping_interval: 60\n"
            "tenbus:\n  bus_backend: embedded\n  auth_backend: file\n"
            "  tokens_file: tokens.json\n  master_tenant_uuid: %s\n  workers: %d\n"
            "  limits:\n    max_connections: %u\n",
            verbose ? "info" : "warning", d->port, p->master_tenant, workers, max_conns);
    fclose(f);

    pid_t pid = fork();
    if (pid < 0) {
        perror("tenbus-bench: fork");
        return -1;
    }
    if (pid == 0) {
        int lfd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (lfd >= 0) {
            dup2(lfd, 1);
            dup2(lfd, 2);
            close(lfd);
        }
        const char *argv[4 + 2 * B_MAX_DAEMON_SET];
        int ac = 0;
        argv[ac++] = exe;
        argv[ac++] = "-c";
        argv[ac++] = conf;
        for (int i = 0; extra_set && extra_set[i]; i++) {
            argv[ac++] = "-o";
            argv[ac++] = extra_set[i];
        }
        argv[ac] = NULL;
        execv(exe, (char *const *)argv);
        fprintf(stderr, "exec %s: %s\n", exe, strerror(errno));
        _exit(127);
    }
    d->pid = pid;

    /* Ready when /status says "ok" (bus connected, auth backend ready: the
     * wazo-auth backend first logs in); loading 20k tokens takes a moment. */
    int64_t deadline = now_ns() + 30 * (int64_t)1000000000;
    while (now_ns() < deadline) {
        int st = 0;
        if (!daemon_alive(d, &st)) {
            fprintf(stderr, "tenbus-bench: the daemon exited at start-up (status %d); see %s\n", st, log);
            return -1;
        }
        char *body = NULL;
        int code = http_get("127.0.0.1", d->port, "/status", NULL, &body);
        bool ok = code == 200 && status_ok(body);
        free(body);
        if (ok)
            return 0;
        usleep(50000);
    }
    fprintf(stderr, "tenbus-bench: the daemon's /status did not say \"ok\" in 30 s; see %s\n", log);
    return -1;
}

bool daemon_alive(b_daemon *d, int *status)
{
    if (d->pid <= 0)
        return false;
    int st = 0;
    pid_t r = waitpid(d->pid, &st, WNOHANG);
    if (r == d->pid) {
        d->pid = -d->pid;      /* keep the number for messages, mark it gone */
        if (status)
            *status = st;
        return false;
    }
    return true;
}

int daemon_stop(b_daemon *d, double timeout_s)
{
    if (d->pid <= 0)
        return 0;
    kill(d->pid, SIGTERM);
    int64_t deadline = now_ns() + (int64_t)(timeout_s * 1e9);
    int st = 0;
    while (now_ns() < deadline) {
        pid_t r = waitpid(d->pid, &st, WNOHANG);
        if (r == d->pid) {
            d->pid = 0;
            return st;
        }
        usleep(20000);
    }
    kill(d->pid, SIGKILL);
    waitpid(d->pid, &st, 0);
    d->pid = 0;
    return -1;
}

int http_get(const char *host, int port, const char *path, const char *token, char **body)
{
    *body = NULL;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &a.sin_addr) != 1)
        return -1;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
        close(fd);
        return -1;
    }
    char req[512];
    int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: %s\r\n%s%s%sConnection: close\r\n\r\n",
                     path, host, token ? "X-Auth-Token: " : "", token ? token : "", token ? "\r\n" : "");
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    size_t len = 0, cap = 16384;
    char *buf = malloc(cap);
    for (;;) {
        if (!buf)
            break;
        if (len + 4096 > cap) {
            char *nb = realloc(buf, cap *= 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
        }
        struct pollfd pfd = {.fd = fd, .events = POLLIN};
        if (poll(&pfd, 1, 5000) <= 0)
            break;
        ssize_t r = read(fd, buf + len, cap - len - 1);
        if (r <= 0)
            break;
        len += (size_t)r;
    }
    close(fd);
    if (!buf)
        return -1;
    buf[len] = 0;
    int code = -1;
    if (sscanf(buf, "HTTP/1.%*d %d", &code) != 1) {
        free(buf);
        return -1;
    }
    char *b = strstr(buf, "\r\n\r\n");
    *body = strdup(b ? b + 4 : "");
    free(buf);
    return code;
}
