/* Daemon logging: one line per record, "2026-11-25T16:49:04.123Z LEVEL msg",
 * to stderr or a file; the level is checked before formatting. Thread-safe.
 * Never log tokens. */
#ifndef TBD_LOG_H
#define TBD_LOG_H

#include <stdbool.h>

typedef enum { TBD_LOG_DEBUG = 0, TBD_LOG_INFO, TBD_LOG_WARNING, TBD_LOG_ERROR } tbd_log_level;

extern tbd_log_level tbd_log_threshold;

/* path NULL => stderr. Returns 0 or -1 (errno set). Reopens on a second call
 * (SIGHUP log rotation). */
int tbd_log_open(const char *path);
void tbd_log_close(void);
void tbd_log_set_level(tbd_log_level lvl);
/* true: one JSON object per record (log_json.h); false: text (the default). */
void tbd_log_set_json(bool json);
int tbd_log_parse_level(const char *s, tbd_log_level *out); /* "debug".."error", "warn" too; 0/-1 */

void tbd_log_write(tbd_log_level lvl, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define tbd_log(lvl, ...) do { if ((lvl) >= tbd_log_threshold) tbd_log_write((lvl), __VA_ARGS__); } while (0)
#define tbd_log_debug(...) tbd_log(TBD_LOG_DEBUG, __VA_ARGS__)
#define tbd_log_info(...) tbd_log(TBD_LOG_INFO, __VA_ARGS__)
#define tbd_log_warn(...) tbd_log(TBD_LOG_WARNING, __VA_ARGS__)
#define tbd_log_error(...) tbd_log(TBD_LOG_ERROR, __VA_ARGS__)

#endif
