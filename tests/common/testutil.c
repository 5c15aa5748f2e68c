/* Implementation of the unit-test helpers. */
#include "testutil.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_error.h"
#include "ln_file.h"
#include "ln_fs.h"
#include "ln_sys.h"

/* The build compiles in the source tree's tests/data and a tmp folder in the
 * build tree, so that a test binary started by hand from any folder finds
 * its fixtures; the environment variables (set by ctest) still win. */
#ifndef LN_TEST_DATA_DEFAULT
#define LN_TEST_DATA_DEFAULT "tests/data"
#endif
#ifndef LN_TEST_TMP_DEFAULT
#define LN_TEST_TMP_DEFAULT "/tmp/lunar-nova-tests"
#endif

static const char *env_or(const char *name, const char *fallback)
{
    const char *v = getenv(name);
    return v && *v ? v : fallback;
}

const char *ln_test_data(const char *name)
{
    static char bufs[4][1024];
    static int next;
    const char *root = env_or("LN_TEST_DATA", LN_TEST_DATA_DEFAULT);
    char *b = bufs[next++ % 4];
    snprintf(b, sizeof bufs[0], "%s/%s", root, name);
    return b;
}

double ln_test_slow(void)
{
    const char *v = getenv("LN_TEST_SLOW");
    double f = v ? atof(v) : 1.0;
    return f >= 1.0 ? f : 1.0;
}

const char *ln_test_tmpdir(const char *test_name)
{
    static char buf[1024];
    const char *root = env_or("LN_TEST_TMP", LN_TEST_TMP_DEFAULT);
    snprintf(buf, sizeof buf, "%s/%s", root, test_name);
    struct ln_error err = {0};
    if (ln_dir_remove_tree(buf, &err) < 0)
        fail_msg("cannot clear %s: %s", buf, err.message);
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

/* rembg's models in the home folder of whoever runs the tests must not
 * change what the tests see (background removal picks a network when one
 * is found): every test starts with U2NET_HOME at a folder that holds none,
 * and a test that wants one sets its own. */
__attribute__((constructor)) static void ln__test_no_rembg_models(void)
{
    ln_env_set("U2NET_HOME", "/nonexistent/lunar-nova-tests/u2net");
}

int ln_test_smaps(const void *p, struct ln_test_smaps *out)
{
    memset(out, 0, sizeof *out);
#ifdef __linux__
    FILE *f = fopen("/proc/self/smaps", "r");
    if (!f)
        return -1;
    const uintptr_t a = (uintptr_t)p;
    char line[512];
    int in = 0, found = 0, flags = 0;
    while (fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        char dash;
        /* a mapping's header: "lo-hi perms offset dev inode [path]" */
        if (sscanf(line, "%lx%c%lx ", &lo, &dash, &hi) == 3 && dash == '-' && strchr(line, ' ')) {
            if (in)
                break;
            in = a >= lo && a < hi;
            found |= in;
            continue;
        }
        if (!in)
            continue;
        long kb;
        if (sscanf(line, "Rss: %ld kB", &kb) == 1)
            out->rss_kb = kb;
        else if (sscanf(line, "AnonHugePages: %ld kB", &kb) == 1)
            out->anon_huge_kb = kb;
        else if (strncmp(line, "VmFlags:", 8) == 0) {
            size_t len = strcspn(line + 8, "\n");
            if (len >= sizeof out->vm_flags)
                len = sizeof out->vm_flags - 1;
            memcpy(out->vm_flags, line + 8, len);
            out->vm_flags[len] = 0;
            flags = 1;
        }
    }
    fclose(f);
    return found && flags ? 0 : -1;
#else
    (void)p;
    return -1;
#endif
}
