/*
 * Shared helpers for the cmocka unit tests: where fixtures and scratch
 * files live, and comparisons that print both values on failure.
 *
 * LN_TEST_DATA points at tests/data (committed fixtures) and LN_TEST_TMP at
 * a scratch folder in the build tree; ctest sets both. Unset, the paths the
 * build compiled in are used (the source tree's tests/data and the build
 * tree's tests/tmp), so a test binary also runs by hand from any folder.
 */
#ifndef LN_TESTUTIL_H
#define LN_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* Path of a committed fixture: $LN_TEST_DATA/name (static buffer per call
 * site is not kept: copy if needed; up to 4 results alive at once). */
const char *ln_test_data(const char *name);
/* A fresh, empty scratch folder for one test, created under $LN_TEST_TMP. */
const char *ln_test_tmpdir(const char *test_name);
/* How much slower than a plain release build this run is allowed to be
 * (LN_TEST_SLOW, at least 1; the sanitizer runs set it): the factor for
 * a test's deadlock guards (how long it waits before calling a wait
 * hung), never for a timing the test asserts. */
double ln_test_slow(void);
/* Joins folder and name into a new string the caller frees. */
char *ln_test_path(const char *dir, const char *name);

/* Fails the test, printing both values, when |a - b| > tol. */
#define assert_near(a, b, tol) ln__assert_near((double)(a), (double)(b), (double)(tol), #a, #b, __FILE__, __LINE__)
void ln__assert_near(double a, double b, double tol, const char *sa, const char *sb,
                     const char *file, int line);

/* Fails the test, naming the call, its code and the error's message, when
 * expr (a call returning an ln_status) is not LN_OK. */
#define assert_ok(expr, err)                                                                       \
    do {                                                                                           \
        int rc_ = (expr);                                                                          \
        if (rc_ != 0)                                                                              \
            fail_msg("%s returned %d: %s", #expr, rc_, (err).message);                             \
    } while (0)

/* Reads a whole file (fails the test if it cannot). Caller frees. */
uint8_t *ln_test_read(const char *path, size_t *len);
/* Reads a raw float32 file and checks it has n values. Caller frees. */
float *ln_test_read_f32(const char *path, size_t n);

/* What Linux says of the mapping that holds address p (/proc/self/smaps):
 * its resident kilobytes, its kilobytes on transparent huge pages and its
 * VmFlags ("rd mr mw me ac hg", "hg" once madvise MADV_HUGEPAGE asked for
 * huge pages). Returns 0, or -1 where there is no such account (not Linux,
 * or an emulator whose smaps is not the kernel's: then rss_kb is 0 for a
 * mapping just read through, or no VmFlags line is there). */
struct ln_test_smaps {
    long rss_kb, anon_huge_kb;
    char vm_flags[160];
};
int ln_test_smaps(const void *p, struct ln_test_smaps *out);

#endif
