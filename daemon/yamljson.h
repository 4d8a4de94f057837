/* YAML (and so JSON) documents to jansson values, through libyaml. Plain
 * scalars are typed as YAML 1.2 core schema says (null/~, true/false, ints,
 * floats); quoted scalars stay strings. */
#ifndef TBD_YAMLJSON_H
#define TBD_YAMLJSON_H

#include <jansson.h>
#include <stddef.h>

/* Parses one document from a file / buffer. Returns a new reference, or
 * NULL with err filled ("file:line:col: problem"). An empty document gives
 * an empty object. */
json_t *tbd_yaml_load_file(const char *path, char *err, size_t errlen);
json_t *tbd_yaml_load_buf(const char *buf, size_t len, const char *name, char *err, size_t errlen);

#endif
