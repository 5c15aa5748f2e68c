/* Implementation of the unit-test helpers. */
#include "testutil.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_error.h"
#include "ln_file.h"

const char *ln_test_data(const char *name)
{
    static char bufs[4][1024];
    static int next;
    const char *root = getenv("LN_TEST_DATA");
    if (!root)
        root = "tests/data";
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof bufs[0], "%s/%s", root, name);
    return b;
}

const char *ln_test_tmpdir(const char *test_name)
{
    static char buf[1024];
    const char *root = getenv("LN_TEST_TMP");
    if (!root)
        root = "/tmp/lunar-nova-tests";
    snprintf(buf, sizeof buf, "%s/%s", root, test_name);
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", buf);
    if (system(cmd) != 0)
        fail_msg("cannot clear %s", buf);
    struct ln_error err = {0};
    if (ln_file_mkdirs(buf, &err) < 0)
        fail_msg("%s", err.message);
    return buf;
}

char *ln_test_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

void ln__assert_near(double a, double b, double tol, const char *sa, const char *sb,
                     const char *file, int line)
{
    if (!(fabs(a - b) <= tol))

    {
        print_error("%s = %.9g is not within %.3g of %s = %.9g\n", sa, a, tol, sb, b);
        _fail(file, line);
    }
}

uint8_t *ln_test_read(const char *path, size_t *len)
{
    uint8_t *data;
    struct ln_error err = {0};
    if (ln_file_read(path, (size_t)1 << 31, &data, len, &err) < 0)
        fail_msg("%s", err.message);
    return data;
}

float *ln_test_read_f32(const char *path, size_t n)
{
    size_t len;
    uint8_t *data = ln_test_read(path, &len);
    if (len != n * sizeof(float))
        fail_msg("%s holds %zu bytes, expected %zu floats", path, len, n);
    float *f = malloc(len);
    memcpy(f, data, len);
    free(data);
    return f;
}
