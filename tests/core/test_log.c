/* Unit tests of the logger's log file and mirror (ln_log.h): the same file
 * on Linux and, cross-built, on Windows (under Wine: make test-windows).
 * The file is read back through the file layer and split by hand; the
 * expectations are counts and the exact line format. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_file.h"
#include "ln_log.h"
#include "ln_threads.h"
#include "testutil.h"

/* The terminal copy of every line goes to a scratch file, not the test's
 * output. */
static FILE *quiet_sink(const char *dir)
{
    char *p = ln_test_path(dir, "stderr.txt");
    FILE *f = fopen(p, "ab");
    free(p);
    assert_non_null(f);
    ln_log_set_sink(f);
    return f;
}

/* Counts the lines of the file at path; fails on a line that is not
 * "<24-char stamp> info  line T N" (a torn or interleaved line). */
static size_t count_whole_lines(const char *path)
{
    uint8_t *data = NULL;
    size_t len = 0;
    assert_int_equal(ln_file_read(path, 1u << 24, &data, &len, NULL), 0);
    size_t n = 0;
    const char *p = (const char *)data, *end = p + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        assert_non_null(nl);
        size_t l = (size_t)(nl - p);
        char line[128];
        int t = -1, i = -1, used = 0;
        assert_true(l > 36 && l < sizeof line);
        memcpy(line, p, l);
        line[l] = 0;
        assert_int_equal(line[4], '-');
        assert_int_equal(line[23], 'Z');
        assert_memory_equal(line + 24, " info  line ", 12);
        assert_int_equal(sscanf(line + 36, "%d %d%n", &t, &i, &used), 2);
        assert_int_equal(36 + used, (int)l); /* nothing after the two numbers */
        p = nl + 1;
        n++;
    }
    free(data);
    return n;
}

struct burst {
    int lines;
};

static void log_burst(void *ctx, size_t begin, size_t end, int thread)
{
    const struct burst *b = ctx;
    (void)thread;
    for (size_t t = begin; t < end; t++)
        for (int i = 0; i < b->lines; i++)
            ln_log_info("line %d %d", (int)t, i);
}

/* Lines of several threads, appended whole; a second opening appends
 * after them; a UTF-8 name works on every system. */
static void test_log_file_appends_whole_lines(void **state)
{
    (void)state;
    const char *dir = ln_test_tmpdir("log_file_appends");
    FILE *sink = quiet_sink(dir);
    char *path = ln_test_path(dir, "journal \xc3\xa9t\xc3\xa9.log");
    ln_log_set_style(LN_LOG_STYLE_TEXT);
    ln_log_set_level(LN_LOG_LEVEL_INFO);
    struct ln_error err = {0};
    assert_int_equal(ln_log_open_file(path, &err), 0);
    struct burst b = {200};
    ln_parallel_for_at(4, 1, 4, log_burst, &b);
    ln_log_debug("below the level: not written");
    ln_log_close_file();
    assert_int_equal(count_whole_lines(path), 800);

    assert_int_equal(ln_log_open_file(path, &err), 0);
    ln_log_info("line 9 9");
    ln_log_close_file();
    ln_log_info("line 9 10"); /* closed: stderr (the sink) only */
    assert_int_equal(count_whole_lines(path), 801);

    ln_log_set_sink(NULL);
    fclose(sink);
    free(path);
}

/* A file that cannot be opened is an error naming it, and the log goes
 * on to stderr alone. */
static void test_log_file_refused(void **state)
{
    (void)state;
    const char *dir = ln_test_tmpdir("log_file_refused");
    char *missing = ln_test_path(dir, "no-such-folder/x.log");
    struct ln_error err = {0};
    assert_true(ln_log_open_file(missing, &err) < 0);
    assert_non_null(strstr(err.message, "x.log"));
    memset(&err, 0, sizeof err);
    assert_true(ln_log_open_file(dir, &err) < 0); /* a folder */
    free(missing);
}

struct seen {
    int n;
    enum ln_log_level level[8];
    char msg[8][64];
};

static void mirror(void *user, enum ln_log_level level, const char *msg)
{
    struct seen *s = user;
    if (s->n < 8) {
        s->level[s->n] = level;
        snprintf(s->msg[s->n], sizeof s->msg[0], "%s", msg);
    }
    s->n++;
}

/* The mirror gets warnings, errors and notices, as bare messages, and
 * only those that pass the level. */
static void test_log_mirror_gets_warnings_errors_notices(void **state)
{
    (void)state;
    const char *dir = ln_test_tmpdir("log_mirror");
    FILE *sink = quiet_sink(dir);
    struct seen s = {0};
    ln_log_set_style(LN_LOG_STYLE_JSON);
    ln_log_set_level(LN_LOG_LEVEL_INFO);
    ln_log_set_mirror(mirror, &s);
    ln_log_info("plain info");
    ln_log_debug("debug");
    ln_log_notice("Listening on http://127.0.0.1:%d", 8000);
    ln_log_warn("low disk: %d MB", 5);
    ln_log_error("cannot save");
    ln_log_set_level(LN_LOG_LEVEL_ERROR);
    ln_log_notice("filtered notice");
    ln_log_warn("filtered warning");
    ln_log_set_level(LN_LOG_LEVEL_INFO);
    ln_log_set_mirror(NULL, NULL);
    ln_log_error("after the mirror is removed");
    ln_log_set_style(LN_LOG_STYLE_PLAIN);
    assert_int_equal(s.n, 3);
    assert_int_equal(s.level[0], LN_LOG_LEVEL_INFO);
    assert_string_equal(s.msg[0], "Listening on http://127.0.0.1:8000");
    assert_int_equal(s.level[1], LN_LOG_LEVEL_WARN);
    assert_string_equal(s.msg[1], "low disk: 5 MB");
    assert_int_equal(s.level[2], LN_LOG_LEVEL_ERROR);
    assert_string_equal(s.msg[2], "cannot save");
    ln_log_set_sink(NULL);
    fclose(sink);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_log_file_appends_whole_lines),
        cmocka_unit_test(test_log_file_refused),
        cmocka_unit_test(test_log_mirror_gets_warnings_errors_notices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
