/* Daemon logging (see log.h).
 *
 * Each record is formatted into one buffer and handed to the kernel with a
 * single write(), so lines from several worker threads never interleave,
 * even with O_APPEND files shared by logrotate's copytruncate. The mutex
 * only guards the file descriptor against a concurrent reopen. */
#include "core/log.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

tbd_log_level tbd_log_threshold = TBD_LOG_INFO;

static pthread_mutex_t log__mu = PTHREAD_MUTEX_INITIALIZER;
static int log__fd = STDERR_FILENO;   /* never closed while it is stderr */

static const char *const log__names[] = { "DEBUG", "INFO", "WARNING", "ERROR" };

/* Longest record kept whole; longer messages are cut and marked with "...".
 * Bounded so a hostile value quoted in a message cannot make us allocate. */
#define LOG__LINE_MAX 4096

int tbd_log_open(const char *path)
{
    int fd = STDERR_FILENO;
    if (path) {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
        if (fd < 0)
            return -1;
    }
    pthread_mutex_lock(&log__mu);
    int old = log__fd;
    log__fd = fd;
    pthread_mutex_unlock(&log__mu);
    if (old != STDERR_FILENO)
        close(old);
    return 0;
}

void tbd_log_close(void)
{
    tbd_log_open(NULL);
}

void tbd_log_set_level(tbd_log_level lvl)
{
    if (lvl < TBD_LOG_DEBUG)
        lvl = TBD_LOG_DEBUG;
    if (lvl > TBD_LOG_ERROR)
        lvl = TBD_LOG_ERROR;
    tbd_log_threshold = lvl;
}

int tbd_log_parse_level(const char *s, tbd_log_level *out)
{
    static const struct { const char *name; tbd_log_level lvl; } names[] = {
        { "debug", TBD_LOG_DEBUG }, { "info", TBD_LOG_INFO },
        { "warning", TBD_LOG_WARNING }, { "warn", TBD_LOG_WARNING },
        { "error", TBD_LOG_ERROR },
        /* Python's logging (wazo's xivo_logging) also knows CRITICAL; we have
         * no level above ERROR, so it maps there. */
        { "critical", TBD_LOG_ERROR },
    };
    if (!s)
        return -1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        if (strcasecmp(s, names[i].name) == 0) {
            if (out)
                *out = names[i].lvl;
            return 0;
        }
    }
    return -1;
}

void tbd_log_write(tbd_log_level lvl, const char *fmt, ...)
{
    char line[LOG__LINE_MAX + 2];
    struct timespec ts;
    struct tm tm;

    if (lvl < TBD_LOG_DEBUG || lvl > TBD_LOG_ERROR)
        lvl = TBD_LOG_ERROR;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    int n = snprintf(line, LOG__LINE_MAX, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                     tm.tm_sec, ts.tv_nsec / 1000000, log__names[lvl]);
    size_t head = n > 0 ? (size_t)n : 0;

    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + head, LOG__LINE_MAX - head, fmt, ap);
    va_end(ap);
    size_t len = head;
    if (m > 0) {
        len += (size_t)m;
        if (len >= LOG__LINE_MAX) {
            len = LOG__LINE_MAX - 1;
            memcpy(line + len - 3, "...", 3);
        }
    }
    /* One record is one line: a newline inside a message (e.g. quoting a
     * client's bytes) must not let it forge a record of its own. */
    for (size_t i = head; i < len; i++)
        if (line[i] == '\n' || line[i] == '\r')
            line[i] = ' ';
    line[len++] = '\n';

    int saved = errno;
    pthread_mutex_lock(&log__mu);
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(log__fd, line + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;   /* nowhere left to report it */
        off += (size_t)w;
    }
    pthread_mutex_unlock(&log__mu);
    errno = saved;
}
