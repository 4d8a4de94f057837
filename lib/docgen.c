/* AsyncAPI 3.0 and HTML from an event catalogue (docgen.h).
 *
 * AsyncAPI: a channel per routing-key format (address = the format, one
 * parameter per {field}, AMQP binding on the headers exchange), a `send`
 * operation and a message per event type. A message's `headers` schema lists
 * the AMQP headers tenbus generates for the level (tenant_uuid, user_uuid:*
 * or user_uuid:<uuid>, required_acl ...); its `payload` is the bus body, those
 * headers plus `data`, the content schema. The catalogue's `nullable` becomes
 * a ["type", "null"] union, `example` becomes `examples`.
 *
 * HTML is written with stdio into memory (open_memstream). */
#include "docgen.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tenbus/tenbus.h>

#define EX_TENANT "2b5ac1e4-6f1d-4a3e-9c1a-0c5e7d9a1f00"
#define EX_USER1 "a11ce000-0000-4000-8000-0000000a11ce"
#define EX_USER2 "b0b00000-0000-4000-8000-000000000b0b"
#define EX_ORIGIN "5a6c4e1e-8d3b-4c0f-9e2a-3f4b5c6d7e8f"
#define EX_UUID "6f0c2d1e-3b4a-4c5d-8e9f-0a1b2c3d4e5f"
#define EX_TIME "2026-11-25T20:31:26.057365+00:00"

static const char *who_receives(tb_level l)
{
    switch (l) {
    case TB_LEVEL_SERVICE: return "services only";
    case TB_LEVEL_TENANT: return "all users of the tenant";
    case TB_LEVEL_USER: return "the user";
    case TB_LEVEL_MULTI_USER: return "the listed users";
    }
    return "";
}

/* ---- schemas -------------------------------------------------------------- */

/* The catalogue's schema subset as JSON Schema (draft 7, which AsyncAPI
 * schemas extend). */
static json_t *to_json_schema(const json_t *s)
{
    json_t *o = json_object();
    const char *t = json_string_value(json_object_get(s, "type"));
    bool nullable = json_is_true(json_object_get(s, "nullable"));
    if (!o)
        return NULL;
    if (t && nullable && strcmp(t, "null") != 0)
        json_object_set_new(o, "type", json_pack("[s,s]", t, "null"));
    else if (t)
        json_object_set_new(o, "type", json_string(t));
    static const char *const copied[] = { "description", "format", "required", "additionalProperties" };
    for (size_t i = 0; i < sizeof(copied) / sizeof(copied[0]); i++) {
        json_t *v = json_object_get(s, copied[i]);
        if (v)
            json_object_set(o, copied[i], v);
    }
    json_t *en = json_object_get(s, "enum");
    if (en) {
        json_t *e = json_deep_copy(en);
        bool has_null = false;
        size_t i;
        json_t *v;
        json_array_foreach(e, i, v)
            has_null = has_null || json_is_null(v);
        if (nullable && !has_null)
            json_array_append_new(e, json_null());
        json_object_set_new(o, "enum", e);
    }
    json_t *ex = json_object_get(s, "example");
    if (ex)
        json_object_set_new(o, "examples", json_pack("[O]", ex));
    json_t *props = json_object_get(s, "properties");
    if (props) {
        json_t *p = json_object();
        const char *k;
        json_t *v;
        json_object_foreach(props, k, v)
            json_object_set_new(p, k, to_json_schema(v));
        json_object_set_new(o, "properties", p);
    }
    json_t *items = json_object_get(s, "items");
    if (items)
        json_object_set_new(o, "items", to_json_schema(items));
    return o;
}

/* ---- the generated headers, as the codec writes them -------------------- */

/* Adds "{f}" to `fields` for each {f} of a routing-key or ACL format but the
 * addressing ones. */
static void format_placeholders(const char *fmt, json_t *fields)
{
    for (const char *c = fmt ? strchr(fmt, '{') : NULL; c; c = strchr(c + 1, '{')) {
        const char *end = strchr(c, '}');
        if (!end)
            return;
        char name[200], ph[204];
        int n = (int)(end - c - 1);
        snprintf(name, sizeof(name), "%.*s", n, c + 1);
        snprintf(ph, sizeof(ph), "{%s}", name);
        if (strcmp(name, "tenant_uuid") != 0 && strcmp(name, "user_uuid") != 0)
            json_object_set_new(fields, name, json_string(ph));
    }
}

/* A type's event built by the codec with placeholders for everything that
 * varies ("{tenant_uuid}", "{user_uuid}", "{field}"): its headers are the
 * type's, in order, and its routing key and required_acl come out as the
 * formats themselves (braces are not escaped). The docs describe this, so
 * DESIGN.md §1 is not written a second time here. NULL on error. */
static tb_event *template_event(const tb_event_type *t)
{
    static const char *const users[] = { "{user_uuid}" };
    json_t *fields = json_object();
    format_placeholders(t->routing_key_fmt, fields);
    format_placeholders(t->acl_fmt, fields);
    for (const char *const *f = t->extra_fields; f && *f; f++) {
        char ph[204];
        snprintf(ph, sizeof(ph), "{%s}", *f);
        json_object_set_new(fields, *f, json_string(ph));
    }
    tb_event_args a = {
        .tenant_uuid = "{tenant_uuid}", .user_uuid = "{user_uuid}", .user_uuids = users,
        .n_user_uuids = 1, .fields = fields, .timestamp = EX_TIME,
    };
    tb_event *ev = NULL;
    if (tb_event_new(t, &a, EX_ORIGIN, &ev) != TB_OK)
        ev = NULL;
    json_decref(fields);
    return ev;
}

/* How the docs show and explain one generated header. */
typedef struct hdr_doc {
    const char *shown_key, *shown_value, *meaning; /* HTML row */
    json_t *schema;                                /* AsyncAPI property (new ref) */
} hdr_doc;

static bool generated_doc(const tb_event_type *t, const char *key, const json_t *value, hdr_doc *d)
{
    const char *v = json_string_value(value);
    char acl_desc[600];        /* copied by json_pack */
    switch (tb_wire_header_kind(key)) {
    case TB_HDR_NAME:
        *d = (hdr_doc){key, v, "the event name", json_pack("{s:s,s:s}", "type", "string", "const", v)};
        return true;
    case TB_HDR_ORIGIN_UUID:
        *d = (hdr_doc){key, "<stack uuid>", "the publishing stack",
                       json_pack("{s:s,s:s,s:s}", "type", "string", "format", "uuid", "description",
                                 "uuid of the publishing stack")};
        return true;
    case TB_HDR_TIMESTAMP:
        *d = (hdr_doc){key, "<ISO 8601>", "when it was published",
                       json_pack("{s:s,s:s,s:s}", "type", "string", "format", "date-time", "description",
                                 "when the event was published (ISO 8601)")};
        return true;
    case TB_HDR_REQUIRED_ACCESS:
        *d = (hdr_doc){key, v, "", json_pack("{s:s,s:s}", "type", "string", "const", v)};
        return true;
    case TB_HDR_REQUIRED_ACL:
        snprintf(acl_desc, sizeof(acl_desc), "ACL a WebSocket session's token must grant: %s", v ? v : "");
        *d = (hdr_doc){key, v, "what a WebSocket session's ACL must grant",
                       json_pack("{s:[s,s],s:s}", "type", "string", "null", "description", acl_desc)};
        return true;
    case TB_HDR_TENANT_UUID:
        *d = (hdr_doc){key, "<tenant uuid>", "the tenant",
                       json_pack("{s:s,s:s,s:s}", "type", "string", "format", "uuid", "description",
                                 "the tenant the event belongs to")};
        return true;
    case TB_HDR_USER:
        if (t->level == TB_LEVEL_TENANT) {
            *d = (hdr_doc){key, "true", "every user of the tenant",
                           json_pack("{s:s,s:b,s:s}", "type", "boolean", "const", 1, "description",
                                     "every user of the tenant may receive it")};
            return true;
        }
        /* user_uuid:<uuid>: a pattern, not a property (user_patterns) */
        *d = (hdr_doc){"user_uuid:<user uuid>", "true",
                       t->level == TB_LEVEL_USER ? "the user" : "one per listed user", NULL};
        return true;
    case TB_HDR_EXTRA:
        break;
    }
    return false;
}

/* The generated headers of a type (what the codec writes), plus its extra
 * fields, as schema properties and their required list. */
static void header_props(const tb_event_type *t, const json_t *extra, json_t *props, json_t *req)
{
    tb_event *ev = template_event(t);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)(ev ? tb_event_headers(ev) : NULL), k, v) {
        hdr_doc d;
        if (!generated_doc(t, k, v, &d) || !d.schema)
            continue;
        json_object_set_new(props, k, d.schema);
        json_array_append_new(req, json_string(k));
    }
    tb_event_free(ev);
    json_object_foreach((json_t *)extra, k, v) {
        json_object_set_new(props, k, to_json_schema(v));
        json_array_append_new(req, json_string(k));
    }
}

static json_t *user_patterns(const tb_event_type *t)
{
    if (t->level != TB_LEVEL_USER && t->level != TB_LEVEL_MULTI_USER)
        return NULL;
    return json_pack("{s:{s:s,s:b,s:s}}", "^user_uuid:[0-9A-Fa-f-]+$", "type", "boolean", "const", 1,
                     "description", t->level == TB_LEVEL_USER ? "the user who receives it"
                                                              : "one per user who receives it");
}

static json_t *headers_schema(const tb_event_type *t, const json_t *extra)
{
    json_t *props = json_object(), *req = json_array();
    header_props(t, extra, props, req);
    json_t *s = json_pack("{s:s,s:o,s:o}", "type", "object", "properties", props, "required", req);
    json_t *pat = user_patterns(t);
    if (s && pat)
        json_object_set_new(s, "patternProperties", pat);
    return s;
}

static json_t *payload_schema(const tb_event_type *t, const json_t *extra)
{
    json_t *props = json_object(), *req = json_array();
    header_props(t, extra, props, req);
    json_t *data = to_json_schema(t->content_schema);
    if (data && !json_object_get(data, "description"))
        json_object_set_new(data, "description", json_string("the event's content"));
    json_object_set_new(props, "data", data);
    json_array_append_new(req, json_string("data"));
    json_t *s = json_pack("{s:s,s:o,s:o}", "type", "object", "properties", props, "required", req);
    json_t *pat = user_patterns(t);
    if (s && pat)
        json_object_set_new(s, "patternProperties", pat);
    return s;
}

/* ---- examples ----------------------------------------------------------- */

static json_t *example_of(const json_t *s)
{
    json_t *ex = json_object_get(s, "example");
    if (ex)
        return json_incref(ex);
    json_t *en = json_object_get(s, "enum");
    if (json_array_size(en))
        return json_incref(json_array_get(en, 0));
    const char *t = json_string_value(json_object_get(s, "type"));
    const char *fmt = json_string_value(json_object_get(s, "format"));
    if (!t)
        return json_null();
    if (strcmp(t, "string") == 0)
        return json_string(fmt && strcmp(fmt, "uuid") == 0 ? EX_UUID
                           : fmt && strcmp(fmt, "date-time") == 0 ? EX_TIME : "text");
    if (strcmp(t, "integer") == 0)
        return json_integer(1);
    if (strcmp(t, "number") == 0)
        return json_real(1.5);
    if (strcmp(t, "boolean") == 0)
        return json_true();
    if (strcmp(t, "array") == 0) {
        json_t *items = json_object_get(s, "items");
        return items ? json_pack("[o]", example_of(items)) : json_array();
    }
    if (strcmp(t, "object") == 0) {
        json_t *o = json_object();
        const char *k;
        json_t *v;
        json_object_foreach(json_object_get(s, "properties"), k, v)
            json_object_set_new(o, k, example_of(v));
        return o;
    }
    return json_null();
}

json_t *tb__docgen_example(const tb_event_type *t, const json_t *headers)
{
    static const char *const users[] = { EX_USER1, EX_USER2 };
    json_t *content = t->content_schema ? example_of(t->content_schema) : json_object();
    json_t *fields = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)headers, k, v)
        json_object_set_new(fields, k, example_of(v));
    tb_event_args a = {
        .tenant_uuid = EX_TENANT, .user_uuid = EX_USER1, .user_uuids = users, .n_user_uuids = 2,
        .content = content, .fields = fields,
    };
    tb_event *ev = NULL;
    json_t *body = NULL;
    if (tb_event_new(t, &a, EX_ORIGIN, &ev) == TB_OK) {
        body = json_deep_copy(tb_event_body(ev));
        json_object_set_new(body, "timestamp", json_string(EX_TIME));
    }
    tb_event_free(ev);
    json_decref(content);
    json_decref(fields);
    return body;
}

/* ---- AsyncAPI ------------------------------------------------------------ */

/* Channel ids: the routing-key format with anything but [A-Za-z0-9_-]
 * turned into '_'. */
static void channel_id(const char *rk, char *out, size_t len)
{
    size_t i = 0;
    for (; rk[i] && i + 1 < len; i++) {
        char c = rk[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
        out[i] = ok ? c : '_';
    }
    out[i] = '\0';
}

static json_t *channel_params(const char *rk)
{
    json_t *params = json_object();
    for (const char *c = strchr(rk, '{'); c; c = strchr(c + 1, '{')) {
        const char *end = strchr(c, '}');
        if (!end)
            break;
        char field[128];
        snprintf(field, sizeof(field), "%.*s", (int)(end - c - 1), c + 1);
        char desc[200];
        snprintf(desc, sizeof(desc), "the event's %s, escaped (. as __DOT__, # as __HASH__, * as __STAR__)", field);
        json_object_set_new(params, field, json_pack("{s:s}", "description", desc));
    }
    return params;
}

json_t *tb__docgen_asyncapi(const tb_catalogue *cat, const char *service, const tb__docgen_opts *o)
{
    json_t *all = tb_catalogue_to_json(cat);
    json_t *channels = json_object(), *ops = json_object(), *msgs = json_object();
    size_t n = 0;
    char desc[512];
    snprintf(desc, sizeof(desc), "Events the %s service publishes on the %s exchange (AMQP headers "
             "exchange, wazo-bus conventions). Generated by tenbus docs from the event catalogue.",
             service, o->exchange);
    for (size_t i = 0; i < tb_catalogue_count(cat); i++) {
        const tb_event_type *t = tb_catalogue_get(cat, i);
        if (strcmp(t->service, service) != 0)
            continue;
        n++;
        const json_t *extra = json_object_get(json_array_get(json_object_get(all, "events"), i), "headers");
        const char *rk = t->routing_key_fmt ? t->routing_key_fmt : t->name;
        char cid[256];
        channel_id(rk, cid, sizeof(cid));
        json_t *ch = json_object_get(channels, cid);
        if (!ch) {
            ch = json_pack("{s:s,s:{},s:{s:{s:s,s:{s:s,s:s,s:b,s:b,s:s},s:s}}}", "address", rk,
                           "messages", "bindings", "amqp", "is", "routingKey", "exchange", "name",
                           o->exchange, "type", "headers", "durable", 1, "autoDelete", 0, "vhost",
                           o->vhost, "bindingVersion", "0.3.0");
            json_t *params = channel_params(rk);
            if (json_object_size(params))
                json_object_set_new(ch, "parameters", params);
            else
                json_decref(params);
            json_object_set_new(channels, cid, ch);
        }
        char ref[600];
        snprintf(ref, sizeof(ref), "#/components/messages/%s", t->name);
        json_object_set_new(json_object_get(ch, "messages"), t->name, json_pack("{s:s}", "$ref", ref));

        char chref[300], msgref[600];
        snprintf(chref, sizeof(chref), "#/channels/%s", cid);
        snprintf(msgref, sizeof(msgref), "#/channels/%s/messages/%s", cid, t->name);
        char summary[256];
        snprintf(summary, sizeof(summary), "%s event; received by %s", tb_level_name(t->level),
                 who_receives(t->level));
        json_object_set_new(ops, t->name, json_pack("{s:s,s:{s:s},s:[{s:s}],s:s,s:{s:{s:i,s:s}}}",
                            "action", "send", "channel", "$ref", chref, "messages", "$ref", msgref,
                            "summary", summary, "bindings", "amqp", "deliveryMode", 2,
                            "bindingVersion", "0.3.0"));

        json_t *msg = json_pack("{s:s,s:s,s:s,s:o,s:o,s:{s:{s:s,s:s}}}", "name", t->name, "title",
                                t->name, "contentType", "application/json", "headers",
                                headers_schema(t, extra), "payload", payload_schema(t, extra),
                                "bindings", "amqp", "messageType", t->name, "bindingVersion", "0.3.0");
        if (t->description)
            json_object_set_new(msg, "summary", json_string(t->description));
        json_t *ex = tb__docgen_example(t, extra);
        if (ex) {
            json_t *hdr = json_deep_copy(ex);
            json_object_del(hdr, "data");
            json_object_set_new(msg, "examples", json_pack("[{s:s,s:o,s:o}]", "name", "example",
                                                           "headers", hdr, "payload", ex));
        }
        json_object_set_new(msgs, t->name, msg);
    }
    json_decref(all);
    if (!n) {
        json_decref(channels);
        json_decref(ops);
        json_decref(msgs);
        return NULL;
    }
    char title[256];
    snprintf(title, sizeof(title), "%s events", service);
    return json_pack("{s:s,s:{s:s,s:s,s:s},s:s,s:{s:{s:s,s:s,s:s,s:s}},s:o,s:o,s:{s:o}}",
                     "asyncapi", "3.0.0", "info", "title", title, "version", tb_version(),
                     "description", desc, "defaultContentType", "application/json", "servers",
                     "rabbitmq", "host", o->amqp_host, "protocol", "amqp", "protocolVersion", "0.9.1",
                     "description", "the RabbitMQ broker of the stack", "channels", channels,
                     "operations", ops, "components", "messages", msgs);
}

/* ---- HTML ------------------------------------------------------------------ */

static void esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '&': fputs("&amp;", f); break;
        case '"': fputs("&quot;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* printf for HTML: %s is a text argument, escaped (NULL prints nothing);
 * %S is markup, written as is; %z is a size_t. */
static void hp(FILE *f, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    for (const char *c = fmt; *c; c++) {
        if (*c != '%' || !c[1]) {
            fputc(*c, f);
            continue;
        }
        c++;
        if (*c == 's')
            esc(f, va_arg(ap, const char *));
        else if (*c == 'S')
            fputs(va_arg(ap, const char *), f);
        else if (*c == 'z')
            fprintf(f, "%zu", va_arg(ap, size_t));
        else
            fputc(*c, f);
    }
    va_end(ap);
}

static const char css[] =
    "body{font:15px/1.5 system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1d2330;background:#f6f7f9}"
    "header{background:#1f3a5f;color:#fff;padding:14px 32px}header a{color:#cfe0ff}"
    "main{max-width:1000px;margin:0 auto;padding:16px 32px}"
    "section.event{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:4px 20px 12px;margin:18px 0}"
    "table{border-collapse:collapse;width:100%;margin:6px 0}th,td{text-align:left;padding:4px 8px;"
    "border-bottom:1px solid #e6e9ee;vertical-align:top}th{color:#52607a;font-weight:600}"
    "table.facts th{width:170px}code,pre{font-family:ui-monospace,'DejaVu Sans Mono',monospace;font-size:13px}"
    "pre{background:#0f1b2d;color:#e6edf7;padding:12px;border-radius:4px;overflow:auto}"
    ".level{display:inline-block;padding:0 8px;border-radius:10px;background:#e3ecfa;color:#1f3a5f}"
    ".req{color:#b3261e}";

static void page_head(FILE *f, const char *title)
{
    hp(f, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
          "<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>%s</title>"
          "<style>%S</style></head><body>\n", title, css);
}

/* One row per property, nested ones as dotted paths ("room.uuid",
 * "members[].id"). */
static void prop_rows(FILE *f, const json_t *schema, const char *prefix)
{
    const json_t *props = json_object_get(schema, "properties");
    const json_t *req = json_object_get(schema, "required");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)props, k, v) {
        char p[512];
        snprintf(p, sizeof(p), "%s%s%s", prefix, *prefix ? "." : "", k);
        bool required = false;
        size_t i;
        json_t *r;
        json_array_foreach(req, i, r)
            required = required || strcmp(json_string_value(r), k) == 0;
        const char *fmt = json_string_value(json_object_get(v, "format"));
        json_t *items = json_object_get(v, "items");
        hp(f, "<tr><td><code>%s</code></td><td>%s%S%s%S%S%S%s</td><td>%S</td><td>%s", p,
           json_string_value(json_object_get(v, "type")), fmt ? " (" : "", fmt, fmt ? ")" : "",
           json_is_true(json_object_get(v, "nullable")) ? ", nullable" : "", items ? " of " : "",
           items ? json_string_value(json_object_get(items, "type")) : NULL,
           required ? "<span class=\"req\">yes</span>" : "no",
           json_string_value(json_object_get(v, "description")));
        json_t *en = json_object_get(v, "enum");
        if (en) {
            char *d = json_dumps(en, JSON_COMPACT);
            hp(f, " One of <code>%s</code>.", d);
            free(d);
        }
        hp(f, "</td></tr>\n");
        if (json_object_get(v, "properties"))
            prop_rows(f, v, p);
        if (items && json_object_get(items, "properties")) {
            char ap[520];
            snprintf(ap, sizeof(ap), "%s[]", p);
            prop_rows(f, items, ap);
        }
    }
}

static void header_row(FILE *f, const char *name, const char *value, const char *meaning)
{
    hp(f, "<tr><td><code>%s</code></td><td><code>%s</code></td><td>%s</td></tr>\n", name, value, meaning);
}

static void event_html(FILE *f, const tb_event_type *t, const json_t *extra)
{
    tb_event *ev = template_event(t);
    const json_t *hdrs = ev ? tb_event_headers(ev) : NULL;
    const char *acl = NULL, *hk;
    json_t *hv;
    json_object_foreach((json_t *)hdrs, hk, hv)
        if (tb_wire_header_kind(hk) == TB_HDR_REQUIRED_ACL)
            acl = json_string_value(hv);
    hp(f, "<section class=\"event\" id=\"%s\"><h2>%s</h2>\n<p>%s</p>\n<table class=\"facts\">"
          "<tr><th>Level</th><td><span class=\"level\">%s</span></td></tr>"
          "<tr><th>Who receives it</th><td class=\"who\">%s</td></tr>"
          "<tr><th>Routing key</th><td><code class=\"routing-key\">%s</code></td></tr>"
          "<tr><th>Required ACL</th><td><code class=\"acl\">%s</code></td></tr></table>\n"
          "<h3>Headers</h3>\n<table class=\"headers\"><tr><th>header</th><th>value</th>"
          "<th>meaning</th></tr>\n", t->name, t->name, t->description, tb_level_name(t->level),
       who_receives(t->level), ev ? tb_event_routing_key(ev) : "", acl ? acl : "");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)hdrs, k, v) {
        hdr_doc d;
        if (generated_doc(t, k, v, &d)) {
            header_row(f, d.shown_key, d.shown_value, d.meaning);
            json_decref(d.schema);
        }
    }
    tb_event_free(ev);
    json_object_foreach((json_t *)extra, k, v) {
        char type[64];
        snprintf(type, sizeof(type), "<%s>", json_string_value(json_object_get(v, "type")));
        header_row(f, k, type, json_string_value(json_object_get(v, "description")));
    }
    hp(f, "</table>\n<h3>Payload (<code>data</code>)</h3>\n<table class=\"payload\"><tr><th>field</th>"
          "<th>type</th><th>required</th><th>description</th></tr>\n");
    prop_rows(f, t->content_schema, "");
    json_t *ex = tb__docgen_example(t, extra);
    char *d = ex ? json_dumps(ex, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
    hp(f, "</table>\n<h3>Example body</h3>\n<pre class=\"example\">%s</pre>\n</section>\n", d);
    free(d);
    json_decref(ex);
}

static int add_file(tb__docs *d, const char *name, const char *ctype, char *body, size_t len)
{
    tb__docfile *nf = realloc(d->files, (d->n + 1) * sizeof(*nf));
    if (!nf) {
        free(body);
        return -1;
    }
    d->files = nf;
    nf[d->n] = (tb__docfile){.name = strdup(name), .ctype = ctype, .body = body, .len = len};
    if (!nf[d->n].name) {
        free(body);
        return -1;
    }
    d->n++;
    return 0;
}

/* Closes the memory stream and adds its text as file `name`. */
static int finish_page(tb__docs *d, FILE *f, char **buf, size_t *len, const char *name)
{
    if (fclose(f) != 0) {
        free(*buf);
        return -1;
    }
    return add_file(d, name, "text/html; charset=utf-8", *buf, *len);
}

static int service_page(tb__docs *d, const tb_catalogue *cat, const json_t *events, const char *svc)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return -1;
    char title[256];
    snprintf(title, sizeof(title), "%s events", svc);
    page_head(f, title);
    hp(f, "<header><a href=\"index.html\">Event reference</a> / <strong>%s</strong></header>\n"
          "<main>\n<h1>%s</h1>\n<p>AsyncAPI 3.0: <a href=\"%s.asyncapi.json\">%s.asyncapi.json</a></p>\n"
          "<ul class=\"toc\">\n", svc, title, svc, svc);
    for (size_t i = 0; i < tb_catalogue_count(cat); i++) {
        const tb_event_type *t = tb_catalogue_get(cat, i);
        if (strcmp(t->service, svc) == 0)
            hp(f, "<li><a href=\"#%s\">%s</a></li>\n", t->name, t->name);
    }
    hp(f, "</ul>\n");
    for (size_t i = 0; i < tb_catalogue_count(cat); i++) {
        const tb_event_type *t = tb_catalogue_get(cat, i);
        if (strcmp(t->service, svc) == 0)
            event_html(f, t, json_object_get(json_array_get(events, i), "headers"));
    }
    hp(f, "</main></body></html>\n");
    char name[300];
    snprintf(name, sizeof(name), "%s.html", svc);
    return finish_page(d, f, &buf, &len, name);
}

static int index_page(tb__docs *d, const tb_catalogue *cat)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    if (!f)
        return -1;
    page_head(f, "Event reference");
    hp(f, "<header><strong>Event reference</strong></header>\n<main>\n<h1>Event reference</h1>\n"
          "<p>Events published on the bus, by service. Who receives an event over the WebSocket "
          "depends on its level: <em>service</em> events reach services only, <em>tenant</em> "
          "events all users of the tenant, <em>user</em> events the user, <em>multi_user</em> "
          "events the listed users (and, in each case, tenant admins and master-tenant sessions "
          "whose ACL grants the event's required ACL).</p>\n<h2>Services</h2>\n<ul class=\"services\">\n");
    size_t n = tb_catalogue_count(cat);
    for (size_t i = 0, j; i < n; i = j) {
        const char *svc = tb_catalogue_get(cat, i)->service;
        for (j = i; j < n && strcmp(tb_catalogue_get(cat, j)->service, svc) == 0; j++)
            ;
        hp(f, "<li><a class=\"service\" href=\"%s.html\">%s</a> — %z event%S (<a href=\"%s.asyncapi.json\">"
              "AsyncAPI</a>)</li>\n", svc, svc, j - i, j - i == 1 ? "" : "s", svc);
    }
    hp(f, "</ul>\n<h2>All events</h2>\n<table><tr><th>event</th><th>service</th><th>level</th>"
          "<th>routing key</th></tr>\n");
    for (size_t i = 0; i < n; i++) {
        const tb_event_type *t = tb_catalogue_get(cat, i);
        hp(f, "<tr><td><a href=\"%s.html#%s\">%s</a></td><td>%s</td><td>%s</td><td><code>%s</code></td></tr>\n",
           t->service, t->name, t->name, t->service, tb_level_name(t->level),
           t->routing_key_fmt ? t->routing_key_fmt : t->name);
    }
    hp(f, "</table>\n<p>Generated by tenbus %s.</p>\n</main></body></html>\n", tb_version());
    return finish_page(d, f, &buf, &len, "index.html");
}

int tb__docgen(const tb_catalogue *cat, const tb__docgen_opts *o, tb__docs *out)
{
    *out = (tb__docs){0};
    json_t *all = tb_catalogue_to_json(cat);
    if (!all)
        return -1;
    const json_t *events = json_object_get(all, "events");
    int rc = index_page(out, cat);
    const char *prev = NULL;
    for (size_t i = 0; rc == 0 && i < tb_catalogue_count(cat); i++) {
        const char *svc = tb_catalogue_get(cat, i)->service;
        if (prev && strcmp(prev, svc) == 0)
            continue;
        prev = svc;
        rc = service_page(out, cat, events, svc);
        json_t *doc = rc == 0 ? tb__docgen_asyncapi(cat, svc, o) : NULL;
        char *text = doc ? json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER) : NULL;
        json_decref(doc);
        char name[300];
        snprintf(name, sizeof(name), "%s.asyncapi.json", svc);
        rc = text ? add_file(out, name, "application/json", text, strlen(text)) : -1;
    }
    json_decref(all);
    if (rc < 0)
        tb__docs_free(out);
    return rc;
}

void tb__docs_free(tb__docs *d)
{
    for (size_t i = 0; d && i < d->n; i++) {
        free(d->files[i].name);
        free(d->files[i].body);
    }
    if (d) {
        free(d->files);
        *d = (tb__docs){0};
    }
}

const tb__docfile *tb__docs_find(const tb__docs *d, const char *name)
{
    for (size_t i = 0; d && i < d->n; i++)
        if (strcmp(d->files[i].name, name) == 0)
            return &d->files[i];
    return NULL;
}
