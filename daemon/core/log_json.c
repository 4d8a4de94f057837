/* JSON log records (log_json.h). */
#include "core/log_json.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "ws_frame.h"

typedef struct jw {
    char *out;
    size_t cap;      /* bytes usable before the closing `,"truncated":true}` */
    size_t len;
    bool full;
} jw;

#define JW_TAIL sizeof(",\"truncated\":true}")

static void jw_raw(jw *w, const char *s, size_t n)
{
    if (w->full || w->len + n > w->cap) {
        w->full = true;
        return;
    }
    memcpy(w->out + w->len, s, n);
    w->len += n;
}

/* A JSON string of s[0..n): escapes and replaces invalid UTF-8 with '?'. */
static void jw_str(jw *w, const char *s, size_t n)
{
    bool utf8 = tb__ws_utf8_valid((const uint8_t *)s, n);
    jw_raw(w, "\"", 1);
    for (size_t i = 0; i < n && !w->full; i++) {
        unsigned char ch = (unsigned char)s[i];
        char esc[8];
        if (ch == '"' || ch == '\\') {
            esc[0] = '\\';
            esc[1] = (char)ch;
            jw_raw(w, esc, 2);
        } else if (ch < 0x20 || ch == 0x7f) {
            snprintf(esc, sizeof esc, "\\u%04x", ch);
            jw_raw(w, esc, 6);
        } else if (ch >= 0x80 && !utf8) {
            jw_raw(w, "?", 1);
        } else {
            jw_raw(w, (const char *)&ch, 1);
        }
    }
    jw_raw(w, "\"", 1);
}

static bool is_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

/* Length of "key=" at p (key: [a-z0-9_]+ starting with a letter), or 0. */
static size_t key_len(const char *p, const char *end)
{
    if (p >= end || !(*p >= 'a' && *p <= 'z'))
        return 0;
    const char *q = p;
    while (q < end && is_key_char(*q))
        q++;
    return q < end && *q == '=' ? (size_t)(q - p) : 0;
}

static bool is_number(const char *s, size_t n)
{
    size_t i = 0, digits = 0;
    if (i < n && s[i] == '-')
        i++;
    while (i < n && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (digits == 0 || digits > 18 || (digits > 1 && s[i - digits] == '0'))
        return false;
    if (i < n && s[i] == '.') {
        size_t frac = 0;
        i++;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++, frac++;
        if (frac == 0 || frac > 9)
            return false;
    }
    return i == n;
}

static void jw_value(jw *w, const char *v, size_t n, bool quoted)
{
    if (!quoted) {
        if (is_number(v, n)) {
            jw_raw(w, v, n);
            return;
        }
        if (n > 1 && v[n - 1] == 's' && is_number(v, n - 1)) {   /* a duration in seconds */
            jw_raw(w, v, n - 1);
            return;
        }
        if ((n == 4 && memcmp(v, "true", 4) == 0) || (n == 5 && memcmp(v, "false", 5) == 0)) {
            jw_raw(w, v, n);
            return;
        }
        if (n == 1 && v[0] == '-') {
            jw_raw(w, "null", 4);
            return;
        }
    }
    jw_str(w, v, n);
}

typedef struct seen {
    const char *k[32];
    size_t n[32];
    unsigned count;
} seen;

static bool seen_add(seen *s, const char *k, size_t n)
{
    static const char *const reserved[] = { "time", "level", "msg", "detail", "truncated" };
    for (size_t i = 0; i < sizeof reserved / sizeof reserved[0]; i++)
        if (strlen(reserved[i]) == n && memcmp(reserved[i], k, n) == 0)
            return false;
    for (unsigned i = 0; i < s->count; i++)
        if (s->n[i] == n && memcmp(s->k[i], k, n) == 0)
            return false;
    if (s->count == 32)
        return false;
    s->k[s->count] = k;
    s->n[s->count++] = n;
    return true;
}

size_t tbd_log_json_format(char *out, size_t cap, const char *time, const char *level,
                           const char *msg, size_t len)
{
    jw w = { out, cap > JW_TAIL ? cap - JW_TAIL : 0, 0, false };
    const char *p = msg, *end = msg + len;

    jw_raw(&w, "{\"time\":\"", 9);
    jw_raw(&w, time, strlen(time));
    jw_raw(&w, "\",\"level\":\"", 11);
    jw_raw(&w, level, strlen(level));
    jw_raw(&w, "\",\"msg\":", 8);

    /* The words: up to the first " key=" (or ": " ending a word). */
    const char *m_end = end, *rest = end;
    for (const char *q = p; q < end; q++) {
        if (*q == ' ' && key_len(q + 1, end)) {
            m_end = q;
            rest = q + 1;
            break;
        }
    }
    const char *words_end = m_end;
    while (words_end > p && words_end[-1] == ':')
        words_end--;
    jw_str(&w, p, (size_t)(words_end - p));

    seen keys = { .count = 0 };
    p = rest;
    while (p < end && !w.full) {
        size_t kl = key_len(p, end);
        if (!kl)
            break;
        const char *k = p, *v = p + kl + 1, *v_end;
        bool quoted = v < end && *v == '"';
        bool tail = false;
        if (quoted) {
            v++;
            v_end = v;
            /* the closing quote is one followed by a space, ':' or the end */
            while (v_end < end && !(*v_end == '"' && (v_end + 1 == end || v_end[1] == ' ' ||
                                                      v_end[1] == ':')))
                v_end++;
            p = v_end < end ? v_end + 1 : end;
        } else {
            v_end = v;
            while (v_end < end && *v_end != ' ')
                v_end++;
            p = v_end;
        }
        if (p < end && *p == ':') {      /* "key=value: detail" */
            tail = true;
            p++;
        } else if (!quoted && v_end > v && v_end[-1] == ':') {
            v_end--;
            tail = true;
        }
        if (seen_add(&keys, k, kl)) {
            jw_raw(&w, ",", 1);
            jw_str(&w, k, kl);
            jw_raw(&w, ":", 1);
            jw_value(&w, v, (size_t)(v_end - v), quoted);
        }
        while (p < end && *p == ' ')
            p++;
        if (tail)
            break;
    }
    if (p < end && !w.full) {
        jw_raw(&w, ",\"detail\":", 10);
        jw_str(&w, p, (size_t)(end - p));
    }
    if (w.full) {
        /* Cut back to the last complete member. */
        size_t keep = w.len;
        bool in_str = false;
        size_t last = 0;
        for (size_t i = 0; i < keep; i++) {
            char c = out[i];
            if (in_str) {
                if (c == '\\')
                    i++;
                else if (c == '"')
                    in_str = false;
            } else if (c == '"') {
                in_str = true;
            } else if (c == ',') {
                last = i;
            }
        }
        w.len = last ? last : 0;
        w.full = false;
        w.cap = cap;
        if (!last) {     /* not even the header fits: cap is >= 64 per contract */
            w.len = 0;
            jw_raw(&w, "{\"truncated\":true}", 18);
            return w.len;
        }
        jw_raw(&w, ",\"truncated\":true}", JW_TAIL - 1);
        return w.len;
    }
    w.cap = cap;
    jw_raw(&w, "}", 1);
    return w.len;
}
