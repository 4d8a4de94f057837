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
        explicit_bzero(t->text, strlen(t->token));
    tbd_str_release(t->tenant_uuid);
    tbd_str_release(t->purpose);
    tbd_acl_list_release(t->acl);
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
    return t && t->acl && tb_acl_grants_as(t->acl->compiled, acl, t->user_uuid, t->session_uuid);
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

/* An optional string member, borrowed from obj: absent or null gives NULL. */
static int tok__string(const json_t *obj, const char *field, const char *label, bool required,
                       const char **out, char *err, size_t errlen)
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
    *out = json_string_value(v);
    return 0;
}

/* Copies s (may be NULL) to *p, advancing it; returns the copy or NULL. */
static const char *tok__put(char **p, const char *s)
{
    if (!s)
        return NULL;
    size_t len = strlen(s) + 1;
    char *d = memcpy(*p, s, len);
    *p += len;
    return d;
}

tbd_token *tbd_token_from_json(const struct json_t *obj, char *err, size_t errlen)
{
    const char *id, *session, *tenant, *user, *purpose;
    const char **acl = NULL;
    size_t n_acl = 0;
    bool admin = false;
    double expires_at = 0;
    const json_t *md;
    json_t *v;
    tbd_token *t = NULL;

    if (!json_is_object(obj)) {
        snprintf(err, errlen, "expected a token object");
        return NULL;
    }
    if (tok__string(obj, "token", "token", true, &id, err, errlen) ||
        tok__string(obj, "session_uuid", "session_uuid", false, &session, err, errlen))
        return NULL;

    md = json_object_get(obj, "metadata");
    if (!json_is_object(md)) {
        snprintf(err, errlen, md && !json_is_null(md) ? "metadata: expected a mapping"
                                                       : "metadata.tenant_uuid: missing");
        return NULL;
    }
    if (tok__string(md, "tenant_uuid", "metadata.tenant_uuid", true, &tenant, err, errlen) ||
        tok__string(md, "uuid", "metadata.uuid", false, &user, err, errlen) ||
        tok__string(md, "purpose", "metadata.purpose", false, &purpose, err, errlen))
        return NULL;
    v = json_object_get(md, "admin");
    if (json_is_boolean(v)) {
        admin = json_is_true(v);
    } else if (json_is_string(v) && (strcasecmp(json_string_value(v), "true") == 0 ||
                                     strcasecmp(json_string_value(v), "false") == 0)) {
        /* Some wazo-auth versions hand metadata through as strings. */
        admin = strcasecmp(json_string_value(v), "true") == 0;
    } else if (v && !json_is_null(v)) {
        snprintf(err, errlen, "metadata.admin: expected true or false");
        return NULL;
    }

    v = json_object_get(obj, "acl");
    if (v && !json_is_null(v)) {
        if (!json_is_array(v)) {
            snprintf(err, errlen, "acl: expected a list of strings");
            return NULL;
        }
        n_acl = json_array_size(v);
        if (!(acl = calloc(n_acl ? n_acl : 1, sizeof(*acl)))) {
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        for (size_t i = 0; i < n_acl; i++) {
            json_t *e = json_array_get(v, i);
            if (!json_is_string(e)) {
                snprintf(err, errlen, "acl[%zu]: expected a string", i);
                goto fail;
            }
            acl[i] = json_string_value(e);
        }
    }

    const char *exp_field = "utc_expires_at";
    v = json_object_get(obj, exp_field);
    if (!v) {
        exp_field = "expires_at";
        v = json_object_get(obj, exp_field);
    }
    if (v && !json_is_null(v)) {
        if (!json_is_string(v) || tbd_parse_iso8601(json_string_value(v), &expires_at) < 0) {
            snprintf(err, errlen, "%s: expected an ISO 8601 date or null", exp_field);
            goto fail;
        }
        if (expires_at == 0)   /* 0 means "never"; the epoch itself is long past */
            expires_at = -1;
    }

    size_t text = strlen(id) + 1 + (session ? strlen(session) + 1 : 0) +
                  (user ? strlen(user) + 1 : 0);
    if (!(t = malloc(sizeof(*t) + text)))
        goto oom;
    memset(t, 0, sizeof(*t));
    atomic_init(&t->refs, 1);
    t->admin = admin;
    t->expires_at = expires_at;
    char *p = t->text;
    t->token = tok__put(&p, id);
    t->session_uuid = tok__put(&p, session);
    t->user_uuid = tok__put(&p, user);
    if (!(t->tenant_uuid = tbd_str_intern(tenant)) ||
        (purpose && !(t->purpose = tbd_str_intern(purpose))) ||
        !(t->acl = tbd_acl_list_intern(acl, n_acl)))
        goto oom;
    free(acl);
    return t;
oom:
    snprintf(err, errlen, "out of memory");
fail:
    free(acl);
    tok__free(t);
    return NULL;
}
