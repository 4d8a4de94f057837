/* The event catalogue (DESIGN.md §11, docs/catalogue.md): event types as
 * YAML data — service, name, level, routing-key format, ACL format,
 * description, extra header fields and a content schema — loaded from one or
 * more files and merged, so a service declares its types as data instead of
 * code and `tenbus docs` can document them.
 *
 *     tb_catalogue *cat;
 *     char err[512];
 *     const char *paths[] = { "/etc/myservice/events.yml" };
 *     if (tb_catalogue_load(paths, 1, &cat, err, sizeof err) != TB_OK)
 *         ... err is "events.yml:12: events[3].level: must be one of ..."
 *     const tb_event_type *t = tb_catalogue_find(cat, "do_something");
 *     if (tb_event_validate(t, content, err, sizeof err) == TB_OK)
 *         tb_event_new(t, &args, origin_uuid, &ev);
 *     tb_catalogue_free(cat);   (types found in it die with it)
 */
#ifndef TENBUS_CATALOGUE_H
#define TENBUS_CATALOGUE_H

#include "tenbus/event.h" /* tb_event_type, tb_level; brings tenbus.h (tb_err) */

#include <jansson.h>
#include <stddef.h>

typedef struct tb_catalogue tb_catalogue; /* opaque */

/* A new empty catalogue in *out. Errors: TB_EINVAL, TB_ENOMEM. */
TB_EXTERN tb_err tb_catalogue_new(tb_catalogue **out);
TB_EXTERN void tb_catalogue_free(tb_catalogue *cat);

/* Adds the event types of one YAML file, or of every *.yml / *.yaml file of a
 * directory (in name order). A name already in the catalogue is an error.
 * On error, `err` (if non-NULL) says "FILE:LINE: KEY: problem" and the
 * failing file adds nothing (files of a directory read before it stay).
 * Errors: TB_EINVAL, TB_ECATALOGUE, TB_ENOMEM. */
TB_EXTERN tb_err tb_catalogue_add(tb_catalogue *cat, const char *path, char *err, size_t errlen);
/* The same from a buffer; `name` stands for the file in messages. */
TB_EXTERN tb_err tb_catalogue_add_buf(tb_catalogue *cat, const char *buf, size_t len,
                                      const char *name, char *err, size_t errlen);
/* tb_catalogue_new + tb_catalogue_add of each path; *out untouched on error. */
TB_EXTERN tb_err tb_catalogue_load(const char *const *paths, size_t n, tb_catalogue **out,
                                   char *err, size_t errlen);

/* Types, ordered by service then name; borrowed, valid until the catalogue
 * is freed. tb_catalogue_get returns NULL past the end, tb_catalogue_find
 * NULL for an unknown name. */
TB_EXTERN size_t tb_catalogue_count(const tb_catalogue *cat);
TB_EXTERN const tb_event_type *tb_catalogue_get(const tb_catalogue *cat, size_t i);
TB_EXTERN const tb_event_type *tb_catalogue_find(const tb_catalogue *cat, const char *name);

/* The whole catalogue as JSON, a new reference (NULL on ENOMEM):
 * {"events": [{"service", "name", "level", "routing_key_fmt", "required_acl"
 * (format or null), "description", "headers" {field: schema}, "content"
 * schema}, ...]} in tb_catalogue_get's order. */
TB_EXTERN json_t *tb_catalogue_to_json(const tb_catalogue *cat);

/* "service", "tenant", "user", "multi_user"; NULL for a bad value. */
TB_EXTERN const char *tb_level_name(tb_level level);

/* Checks `content` (NULL => {}) against type->content_schema (NULL => any
 * object). On TB_EINVALID, `err` (if non-NULL) holds "PATH: problem", PATH
 * being the JSON path from the event body: "data", "data.call.id",
 * "data.members[2]". Errors: TB_EINVAL (NULL type), TB_EINVALID. */
TB_EXTERN tb_err tb_event_validate(const tb_event_type *type, const json_t *content, char *err,
                                   size_t errlen);

#endif
