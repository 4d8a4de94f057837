/* YAML (and so JSON) documents to jansson values, through libyaml. Plain
 * scalars are typed as YAML 1.2 core schema says (null/~, true/false, ints,
 * floats); quoted scalars stay strings. */
#ifndef TB_YAMLJSON_H
#define TB_YAMLJSON_H

#include <jansson.h>
#include <stddef.h>

/* Parses one document from a file / buffer. Returns a new reference, or
 * NULL with err filled ("file:line:col: problem"). An empty document gives
 * an empty object. */
json_t *tb__yaml_load_file(const char *path, char *err, size_t errlen);
json_t *tb__yaml_load_buf(const char *buf, size_t len, const char *name, char *err, size_t errlen);

/* Same, and if `lines` is non-NULL, on success *lines receives a new object
 * mapping the JSON Pointer (RFC 6901: "", "/auth/port", "/tokens/3") of every
 * node read from the text to the 1-based line where it starts; for a mapping
 * member, where its key starts. Nodes inside an alias's copy are not listed
 * (tb__yaml_line falls back to the alias itself). Mapping keys are always
 * strings: the key's text as written, whatever it would type as.
 *
 * Aliases share the anchored value (json_incref), so a document is a DAG, not
 * a tree: treat loaded values as read-only. Documents whose aliases would
 * expand to more than TB_YAML_MAX_ALIAS_NODES nodes (alias bombs) are
 * refused, as is nesting deeper than TB_YAML_MAX_DEPTH. */
#define TB_YAML_MAX_ALIAS_NODES 1000000
#define TB_YAML_MAX_DEPTH 256
json_t *tb__yaml_load_file_lines(const char *path, json_t **lines, char *err, size_t errlen);
json_t *tb__yaml_load_buf_lines(const char *buf, size_t len, const char *name, json_t **lines,
                                char *err, size_t errlen);

/* Line recorded for `pointer` in a `lines` object, else for its nearest
 * ancestor; 0 if none (lines may be NULL). */
int tb__yaml_line(const json_t *lines, const char *pointer);

/* Types one plain (unquoted) scalar the way the loader does: null, bool,
 * integer (decimal, 0x, 0o), real, else string. Returns a new reference, or
 * NULL with err filled (integer out of range, or .inf/.nan, which JSON and
 * jansson cannot hold). Used for command-line values. */
json_t *tb__yaml_scalar(const char *s, size_t len, char *err, size_t errlen);

#endif
