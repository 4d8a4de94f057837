/* The JSON form of a log record (tenbus.log_format: json, --log-format json):
 * one object per line. The daemon's messages are "words key=value ...
 * [: detail]"; the words become "msg", each key=value a member, typed:
 *
 *   digits (with an optional fraction) -> number; "12.5s" -> 12.5 (seconds);
 *   true/false -> boolean; "-" -> null; "quoted text" -> its text;
 *   anything else -> string
 *
 * and a free-text tail after the fields (": reason") becomes "detail".
 * Example: `session end user=U tenant=T code=4003 reason="authentication
 * expired" duration=12.0s delivered=3` gives {"time":..,"level":"info",
 * "msg":"session end","user":"U","tenant":"T","code":4003,
 * "reason":"authentication expired","duration":12.0,"delivered":3}.
 * A key seen twice keeps its first value. Invalid UTF-8 bytes become '?'. */
#ifndef TBD_LOG_JSON_H
#define TBD_LOG_JSON_H

#include <stddef.h>

/* Writes the record (without a newline) into out (cap bytes, >= 64) and
 * returns its length; a record that does not fit is cut at a member
 * boundary and gets "truncated":true, so the output is always one valid
 * JSON object. `time` and `level` are trusted (no escaping needed). */
size_t tbd_log_json_format(char *out, size_t cap, const char *time, const char *level,
                           const char *msg, size_t len);

#endif
