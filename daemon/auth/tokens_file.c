/* The file auth backend's token set (see tokens_file.h).
 *
 * An open-addressing table (linear probing, load factor <= 1/2) keyed by
 * token id. It is built once and never modified, so lookups from any worker
 * thread need no lock; a reload builds a new set and swaps the pointer. */
#include "auth/tokens_file.h"

#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/yamljson.h"

struct tbd_token_set {
    atomic_int refs;
    size_t count;
    size_t mask;            /* capacity - 1, capacity a power of two */
    tbd_token **slots;      /* NULL = empty */
    int *lines;             /* per slot: line of the entry (for duplicate errors) */
};

/* FNV-1a: ids come from the operator's own file, so flooding is not a
 * concern here. */
static uint64_t ts__hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static void ts__free(tbd_token_set *s)
{
    if (!s)
        return;
    for (size_t i = 0; s->slots && i <= s->mask; i++)
        tbd_token_unref(s->slots[i]);
    free(s->slots);
    free(s->lines);
    free(s);
}

static tbd_token_set *ts__new(size_t n)
{
    size_t cap = 8;
    while (cap < 2 * n)
        cap *= 2;
    tbd_token_set *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    atomic_init(&s->refs, 1);
    s->mask = cap - 1;
    s->slots = calloc(cap, sizeof *s->slots);
    s->lines = calloc(cap, sizeof *s->lines);
    if (!s->slots || !s->lines) {
        ts__free(s);
        return NULL;
    }
    return s;
}

/* Returns the slot holding `id`, or the empty slot where it would go. */
static size_t ts__probe(const tbd_token_set *s, const char *id)
{
    size_t i = (size_t)ts__hash(id) & s->mask;
    while (s->slots[i] && strcmp(s->slots[i]->token, id) != 0)
        i = (i + 1) & s->mask;
    return i;
}

tbd_token_set *tbd_token_set_load(const char *path, char *err, size_t errlen)
{
    json_t *lines = NULL;
    json_t *doc = tb__yaml_load_file_lines(path, &lines, err, errlen);
    if (!doc)
        return NULL;

    const json_t *list = doc;
    const char *base = "";          /* JSON Pointer of the list */
    const char *label = "";         /* how errors name the list */
    if (json_is_object(doc)) {
        list = json_object_get(doc, "tokens");
        base = "/tokens";
        label = "tokens";
        if (json_is_null(list)) {
            list = NULL;   /* "tokens:" with nothing under it: an empty set */
        } else if (!json_is_array(list)) {
            int line = tb__yaml_line(lines, base);
            snprintf(err, errlen, "%s:%d: expected a `tokens:` list", path, line ? line : 1);
            goto fail;
        }
    } else if (!json_is_array(doc)) {
        snprintf(err, errlen, "%s:1: expected a `tokens:` list or a list of tokens", path);
        goto fail;
    }

    size_t n = json_array_size(list);
    tbd_token_set *s = ts__new(n);
    if (!s) {
        snprintf(err, errlen, "%s: out of memory", path);
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        char ptr[64], why[256];
        snprintf(ptr, sizeof ptr, "%s/%zu", base, i);
        int line = tb__yaml_line(lines, ptr);
        tbd_token *t = tbd_token_from_json(json_array_get(list, i), why, sizeof why);
        if (!t) {
            snprintf(err, errlen, "%s:%d: %s[%zu]: %s", path, line, label, i, why);
            ts__free(s);
            goto fail;
        }
        size_t slot = ts__probe(s, t->token);
        if (s->slots[slot]) {
            /* Never print the id itself: it is a credential. */
            snprintf(err, errlen, "%s:%d: %s[%zu]: duplicate token id (first at line %d)", path,
                     line, label, i, s->lines[slot]);
            tbd_token_unref(t);
            ts__free(s);
            goto fail;
        }
        s->slots[slot] = t;
        s->lines[slot] = line;
        s->count++;
    }
    json_decref(doc);
    json_decref(lines);
    return s;
fail:
    json_decref(doc);
    json_decref(lines);
    return NULL;
}

tbd_token_set *tbd_token_set_ref(tbd_token_set *s)
{
    if (s)
        atomic_fetch_add_explicit(&s->refs, 1, memory_order_relaxed);
    return s;
}

void tbd_token_set_unref(tbd_token_set *s)
{
    if (s && atomic_fetch_sub_explicit(&s->refs, 1, memory_order_acq_rel) == 1)
        ts__free(s);
}

size_t tbd_token_set_count(const tbd_token_set *s)
{
    return s ? s->count : 0;
}

tbd_token *tbd_token_set_find(const tbd_token_set *s, const char *id)
{
    if (!s || !id)
        return NULL;
    return tbd_token_ref(s->slots[ts__probe(s, id)]);
}
