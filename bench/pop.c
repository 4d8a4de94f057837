/* The bench's population of tenants, users and tokens, generated or read
 * back from a tokens file (attach mode). */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uthash.h>

#include "bench.h"

/* Recognisable prefixes, so a uuid seen in a daemon log tells what it is. */
#define TENANT_FMT "7e4a0000-0000-4000-8000-%012x"
#define USER_FMT   "05e40000-0000-4000-8000-%012x"
#define SESS_FMT   "5e550000-0000-4000-8000-%012x"
#define MASTER_UUID "7e4a0000-0000-4000-8000-ffffffffffff"
#define PUBLISHER_TOKEN "bench-publisher"

typedef struct name_ix {
    const char *key;
    uint32_t ix;
    UT_hash_handle hh;
} name_ix;

static int push_ix(uint32_t **a, uint32_t *n, uint32_t *cap, uint32_t v)
{
    if (*n == *cap) {
        uint32_t nc = *cap ? *cap * 2 : 4;
        uint32_t *na = realloc(*a, nc * sizeof(**a));
        if (!na)
            return -1;
        *a = na;
        *cap = nc;
    }
    (*a)[(*n)++] = v;
    return 0;
}

static char *xstrdup(const char *s)
{
    char *d = strdup(s);
    if (!d) {
        fprintf(stderr, "tenbus-bench: out of memory\n");
        exit(2);
    }
    return d;
}

static void link_session(b_pop *p, uint32_t s)
{
    b_sess *se = &p->sess[s];
    if (push_ix(&p->tenants[se->tenant].sess, &p->tenants[se->tenant].n_sess,
                &p->tenants[se->tenant].cap, s) ||
        push_ix(&p->users[se->user].sess, &p->users[se->user].n_sess, &p->users[se->user].cap, s)) {
        fprintf(stderr, "tenbus-bench: out of memory\n");
        exit(2);
    }
}

int pop_generate(b_pop *p, uint32_t n, uint32_t t)
{
    char buf[64];
    memset(p, 0, sizeof(*p));
    p->tenants = calloc(t, sizeof(*p->tenants));
    p->users = calloc(n, sizeof(*p->users));
    p->sess = calloc(n, sizeof(*p->sess));
    if (!p->tenants || !p->users || !p->sess)
        return -1;
    p->n_tenants = t;
    p->n_users = n;
    p->n_sess = n;
    for (uint32_t i = 0; i < t; i++) {
        snprintf(buf, sizeof(buf), TENANT_FMT, i);
        p->tenants[i].uuid = xstrdup(buf);
    }
    for (uint32_t i = 0; i < n; i++) {
        snprintf(buf, sizeof(buf), USER_FMT, i);
        p->users[i].uuid = xstrdup(buf);
        p->users[i].tenant = i % t;
        snprintf(buf, sizeof(buf), "bench-%06u", i);
        p->sess[i].token = xstrdup(buf);
        p->sess[i].tenant = i % t;
        p->sess[i].user = i;
        link_session(p, i);
    }
    p->publisher = xstrdup(PUBLISHER_TOKEN);
    p->master_tenant = xstrdup(MASTER_UUID);
    return 0;
}

int pop_write_tokens(const b_pop *p, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    /* JSON is YAML, and writing it by hand keeps 20k entries fast. */
    fprintf(f, "{\"tokens\": [\n");
    fprintf(f, "{\"token\": \"%s\", \"session_uuid\": \"" SESS_FMT "\", "
               "\"acl\": [\"websocketd\", \"events.#\", \"tenbus.publish.#\"], \"utc_expires_at\": null, "
               "\"metadata\": {\"uuid\": null, \"tenant_uuid\": \"%s\", \"purpose\": \"internal\", "
               "\"admin\": false}}",
            p->publisher, 0xffffffffu, p->master_tenant);
    for (uint32_t i = 0; i < p->n_sess; i++) {
        const b_sess *s = &p->sess[i];
        fprintf(f, ",\n{\"token\": \"%s\", \"session_uuid\": \"" SESS_FMT "\", "
                   "\"acl\": [\"websocketd\", \"events.#\"], \"utc_expires_at\": null, "
                   "\"metadata\": {\"uuid\": \"%s\", \"tenant_uuid\": \"%s\", \"purpose\": \"user\", "
                   "\"admin\": false}}",
                s->token, i, p->users[s->user].uuid, p->tenants[s->tenant].uuid);
    }
    fprintf(f, "\n]}\n");
    return fclose(f) == 0 ? 0 : -1;
}

static uint32_t intern(name_ix **map, const char *key, uint32_t next)
{
    name_ix *e;
    HASH_FIND_STR(*map, key, e);
    if (e)
        return e->ix;
    e = calloc(1, sizeof(*e));
    if (!e) {
        fprintf(stderr, "tenbus-bench: out of memory\n");
        exit(2);
    }
    e->key = key;
    e->ix = next;
    HASH_ADD_KEYPTR(hh, *map, e->key, strlen(e->key), e);
    return next;
}

static void free_map(name_ix **map)
{
    name_ix *e, *tmp;
    HASH_ITER(hh, *map, e, tmp) {
        HASH_DEL(*map, e);
        free(e);
    }
}

int pop_load(b_pop *p, const char *path, const char *publisher, uint32_t max_sess)
{
    json_error_t jerr;
    memset(p, 0, sizeof(*p));
    json_t *doc = json_load_file(path, 0, &jerr);
    if (!doc) {
        fprintf(stderr, "tenbus-bench: %s:%d: %s (a JSON tokens file, as --write-tokens makes)\n",
                path, jerr.line, jerr.text);
        return -1;
    }
    json_t *list = json_is_object(doc) ? json_object_get(doc, "tokens") : doc;
    size_t n = json_array_size(list);
    const char *pub = publisher ? publisher : PUBLISHER_TOKEN;
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(list, i);
        const char *tok = json_string_value(json_object_get(e, "token"));
        json_t *md = json_object_get(e, "metadata");
        if (tok && strcmp(tok, pub) == 0) {
            p->publisher = xstrdup(tok);
            const char *mt = json_string_value(json_object_get(md, "tenant_uuid"));
            p->master_tenant = xstrdup(mt ? mt : "");
        }
    }
    if (!p->publisher) {
        fprintf(stderr, "tenbus-bench: %s: no publisher token \"%s\"\n", path, pub);
        json_decref(doc);
        return -1;
    }
    p->tenants = calloc(n ? n : 1, sizeof(*p->tenants));
    p->users = calloc(n ? n : 1, sizeof(*p->users));
    p->sess = calloc(n ? n : 1, sizeof(*p->sess));
    if (!p->tenants || !p->users || !p->sess) {
        json_decref(doc);
        return -1;
    }
    name_ix *tmap = NULL, *umap = NULL;
    for (size_t i = 0; i < n && p->n_sess < max_sess; i++) {
        json_t *e = json_array_get(list, i);
        json_t *md = json_object_get(e, "metadata");
        const char *tok = json_string_value(json_object_get(e, "token"));
        const char *ten = json_string_value(json_object_get(md, "tenant_uuid"));
        const char *usr = json_string_value(json_object_get(md, "uuid"));
        const char *purpose = json_string_value(json_object_get(md, "purpose"));
        /* Admins, services and master-tenant tokens see more than their own
         * user's events; the bench's expected sets only model plain users. */
        if (!tok || !ten || !usr || json_is_true(json_object_get(md, "admin")) ||
            (purpose && strcmp(purpose, "user") != 0) || strcmp(ten, p->master_tenant) == 0)
            continue;
        uint32_t ti = intern(&tmap, ten, p->n_tenants);
        if (ti == p->n_tenants)
            p->tenants[p->n_tenants++].uuid = xstrdup(ten);
        uint32_t ui = intern(&umap, usr, p->n_users);
        if (ui == p->n_users) {
            p->users[p->n_users].uuid = xstrdup(usr);
            p->users[p->n_users++].tenant = ti;
        }
        uint32_t s = p->n_sess++;
        p->sess[s].token = xstrdup(tok);
        p->sess[s].tenant = ti;
        p->sess[s].user = ui;
        link_session(p, s);
    }
    free_map(&tmap);
    free_map(&umap);
    json_decref(doc);
    return 0;
}

void pop_free(b_pop *p)
{
    for (uint32_t i = 0; i < p->n_tenants; i++) {
        free(p->tenants[i].uuid);
        free(p->tenants[i].sess);
    }
    for (uint32_t i = 0; i < p->n_users; i++) {
        free(p->users[i].uuid);
        free(p->users[i].sess);
    }
    for (uint32_t i = 0; i < p->n_sess; i++)
        free(p->sess[i].token);
    free(p->tenants);
    free(p->users);
    free(p->sess);
    free(p->publisher);
    free(p->master_tenant);
    memset(p, 0, sizeof(*p));
}
