#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/log.h"
#include "tmpfiles.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* "2026-11-25T16:49:04.123Z " */
static void check_stamp(const char *line)
{
    static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ ";
    for (size_t i = 0; i < sizeof shape - 1; i++) {
        if (shape[i] == 'd')
            assert_true(line[i] >= '0' && line[i] <= '9');
        else
            assert_int_equal(line[i], shape[i]);
    }
}

static void test_levels_and_format(void **state)
{
    tf_dir t;
    assert_int_equal(tf_init(&t), 0);
    const char *p = tf_write(&t, "a.log", "");
    assert_int_equal(tbd_log_open(p), 0);
    tbd_log_set_level(TBD_LOG_INFO);
    tbd_log_debug("hidden %d", 1);
    tbd_log_info("hello %s", "world");
    tbd_log_warn("careful");
    tbd_log_error("broken\nforged 2026-01-01T00:00:00.000Z ERROR line");
    tbd_log_set_level(TBD_LOG_DEBUG);
    tbd_log_debug("shown");
    tbd_log_close();

    char *text = slurp(p);
    char *lines[8];
    int n = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l && n < 8;
         l = strtok_r(NULL, "\n", &save))
        lines[n++] = l;
    assert_int_equal(n, 4);
    for (int i = 0; i < n; i++)
        check_stamp(lines[i]);
    assert_string_equal(lines[0] + 25, "INFO hello world");
    assert_string_equal(lines[1] + 25, "WARNING careful");
    assert_string_equal(lines[2] + 25, "ERROR broken forged 2026-01-01T00:00:00.000Z ERROR line");
    assert_string_equal(lines[3] + 25, "DEBUG shown");
    tbd_log_set_level(TBD_LOG_INFO);
    tf_cleanup(&t);
}

static void test_reopen_for_rotation(void **state)
{
    tf_dir t;
    assert_int_equal(tf_init(&t), 0);
    const char *p = tf_write(&t, "b.log", "");
    char rotated[256];
    snprintf(rotated, sizeof rotated, "%s", tf_path(&t, "b.log.1"));
    assert_int_equal(tbd_log_open(p), 0);
    tbd_log_info("before");
    assert_int_equal(rename(p, rotated), 0);
    tbd_log_info("still old");
    assert_int_equal(tbd_log_open(p), 0);   /* what SIGHUP does */
    tbd_log_info("after");
    tbd_log_close();
    assert_non_null(strstr(slurp(rotated), "INFO still old\n"));
    assert_null(strstr(slurp(rotated), "after"));
    assert_non_null(strstr(slurp(p), "INFO after\n"));
    unlink(rotated);
    assert_int_equal(tbd_log_open("/nonexistent/dir/x.log"), -1);
    tf_cleanup(&t);
}

static void test_long_lines_truncated(void **state)
{
    tf_dir t;
    assert_int_equal(tf_init(&t), 0);
    const char *p = tf_write(&t, "c.log", "");
    char big[10000];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(tbd_log_open(p), 0);
    tbd_log_info("%s", big);
    tbd_log_close();
    char *text = slurp(p);
    size_t len = strlen(text);
    assert_true(len > 1000 && len <= 4097);
    assert_int_equal(text[len - 1], '\n');
    assert_memory_equal(text + len - 4, "...", 3);
    assert_ptr_equal(strchr(text, '\n'), text + len - 1);
    tf_cleanup(&t);
}

static void *writer(void *arg)
{
    for (int i = 0; i < 500; i++)
        tbd_log_info("thread %d line %d %s", (int)(intptr_t)arg, i, "padding padding padding");
    return NULL;
}

static void test_threads_do_not_interleave(void **state)
{
    tf_dir t;
    assert_int_equal(tf_init(&t), 0);
    const char *p = tf_write(&t, "d.log", "");
    assert_int_equal(tbd_log_open(p), 0);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, writer, (void *)(intptr_t)i);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    tbd_log_close();
    char *text = slurp(p);
    int n = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        int th_id, line;
        check_stamp(l);
        assert_int_equal(sscanf(l + 25, "INFO thread %d line %d padding", &th_id, &line), 2);
        n++;
    }
    assert_int_equal(n, 2000);
    tf_cleanup(&t);
}

static void test_parse_level(void **state)
{
    tbd_log_level l;
    assert_int_equal(tbd_log_parse_level("debug", &l), 0);
    assert_int_equal(l, TBD_LOG_DEBUG);
    assert_int_equal(tbd_log_parse_level("INFO", &l), 0);
    assert_int_equal(l, TBD_LOG_INFO);
    assert_int_equal(tbd_log_parse_level("warn", &l), 0);
    assert_int_equal(l, TBD_LOG_WARNING);
    assert_int_equal(tbd_log_parse_level("Warning", &l), 0);
    assert_int_equal(l, TBD_LOG_WARNING);
    assert_int_equal(tbd_log_parse_level("error", &l), 0);
    assert_int_equal(l, TBD_LOG_ERROR);
    assert_int_equal(tbd_log_parse_level("CRITICAL", &l), 0);
    assert_int_equal(l, TBD_LOG_ERROR);
    assert_int_equal(tbd_log_parse_level("verbose", &l), -1);
    assert_int_equal(tbd_log_parse_level(NULL, &l), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_levels_and_format),
        cmocka_unit_test(test_reopen_for_rotation),
        cmocka_unit_test(test_long_lines_truncated),
        cmocka_unit_test(test_threads_do_not_interleave),
        cmocka_unit_test(test_parse_level),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
