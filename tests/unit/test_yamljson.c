#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tmpfiles.h"
#include "conf/yamljson.h"

static json_t *load(const char *text, char *err, size_t errlen)
{
    return tb__yaml_load_buf(text, strlen(text), "t.yml", err, errlen);
}

/* Loads "v: <text>" and returns a new ref to v (NULL on error). */
static json_t *value_of(const char *text, char *err, size_t errlen)
{
    char doc[256];
    snprintf(doc, sizeof doc, "v: %s\n", text);
    json_t *root = load(doc, err, errlen);
    if (!root)
        return NULL;
    json_t *v = json_incref(json_object_get(root, "v"));
    json_decref(root);
    return v;
}

typedef struct {
    const char *text;
    json_type type;
    json_int_t i;      /* integers, and booleans as 0/1 */
    double r;
    const char *s;
} typing_case;

static void test_typing_table(void **state)
{
    static const typing_case cases[] = {
        { "", JSON_NULL, 0, 0, NULL },
        { "~", JSON_NULL, 0, 0, NULL },
        { "null", JSON_NULL, 0, 0, NULL },
        { "Null", JSON_NULL, 0, 0, NULL },
        { "NULL", JSON_NULL, 0, 0, NULL },
        { "true", JSON_TRUE, 1, 0, NULL },
        { "True", JSON_TRUE, 1, 0, NULL },
        { "TRUE", JSON_TRUE, 1, 0, NULL },
        { "false", JSON_FALSE, 0, 0, NULL },
        { "False", JSON_FALSE, 0, 0, NULL },
        { "FALSE", JSON_FALSE, 0, 0, NULL },
        { "yes", JSON_STRING, 0, 0, "yes" },      /* YAML 1.1 only */
        { "off", JSON_STRING, 0, 0, "off" },
        { "tRUE", JSON_STRING, 0, 0, "tRUE" },
        { "0", JSON_INTEGER, 0, 0, NULL },
        { "12", JSON_INTEGER, 12, 0, NULL },
        { "-12", JSON_INTEGER, -12, 0, NULL },
        { "+12", JSON_INTEGER, 12, 0, NULL },
        { "012", JSON_INTEGER, 12, 0, NULL },     /* 1.2: decimal, not octal */
        { "0x1F", JSON_INTEGER, 31, 0, NULL },
        { "0o17", JSON_INTEGER, 15, 0, NULL },
        { "9223372036854775807", JSON_INTEGER, INT64_MAX, 0, NULL },
        { "9223372036854775808", JSON_REAL, 0, 9223372036854775808.0, NULL },
        { "1.5", JSON_REAL, 0, 1.5, NULL },
        { "-.5", JSON_REAL, 0, -0.5, NULL },
        { "1.", JSON_REAL, 0, 1.0, NULL },
        { "1e3", JSON_REAL, 0, 1000.0, NULL },
        { "2.5E-1", JSON_REAL, 0, 0.25, NULL },
        { "1_000", JSON_STRING, 0, 0, "1_000" },
        { "0x", JSON_STRING, 0, 0, "0x" },
        { "0b101", JSON_STRING, 0, 0, "0b101" },
        { ".", JSON_STRING, 0, 0, "." },
        { "1.2.3", JSON_STRING, 0, 0, "1.2.3" },
        { "'12'", JSON_STRING, 0, 0, "12" },
        { "\"true\"", JSON_STRING, 0, 0, "true" },
        { "''", JSON_STRING, 0, 0, "" },
        { "!!str 12", JSON_STRING, 0, 0, "12" },
        { "! 12", JSON_STRING, 0, 0, "12" },
        { "127.0.0.1", JSON_STRING, 0, 0, "127.0.0.1" },
        { "/api/auth", JSON_STRING, 0, 0, "/api/auth" },
        { "|\n  line\n", JSON_STRING, 0, 0, "line\n" },
    };
    char err[256];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const typing_case *c = &cases[i];
        json_t *v = value_of(c->text, err, sizeof err);
        if (!v)
            fail_msg("%s: %s", c->text, err);
        if (json_typeof(v) != c->type)
            fail_msg("%s: type %d, want %d", c->text, json_typeof(v), c->type);
        if (c->type == JSON_INTEGER)
            assert_int_equal(json_integer_value(v), c->i);
        if (c->type == JSON_REAL)
            assert_true(fabs(json_real_value(v) - c->r) < 1e-9 * fabs(c->r) + 1e-12);
        if (c->type == JSON_STRING)
            assert_string_equal(json_string_value(v), c->s);
        json_decref(v);
    }
}

static void test_unrepresentable_scalars(void **state)
{
    static const char *const bad[] = { ".inf", "-.Inf", ".NaN", "0x10000000000000000",
                                       "0o7777777777777777777777", "1e999" };
    char err[256];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        json_t *v = value_of(bad[i], err, sizeof err);
        if (v)
            fail_msg("%s: accepted", bad[i]);
        assert_non_null(strstr(err, "t.yml:1:4: "));
    }
}

static void test_scalar_api(void **state)
{
    char err[128];
    json_t *v = tb__yaml_scalar("0x10", 4, err, sizeof err);
    assert_int_equal(json_integer_value(v), 16);
    json_decref(v);
    v = tb__yaml_scalar("64k", 3, err, sizeof err);
    assert_string_equal(json_string_value(v), "64k");
    json_decref(v);
    v = tb__yaml_scalar("", 0, err, sizeof err);
    assert_true(json_is_null(v));
}

static void test_structure(void **state)
{
    char err[256];
    json_t *root = load("# comment\n"
                        "a:\n"
                        "  b: [1, two, {c: d}]\n"
                        "  e:\n"
                        "    - x\n"
                        "    - y: z\n"
                        "1: numeric key\n"
                        "true: bool key\n"
                        "a2: {}\n",
                        err, sizeof err);
    assert_non_null(root);
    json_t *b = json_object_get(json_object_get(root, "a"), "b");
    assert_int_equal(json_array_size(b), 3);
    assert_int_equal(json_integer_value(json_array_get(b, 0)), 1);
    assert_string_equal(json_string_value(json_array_get(b, 1)), "two");
    assert_string_equal(json_string_value(json_object_get(json_array_get(b, 2), "c")), "d");
    json_t *e = json_object_get(json_object_get(root, "a"), "e");
    assert_string_equal(json_string_value(json_object_get(json_array_get(e, 1), "y")), "z");
    assert_string_equal(json_string_value(json_object_get(root, "1")), "numeric key");
    assert_string_equal(json_string_value(json_object_get(root, "true")), "bool key");
    assert_true(json_is_object(json_object_get(root, "a2")));
    json_decref(root);
}

static void test_duplicate_keys_last_wins(void **state)
{
    char err[256];
    json_t *root = load("a: 1\nb: 2\na: 3\n", err, sizeof err);
    assert_non_null(root);
    assert_int_equal(json_integer_value(json_object_get(root, "a")), 3);
    assert_int_equal(json_object_size(root), 2);
    json_decref(root);
}

static void test_empty_documents(void **state)
{
    static const char *const empties[] = { "", "# only a comment\n", "---\n", "~\n", "---\n...\n" };
    char err[256];
    for (size_t i = 0; i < sizeof empties / sizeof empties[0]; i++) {
        json_t *root = load(empties[i], err, sizeof err);
        if (!root)
            fail_msg("%zu: %s", i, err);
        assert_true(json_is_object(root));
        assert_int_equal(json_object_size(root), 0);
        json_decref(root);
    }
}

static void test_json_input(void **state)
{
    char err[256];
    const char *text = "{\"a\": [1, 2.5, \"x\", true, false, null],\n"
                       "\t\"b\":{\"c\":\"d\\u00e9\\/\\n\",\"n\":-3},\n"
                       "\"empty\": {}, \"list\": [], \"s\": \"12\"}\n";
    json_t *root = load(text, err, sizeof err);
    if (!root)
        fail_msg("%s", err);
    json_t *a = json_object_get(root, "a");
    assert_int_equal(json_array_size(a), 6);
    assert_int_equal(json_integer_value(json_array_get(a, 0)), 1);
    assert_true(json_is_real(json_array_get(a, 1)));
    assert_true(json_is_true(json_array_get(a, 3)));
    assert_true(json_is_false(json_array_get(a, 4)));
    assert_true(json_is_null(json_array_get(a, 5)));
    json_t *b = json_object_get(root, "b");
    assert_string_equal(json_string_value(json_object_get(b, "c")), "d\xc3\xa9/\n");
    assert_int_equal(json_integer_value(json_object_get(b, "n")), -3);
    assert_true(json_is_string(json_object_get(root, "s")));
    json_decref(root);

    root = load("[{\"token\":\"x\"},{\"token\":\"y\"}]", err, sizeof err);
    if (!root)
        fail_msg("%s", err);
    assert_int_equal(json_array_size(root), 2);
    json_decref(root);
}

static void test_errors_name_line_and_column(void **state)
{
    char err[256];
    assert_null(load("a: 1\nb: [1, 2\nc: 3\n", err, sizeof err));
    assert_true(strncmp(err, "t.yml:", 6) == 0);
    assert_true(strncmp(err, "t.yml:3:", 8) == 0 || strncmp(err, "t.yml:4:", 8) == 0);

    assert_null(load("a: 1\n b: 2\n", err, sizeof err));
    assert_true(strncmp(err, "t.yml:2:", 8) == 0);

    assert_null(load("a: b: c\n", err, sizeof err));
    assert_true(strncmp(err, "t.yml:1:", 8) == 0);

    assert_null(load("a: 1\n---\nb: 2\n", err, sizeof err));
    assert_string_equal(err, "t.yml:2:1: expected a single document");

    assert_null(load("? [a, b]\n: c\n", err, sizeof err));
    assert_non_null(strstr(err, "mapping keys must be scalars"));

    assert_null(load("x: \"\\ud800\"\n", err, sizeof err));
    assert_true(strncmp(err, "t.yml:1:", 8) == 0);
}

static void test_anchors_and_aliases(void **state)
{
    char err[256];
    json_t *root = load("base: &b {x: 1, l: [a, b]}\n"
                        "use: *b\n"
                        "s: &s hello\n"
                        "t: *s\n"
                        "&k key: v\n"
                        "*k : w\n"
                        "seq: [&n 5, *n]\n",
                        err, sizeof err);
    if (!root)
        fail_msg("%s", err);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(root, "use"), "x")), 1);
    assert_string_equal(json_string_value(json_object_get(root, "t")), "hello");
    assert_string_equal(json_string_value(json_object_get(root, "key")), "w");
    assert_int_equal(json_integer_value(json_array_get(json_object_get(root, "seq"), 1)), 5);
    json_decref(root);

    assert_null(load("a: *nope\n", err, sizeof err));
    assert_string_equal(err, "t.yml:1:4: undefined alias *nope");

    assert_null(load("a: &r [1, *r]\n", err, sizeof err));
    assert_non_null(strstr(err, "recursive alias *r"));
}

static void test_alias_bomb_refused(void **state)
{
    char doc[2048] = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
    char line[128];
    /* Each level has 10 references to the previous one: 10^9 expanded. */
    for (char c = 'b'; c <= 'i'; c++) {
        char p = (char)(c - 1);
        snprintf(line, sizeof line, "%c: &%c [*%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c, *%c]\n",
                 c, c, p, p, p, p, p, p, p, p, p, p);
        strcat(doc, line);
    }
    char err[256];
    assert_null(load(doc, err, sizeof err));
    assert_non_null(strstr(err, "alias bomb"));
}

static void test_depth_limit(void **state)
{
    char doc[1200];
    size_t n = 0;
    doc[n++] = 'a';
    doc[n++] = ':';
    doc[n++] = ' ';
    for (int i = 0; i < 300; i++)
        doc[n++] = '[';
    for (int i = 0; i < 300; i++)
        doc[n++] = ']';
    doc[n] = '\0';
    char err[256];
    assert_null(load(doc, err, sizeof err));
    assert_non_null(strstr(err, "nesting deeper"));
}

static void test_lines(void **state)
{
    char err[256];
    json_t *lines = NULL;
    const char *text = "a: 1\n"
                       "b:\n"
                       "  c: 2\n"
                       "  d:\n"
                       "    - x\n"
                       "    -\n"
                       "      y: 3\n"
                       "\"w/~\": 4\n";
    json_t *root = tb__yaml_load_buf_lines(text, strlen(text), "t.yml", &lines, err, sizeof err);
    assert_non_null(root);
    assert_non_null(lines);
    assert_int_equal(tb__yaml_line(lines, "/a"), 1);
    assert_int_equal(tb__yaml_line(lines, "/b"), 2);
    assert_int_equal(tb__yaml_line(lines, "/b/c"), 3);
    assert_int_equal(tb__yaml_line(lines, "/b/d/0"), 5);
    /* a sequence item is where its value starts */
    assert_int_equal(tb__yaml_line(lines, "/b/d/1"), 7);
    assert_int_equal(tb__yaml_line(lines, "/b/d/1/y"), 7);
    assert_int_equal(tb__yaml_line(lines, "/w~1~0"), 8);
    /* unknown pointers fall back to the nearest ancestor */
    assert_int_equal(tb__yaml_line(lines, "/b/c/zz"), 3);
    assert_int_equal(tb__yaml_line(lines, "/nope"), 1);
    assert_int_equal(tb__yaml_line(NULL, "/a"), 0);
    json_decref(root);
    json_decref(lines);
}

static void test_files(void **state)
{
    tf_dir t;
    char err[512];
    assert_int_equal(tf_init(&t), 0);
    const char *p = tf_write(&t, "x.yml", "k: [1, 2]\n");
    json_t *root = tb__yaml_load_file(p, err, sizeof err);
    assert_non_null(root);
    assert_int_equal(json_array_size(json_object_get(root, "k")), 2);
    json_decref(root);

    p = tf_write(&t, "bad.yml", "k: 1\nk2: [\n");
    assert_null(tb__yaml_load_file(p, err, sizeof err));
    assert_true(strncmp(err, p, strlen(p)) == 0);
    assert_true(strncmp(err + strlen(p), ":3:", 3) == 0);

    const char *missing = tf_path(&t, "missing.yml");
    assert_null(tb__yaml_load_file(missing, err, sizeof err));
    assert_non_null(strstr(err, "missing.yml: No such file"));
    tf_cleanup(&t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_typing_table),
        cmocka_unit_test(test_unrepresentable_scalars),
        cmocka_unit_test(test_scalar_api),
        cmocka_unit_test(test_structure),
        cmocka_unit_test(test_duplicate_keys_last_wins),
        cmocka_unit_test(test_empty_documents),
        cmocka_unit_test(test_json_input),
        cmocka_unit_test(test_errors_name_line_and_column),
        cmocka_unit_test(test_anchors_and_aliases),
        cmocka_unit_test(test_alias_bomb_refused),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_lines),
        cmocka_unit_test(test_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
