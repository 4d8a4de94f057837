/* Validated tokens (see token.h). */
#include "auth/token.h"

#include <ctype.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

static void tok__free(tbd_token *t)
{
    if (!t)
        return;
    /* The id is a credential: scrub it before the memory is reused. */
    if (t->token)
        explicit_bzero(t->token, strlen(t->token));
    free(t->token);
    free(t->session_uuid);
    free(t->user_uuid);
    free(t->tenant_uuid);
    free(t->purpose);
    for (size_t i = 0; i < t->n_acl; i++)
        free(t->acl[i]);
    free(t->acl);
    tb_acl_free(t->cacl);
    free(t);
}

tbd_token *tbd_token_ref(tbd_token *t)
{
    if (t)
        atomic_fetch_add_explicit(&t->refs, 1, memory_order_relaxed);
    return t;
}

void tbd_token_unref(tbd_token *t)
{
    /* acq_rel: the thread freeing must see every other thread's last use. */
    if (t && atomic_fetch_sub_explicit(&t->refs, 1, memory_order_acq_rel) == 1)
        tok__free(t);
}

bool tbd_token_grants(const tbd_token *t, const char *acl)
{
    if (!acl)
        return true;
    return t && t->cacl && tb_acl_grants(t->cacl, acl);
}

bool tbd_token_expired(const tbd_token *t, double now)
{
    return t->expires_at != 0 && t->expires_at <= now;
}

/* ---- ISO 8601 ----------------------------------------------------------- */

static int iso__digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int iso__days_in_month(int year, int month)
{
    static const int days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : days[month - 1];
}

int tbd_parse_iso8601(const char *s, double *out)
{
    int Y, M, D, h, m, sec = 0;
    double frac = 0;
    const char *p = s;

    if (!s)
        return -1;
    if (iso__digits(&p, 4, &Y) || *p++ != '-' || iso__digits(&p, 2, &M) || *p++ != '-' ||
        iso__digits(&p, 2, &D))
        return -1;
    /* Python's str(datetime) separates with a space, isoformat() with 'T'. */
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -1;
    p++;
    if (iso__digits(&p, 2, &h) || *p++ != ':' || iso__digits(&p, 2, &m))
        return -1;
    if (*p == ':') {
        p++;
        if (iso__digits(&p, 2, &sec))
            return -1;
        if (*p == '.' || *p == ',') {
            p++;
            double scale = 0.1;
            if (!isdigit((unsigned char)*p))
                return -1;
            for (; isdigit((unsigned char)*p); p++, scale /= 10)
                frac += (*p - '0') * scale;
        }
    }
    int offset = 0;   /* seconds east of UTC */
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p++ == '-' ? -1 : 1, oh, om = 0;
        if (iso__digits(&p, 2, &oh))
            return -1;
        if (*p == ':')
            p++;
        if (*p && iso__digits(&p, 2, &om))
            return -1;
        if (oh > 23 || om > 59)
            return -1;
        offset = sign * (oh * 3600 + om * 60);
    }
    if (*p != '\0')
        return -1;
    if (M < 1 || M > 12 || D < 1 || D > iso__days_in_month(Y, M) || h > 23 || m > 59 ||
        sec > 60)
        return -1;

    struct tm tm = { .tm_year = Y - 1900, .tm_mon = M - 1, .tm_mday = D,
                     .tm_hour = h, .tm_min = m, .tm_sec = sec };
    time_t t = timegm(&tm);
    *out = (double)t + frac - offset;
    return 0;
}

/* ---- from JSON ---------------------------------------------------------- */

/* Copies an optional string member: absent or null gives NULL. */
static int tok__string(const json_t *obj, const char *field, const char *label, bool required,
                       char **out, char *err, size_t errlen)
{
    json_t *v = json_object_get(obj, field);
    *out = NULL;
    if (!v || json_is_null(v)) {
        if (!required)
            return 0;
        snprintf(err, errlen, "%s: missing", label);
        return -1;
    }
    if (!json_is_string(v) || (required && json_string_length(v) == 0)) {
        snprintf(err, errlen, "%s: expected a%s string", label, required ? " non-empty" : "");
        return -1;
    }
    if (!(*out = strdup(json_string_value(v)))) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

tbd_token *tbd_token_from_json(const struct json_t *obj, char *err, size_t errlen)
{
    const json_t *md;
    json_t *v;
    tbd_token *t;

    if (!json_is_object(obj)) {
        snprintf(err, errlen, "expected a token object");
        return NULL;
    }
    if (!(t = calloc(1, sizeof *t))) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    atomic_init(&t->refs, 1);

    if (tok__string(obj, "token", "token", true, &t->token, err, errlen) ||
        tok__string(obj, "session_uuid", "session_uuid", false, &t->session_uuid, err, errlen))
        goto fail;

    md = json_object_get(obj, "metadata");
    if (!json_is_object(md)) {
        snprintf(err, errlen, md && !json_is_null(md) ? "metadata: expected a mapping"
                                                       : "metadata.tenant_uuid: missing");
        goto fail;
    }
    if (tok__string(md, "tenant_uuid", "metadata.tenant_uuid", true, &t->tenant_uuid, err,
                    errlen) ||
        tok__string(md, "uuid", "metadata.uuid", false, &t->user_uuid, err, errlen) ||
        tok__string(md, "purpose", "metadata.purpose", false, &t->purpose, err, errlen))
        goto fail;
    v = json_object_get(md, "admin");
    if (json_is_boolean(v)) {
        t->admin = json_is_true(v);
    } else if (json_is_string(v) && (strcasecmp(json_string_value(v), "true") == 0 ||
                                     strcasecmp(json_string_value(v), "false") == 0)) {
        /* Some wazo-auth versions hand metadata through as strings. */
        t->admin = strcasecmp(json_string_value(v), "true") == 0;
    } else if (v && !json_is_null(v)) {
        snprintf(err, errlen, "metadata.admin: expected true or false");
        goto fail;
    }

    v = json_object_get(obj, "acl");
    if (v && !json_is_null(v)) {
        if (!json_is_array(v)) {
            snprintf(err, errlen, "acl: expected a list of strings");
            goto fail;
        }
        size_t n = json_array_size(v);
        t->acl = calloc(n ? n : 1, sizeof *t->acl);
        if (!t->acl) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_array_get(v, i);
            if (!json_is_string(e)) {
                snprintf(err, errlen, "acl[%zu]: expected a string", i);
                goto fail;
            }
            if (!(t->acl[i] = strdup(json_string_value(e)))) {
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
            t->n_acl = i + 1;
        }
    }

    const char *exp_field = "utc_expires_at";
    v = json_object_get(obj, exp_field);
    if (!v) {
        exp_field = "expires_at";
        v = json_object_get(obj, exp_field);
    }
    if (v && !json_is_null(v)) {
        if (!json_is_string(v) || tbd_parse_iso8601(json_string_value(v), &t->expires_at) < 0) {
            snprintf(err, errlen, "%s: expected an ISO 8601 date or null", exp_field);
            goto fail;
        }
        if (t->expires_at == 0)   /* 0 means "never"; the epoch itself is long past */
            t->expires_at = -1;
    }

    t->cacl = tb_acl_new((const char *const *)t->acl, t->n_acl, t->user_uuid, t->session_uuid);
    if (!t->cacl) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    return t;
fail:
    tok__free(t);
    return NULL;
}
