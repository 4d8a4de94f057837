/* YAML -> jansson through libyaml's event parser (see yamljson.h).
 *
 * The event API (rather than yaml_document_t) lets us build the jansson tree
 * in one pass with an explicit stack (no recursion on hostile nesting), note
 * each node's line for error messages, and account for alias expansion as
 * anchors are defined instead of after the whole graph exists. */
#include "yamljson.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <yaml.h>

#define YJ__STR_TAG "tag:yaml.org,2002:str"
#define YJ__STR(x) #x
#define YJ__XSTR(x) YJ__STR(x)

typedef struct yj__frame {
    json_t *node;          /* the open mapping or sequence */
    char *key;             /* mapping: pending key (NULL = next scalar is a key) */
    size_t key_len;
    size_t key_line;
    size_t index;          /* sequence: next index */
    size_t path_len;       /* length of this node's JSON Pointer in yj__ctx.path */
    size_t weight;         /* nodes in this subtree, aliases counted expanded */
    ssize_t anchor;        /* index into anchors, or -1 */
} yj__frame;

typedef struct yj__anchor {
    char *name;
    json_t *value;         /* NULL while its node is still open */
    size_t weight;
} yj__anchor;

typedef struct yj__ctx {
    const char *name;
    char *err;
    size_t errlen;
    yj__frame stack[TB_YAML_MAX_DEPTH];
    size_t depth;
    yj__anchor *anchors;
    size_t n_anchors, cap_anchors;
    size_t alias_nodes;    /* total nodes reached through aliases */
    char *path;            /* JSON Pointer of the node being built */
    size_t path_len, path_cap;
    json_t *lines;         /* NULL when not wanted */
    json_t *root;
} yj__ctx;

static void yj__fail(yj__ctx *c, const yaml_mark_t *m, const char *fmt, const char *arg)
{
    char msg[256];
    snprintf(msg, sizeof msg, fmt, arg ? arg : "");
    snprintf(c->err, c->errlen, "%s:%zu:%zu: %s", c->name, m->line + 1, m->column + 1, msg);
}

/* ---- scalar typing (YAML 1.2 core schema) -------------------------------- */

static bool yj__all(const char *s, size_t len, const char *set)
{
    if (len == 0)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!strchr(set, s[i]) || s[i] == '\0')
            return false;
    return true;
}

static bool yj__is_one_of(const char *s, size_t len, const char *const *words)
{
    for (; *words; words++)
        if (strlen(*words) == len && memcmp(s, *words, len) == 0)
            return true;
    return false;
}

/* [-+]? ( \.[0-9]+ | [0-9]+ ( \. [0-9]* )? ) ( [eE] [-+]? [0-9]+ )? */
static bool yj__is_float(const char *s, size_t len)
{
    size_t i = 0, digits = 0;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        i++;
    while (i < len && s[i] >= '0' && s[i] <= '9')
        i++, digits++;
    if (i < len && s[i] == '.') {
        i++;
        size_t frac = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++, frac++;
        if (digits == 0 && frac == 0)
            return false;
    } else if (digits == 0) {
        return false;
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '-' || s[i] == '+'))
            i++;
        size_t exp = 0;
        while (i < len && s[i] >= '0' && s[i] <= '9')
            i++, exp++;
        if (exp == 0)
            return false;
    }
    return i == len;
}

json_t *tb__yaml_scalar(const char *s, size_t len, char *err, size_t errlen)
{
    static const char *const nulls[] = { "~", "null", "Null", "NULL", NULL };
    static const char *const trues[] = { "true", "True", "TRUE", NULL };
    static const char *const falses[] = { "false", "False", "FALSE", NULL };
    static const char *const infs[] = { ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF",
                                        "-.inf", "-.Inf", "-.INF", ".nan", ".NaN", ".NAN", NULL };
    char buf[64];

    if (len == 0 || yj__is_one_of(s, len, nulls))
        return json_null();
    if (yj__is_one_of(s, len, trues))
        return json_true();
    if (yj__is_one_of(s, len, falses))
        return json_false();
    if (yj__is_one_of(s, len, infs)) {
        snprintf(err, errlen, "%.*s cannot be represented in JSON", (int)len, s);
        return NULL;
    }

    size_t sign = (s[0] == '-' || s[0] == '+') ? 1 : 0;
    bool dec = yj__all(s + sign, len - sign, "0123456789");
    bool hex = len > 2 && s[0] == '0' && s[1] == 'x' && yj__all(s + 2, len - 2, "0123456789abcdefABCDEF");
    bool oct = len > 2 && s[0] == '0' && s[1] == 'o' && yj__all(s + 2, len - 2, "01234567");
    bool flt = !dec && yj__is_float(s, len);
    if (!dec && !hex && !oct && !flt) {
        /* jansson refuses invalid UTF-8 (libyaml checks file input, but
         * command-line values come here unchecked). */
        json_t *str = json_stringn(s, len);
        if (!str)
            snprintf(err, errlen, "invalid UTF-8");
        return str;
    }

    /* Numbers are short; anything longer cannot fit an int64 or needs no
     * more precision than a double's 17 digits can carry anyway. */
    if (len >= sizeof buf) {
        if (!flt && !dec) {
            snprintf(err, errlen, "integer out of range");
            return NULL;
        }
        flt = true;
    }
    size_t n = len < sizeof buf ? len : sizeof buf - 1;
    memcpy(buf, s, n);
    buf[n] = '\0';

    if ((dec && len < sizeof buf) || hex || oct) {
        char *end;
        errno = 0;
        if (dec) {
            long long v = strtoll(buf, &end, 10);
            if (errno != ERANGE && *end == '\0')
                return json_integer(v);
            flt = true;   /* out of int64 range: keep it as a real, as JSON parsers do */
        } else {
            unsigned long long v = strtoull(buf + 2, &end, hex ? 16 : 8);
            if (errno == ERANGE || *end != '\0' || v > INT64_MAX) {
                snprintf(err, errlen, "integer out of range");
                return NULL;
            }
            return json_integer((json_int_t)v);
        }
    }
    if (len >= sizeof buf) {
        /* Too long for buf: strtod the original through a heap copy. */
        char *tmp = strndup(s, len);
        if (!tmp) {
            snprintf(err, errlen, "out of memory");
            return NULL;
        }
        double d = strtod(tmp, NULL);
        free(tmp);
        json_t *r = json_real(d);
        if (!r)
            snprintf(err, errlen, "number out of range");
        return r;
    }
    json_t *r = json_real(strtod(buf, NULL));
    if (!r)
        snprintf(err, errlen, "number out of range");
    return r;
}

/* ---- tree building -------------------------------------------------------- */

static int yj__path_push(yj__ctx *c, const char *tok, size_t len)
{
    size_t need = c->path_len + 1 + 2 * len + 1;
    if (need > c->path_cap) {
        size_t cap = c->path_cap ? c->path_cap : 128;
        while (cap < need)
            cap *= 2;
        char *p = realloc(c->path, cap);
        if (!p)
            return -1;
        c->path = p;
        c->path_cap = cap;
    }
    c->path[c->path_len++] = '/';
    /* RFC 6901 escaping: '~' -> "~0", '/' -> "~1". */
    for (size_t i = 0; i < len; i++) {
        if (tok[i] == '~') {
            c->path[c->path_len++] = '~';
            c->path[c->path_len++] = '0';
        } else if (tok[i] == '/') {
            c->path[c->path_len++] = '~';
            c->path[c->path_len++] = '1';
        } else {
            c->path[c->path_len++] = tok[i];
        }
    }
    c->path[c->path_len] = '\0';
    return 0;
}

/* Points c->path at the child about to be built and records its line. */
static int yj__enter_child(yj__ctx *c, const yaml_mark_t *m)
{
    size_t line = m->line + 1;
    if (c->depth > 0) {
        yj__frame *f = &c->stack[c->depth - 1];
        c->path_len = f->path_len;
        int rc;
        if (json_is_object(f->node)) {
            rc = yj__path_push(c, f->key, f->key_len);
            line = f->key_line;
        } else {
            char idx[32];
            int n = snprintf(idx, sizeof idx, "%zu", f->index);
            rc = yj__path_push(c, idx, (size_t)n);
        }
        if (rc < 0) {
            yj__fail(c, m, "out of memory", NULL);
            return -1;
        }
    } else {
        c->path_len = 0;
        if (c->path)
            c->path[0] = '\0';
    }
    if (c->lines && json_object_set_new(c->lines, c->path ? c->path : "",
                                        json_integer((json_int_t)line)) < 0) {
        yj__fail(c, m, "out of memory", NULL);
        return -1;
    }
    return 0;
}

/* Attaches a finished value (steals `v`) to the open container or the root. */
static int yj__attach(yj__ctx *c, json_t *v, size_t weight, const yaml_mark_t *m)
{
    if (c->depth == 0) {
        c->root = v;
        return 0;
    }
    yj__frame *f = &c->stack[c->depth - 1];
    f->weight += weight;
    int rc;
    if (json_is_object(f->node)) {
        /* Duplicate keys: the last one wins, as in PyYAML (wazo's loader). */
        rc = json_object_setn_new(f->node, f->key, f->key_len, v);
        free(f->key);
        f->key = NULL;
    } else {
        rc = json_array_append_new(f->node, v);
        f->index++;
    }
    if (rc < 0) {
        yj__fail(c, m, "out of memory", NULL);
        return -1;
    }
    return 0;
}

static ssize_t yj__anchor_add(yj__ctx *c, const char *name, json_t *value, size_t weight,
                              const yaml_mark_t *m)
{
    if (c->n_anchors == c->cap_anchors) {
        size_t cap = c->cap_anchors ? 2 * c->cap_anchors : 8;
        yj__anchor *a = realloc(c->anchors, cap * sizeof *a);
        if (!a)
            goto oom;
        c->anchors = a;
        c->cap_anchors = cap;
    }
    char *dup = strdup(name);
    if (!dup)
        goto oom;
    c->anchors[c->n_anchors] = (yj__anchor){ dup, value ? json_incref(value) : NULL, weight };
    return (ssize_t)c->n_anchors++;
oom:
    yj__fail(c, m, "out of memory", NULL);
    return -1;
}

/* A later anchor of the same name shadows an earlier one (YAML 1.2 §3.2.2.2). */
static yj__anchor *yj__anchor_find(yj__ctx *c, const char *name)
{
    for (size_t i = c->n_anchors; i-- > 0;)
        if (strcmp(c->anchors[i].name, name) == 0)
            return &c->anchors[i];
    return NULL;
}

static bool yj__is_key_slot(const yj__ctx *c)
{
    return c->depth > 0 && json_is_object(c->stack[c->depth - 1].node) &&
           c->stack[c->depth - 1].key == NULL;
}

static int yj__on_scalar(yj__ctx *c, const yaml_event_t *ev)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t len = ev->data.scalar.length;
    const yaml_mark_t *m = &ev->start_mark;

    if (yj__is_key_slot(c)) {
        yj__frame *f = &c->stack[c->depth - 1];
        f->key = malloc(len + 1);
        if (!f->key) {
            yj__fail(c, m, "out of memory", NULL);
            return -1;
        }
        memcpy(f->key, s, len);
        f->key[len] = '\0';
        f->key_len = len;
        f->key_line = m->line + 1;
        if (ev->data.scalar.anchor) {
            json_t *kv = json_stringn(s, len);
            ssize_t ai = kv ? yj__anchor_add(c, (const char *)ev->data.scalar.anchor, kv, 1, m)
                            : -1;
            json_decref(kv);
            if (ai < 0) {
                if (!kv)
                    yj__fail(c, m, "key is not valid UTF-8", NULL);
                return -1;
            }
        }
        return 0;
    }

    if (yj__enter_child(c, m) < 0)
        return -1;
    const char *tag = (const char *)ev->data.scalar.tag;
    bool as_string = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
                     (tag && (strcmp(tag, "!") == 0 || strcmp(tag, YJ__STR_TAG) == 0));
    json_t *v;
    if (as_string) {
        v = json_stringn(s, len);
        if (!v) {
            yj__fail(c, m, "string is not valid UTF-8", NULL);
            return -1;
        }
    } else {
        char why[128] = "";
        v = tb__yaml_scalar(s, len, why, sizeof why);
        if (!v) {
            yj__fail(c, m, "%s", why[0] ? why : "out of memory");
            return -1;
        }
    }
    if (ev->data.scalar.anchor &&
        yj__anchor_add(c, (const char *)ev->data.scalar.anchor, v, 1, m) < 0) {
        json_decref(v);
        return -1;
    }
    return yj__attach(c, v, 1, m);
}

static int yj__on_alias(yj__ctx *c, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    const yaml_mark_t *m = &ev->start_mark;
    yj__anchor *a = yj__anchor_find(c, name);

    if (!a) {
        yj__fail(c, m, "undefined alias *%s", name);
        return -1;
    }
    if (!a->value) {
        yj__fail(c, m, "recursive alias *%s", name);
        return -1;
    }
    if (yj__is_key_slot(c)) {
        if (!json_is_string(a->value)) {
            yj__fail(c, m, "alias *%s used as a key is not a string", name);
            return -1;
        }
        yj__frame *f = &c->stack[c->depth - 1];
        f->key_len = json_string_length(a->value);
        f->key = malloc(f->key_len + 1);
        if (!f->key) {
            yj__fail(c, m, "out of memory", NULL);
            return -1;
        }
        memcpy(f->key, json_string_value(a->value), f->key_len + 1);
        f->key_line = m->line + 1;
        return 0;
    }
    /* Sharing makes an alias O(1) in memory; the budget bounds the work of
     * whoever walks the expanded tree later (billion laughs). */
    c->alias_nodes += a->weight;
    if (c->alias_nodes > TB_YAML_MAX_ALIAS_NODES) {
        yj__fail(c, m, "aliases expand to too many nodes (alias bomb?) at *%s", name);
        return -1;
    }
    if (yj__enter_child(c, m) < 0)
        return -1;
    return yj__attach(c, json_incref(a->value), a->weight, m);
}

static int yj__on_start(yj__ctx *c, const yaml_event_t *ev, bool mapping)
{
    const yaml_mark_t *m = &ev->start_mark;
    const yaml_char_t *anchor = mapping ? ev->data.mapping_start.anchor
                                        : ev->data.sequence_start.anchor;
    if (yj__is_key_slot(c)) {
        yj__fail(c, m, "mapping keys must be scalars", NULL);
        return -1;
    }
    if (c->depth == TB_YAML_MAX_DEPTH) {
        yj__fail(c, m, "nesting deeper than %s levels", YJ__XSTR(TB_YAML_MAX_DEPTH));
        return -1;
    }
    if (yj__enter_child(c, m) < 0)
        return -1;
    json_t *node = mapping ? json_object() : json_array();
    if (!node) {
        yj__fail(c, m, "out of memory", NULL);
        return -1;
    }
    ssize_t ai = -1;
    if (anchor && (ai = yj__anchor_add(c, (const char *)anchor, NULL, 0, m)) < 0) {
        json_decref(node);
        return -1;
    }
    c->stack[c->depth++] = (yj__frame){ .node = node, .path_len = c->path_len, .weight = 1,
                                        .anchor = ai };
    return 0;
}

static int yj__on_end(yj__ctx *c, const yaml_event_t *ev)
{
    yj__frame f = c->stack[--c->depth];
    free(f.key);   /* only set if the parser let a key without value through */
    if (f.anchor >= 0) {
        c->anchors[f.anchor].value = json_incref(f.node);
        c->anchors[f.anchor].weight = f.weight;
    }
    return yj__attach(c, f.node, f.weight, &ev->start_mark);
}

static void yj__ctx_free(yj__ctx *c)
{
    while (c->depth > 0) {
        yj__frame *f = &c->stack[--c->depth];
        free(f->key);
        json_decref(f->node);
    }
    for (size_t i = 0; i < c->n_anchors; i++) {
        free(c->anchors[i].name);
        json_decref(c->anchors[i].value);
    }
    free(c->anchors);
    free(c->path);
}

static void yj__parser_error(yj__ctx *c, const yaml_parser_t *p)
{
    const char *problem = p->problem ? p->problem : "syntax error";
    const yaml_mark_t *m = &p->problem_mark;
    if (p->error == YAML_MEMORY_ERROR)
        problem = "out of memory";
    if (p->context)
        snprintf(c->err, c->errlen, "%s:%zu:%zu: %s (%s)", c->name, m->line + 1,
                 m->column + 1, problem, p->context);
    else
        snprintf(c->err, c->errlen, "%s:%zu:%zu: %s", c->name, m->line + 1, m->column + 1,
                 problem);
}

static json_t *yj__run(yaml_parser_t *p, const char *name, json_t **lines, char *err,
                       size_t errlen)
{
    yj__ctx c = { .name = name, .err = err, .errlen = errlen };
    bool seen_doc = false, done = false, ok = false;

    if (lines) {
        *lines = NULL;
        c.lines = json_object();
        if (!c.lines) {
            snprintf(err, errlen, "%s: out of memory", name);
            return NULL;
        }
    }
    while (!done) {
        yaml_event_t ev;
        if (!yaml_parser_parse(p, &ev)) {
            yj__parser_error(&c, p);
            break;
        }
        int rc = 0;
        switch (ev.type) {
        case YAML_STREAM_END_EVENT:
            done = ok = true;
            break;
        case YAML_DOCUMENT_START_EVENT:
            if (seen_doc) {
                yj__fail(&c, &ev.start_mark, "expected a single document", NULL);
                rc = -1;
            }
            seen_doc = true;
            break;
        case YAML_SCALAR_EVENT:
            rc = yj__on_scalar(&c, &ev);
            break;
        case YAML_ALIAS_EVENT:
            rc = yj__on_alias(&c, &ev);
            break;
        case YAML_MAPPING_START_EVENT:
        case YAML_SEQUENCE_START_EVENT:
            rc = yj__on_start(&c, &ev, ev.type == YAML_MAPPING_START_EVENT);
            break;
        case YAML_MAPPING_END_EVENT:
        case YAML_SEQUENCE_END_EVENT:
            rc = yj__on_end(&c, &ev);
            break;
        default:
            break;
        }
        yaml_event_delete(&ev);
        if (rc < 0)
            break;
    }

    json_t *root = c.root;
    c.root = NULL;
    if (ok && (!root || json_is_null(root))) {
        /* No document, or one holding nothing: an empty configuration. */
        json_decref(root);
        root = json_object();
        if (!root) {
            snprintf(err, errlen, "%s: out of memory", name);
            ok = false;
        }
    }
    yj__ctx_free(&c);
    if (!ok) {
        json_decref(root);
        json_decref(c.lines);
        return NULL;
    }
    if (lines)
        *lines = c.lines;
    return root;
}

json_t *tb__yaml_load_buf_lines(const char *buf, size_t len, const char *name, json_t **lines,
                                char *err, size_t errlen)
{
    yaml_parser_t p;
    if (!name)
        name = "<buffer>";
    if (!yaml_parser_initialize(&p)) {
        snprintf(err, errlen, "%s: out of memory", name);
        return NULL;
    }
    yaml_parser_set_input_string(&p, (const unsigned char *)buf, len);
    json_t *r = yj__run(&p, name, lines, err, errlen);
    yaml_parser_delete(&p);
    return r;
}

json_t *tb__yaml_load_file_lines(const char *path, json_t **lines, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    yaml_parser_t p;
    if (!yaml_parser_initialize(&p)) {
        fclose(f);
        snprintf(err, errlen, "%s: out of memory", path);
        return NULL;
    }
    yaml_parser_set_input_file(&p, f);
    json_t *r = yj__run(&p, path, lines, err, errlen);
    if (r && ferror(f)) {
        snprintf(err, errlen, "%s: read error", path);
        json_decref(r);
        if (lines) {
            json_decref(*lines);
            *lines = NULL;
        }
        r = NULL;
    }
    yaml_parser_delete(&p);
    fclose(f);
    return r;
}

json_t *tb__yaml_load_buf(const char *buf, size_t len, const char *name, char *err, size_t errlen)
{
    return tb__yaml_load_buf_lines(buf, len, name, NULL, err, errlen);
}

json_t *tb__yaml_load_file(const char *path, char *err, size_t errlen)
{
    return tb__yaml_load_file_lines(path, NULL, err, errlen);
}

int tb__yaml_line(const json_t *lines, const char *pointer)
{
    if (!lines || !pointer)
        return 0;
    size_t len = strlen(pointer);
    for (;;) {
        json_t *v = json_object_getn(lines, pointer, len);
        if (json_is_integer(v))
            return (int)json_integer_value(v);
        if (len == 0)
            return 0;
        while (len > 0 && pointer[len - 1] != '/')
            len--;
        if (len > 0)
            len--;   /* drop the '/' too: "/a/b" -> "/a" -> "" */
    }
}
