/*
 * Aborting and fallible allocators, plus the fault-injection counter used by
 * the out-of-memory tests (fail the Nth large allocation in turn, as
 * SQLite's malloc tests do).
 */
#include "ln_alloc.h"

#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

static atomic_long ln__fail_countdown;
static atomic_long ln__large_count;

static void ln__oom_abort(size_t size)
{
    fprintf(stderr, "lunar-nova: out of memory allocating %zu bytes\n", size);
    abort();
}

void *ln_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        ln__oom_abort(size);
    return p;
}

void *ln_xcalloc(size_t n, size_t size)
{
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p)
        ln__oom_abort(n * size);
    return p;
}

void *ln_xrealloc(void *p, size_t size)
{
    void *q = realloc(p, size ? size : 1);
    if (!q)
        ln__oom_abort(size);
    return q;
}

char *ln_xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = ln_xmalloc(n);
    memcpy(p, s, n);
    return p;
}

static int ln__injected_failure(void)
{
    atomic_fetch_add(&ln__large_count, 1);
    long c = atomic_load(&ln__fail_countdown);
    while (c > 0) {
        if (atomic_compare_exchange_weak(&ln__fail_countdown, &c, c - 1))
            return c == 1;
    }
    return 0;
}

void *ln_malloc(size_t size)
{
    if (ln__injected_failure())
        return NULL;
    return malloc(size ? size : 1);
}

/* ln_malloc_huge's sizes from here on start on a 2 MB boundary with huge
 * pages asked for; below, and off Linux, they are plain allocations. */
#if defined(__linux__) && defined(MADV_HUGEPAGE)
#define LN__HUGE ((size_t)2 << 20)
#else
#define LN__HUGE SIZE_MAX
#endif

/* size (>= LN__HUGE) bytes on a 2 MB boundary with huge pages asked for,
 * or NULL. */
static void *ln__huge(size_t size)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    void *p = NULL;
    if (posix_memalign(&p, LN__HUGE, size) != 0)
        return NULL;
    /* advice only: without it the pages are ordinary ones */
    (void)madvise(p, size / LN__HUGE * LN__HUGE, MADV_HUGEPAGE);
    return p;
#else
    (void)size;
    return NULL;
#endif
}

void *ln_malloc_huge(size_t size)
{
    if (size < LN__HUGE)
        return ln_malloc(size);
    return ln__injected_failure() ? NULL : ln__huge(size);
}

void *ln_xmalloc_huge(size_t size)
{
    if (size < LN__HUGE)
        return ln_xmalloc(size);
    void *p = ln__huge(size);
    if (!p)
        ln__oom_abort(size);
    return p;
}

void *ln_calloc(size_t n, size_t size)
{
    if (ln__injected_failure())
        return NULL;
    return calloc(n ? n : 1, size ? size : 1);
}

void *ln_realloc(void *p, size_t size)
{
    if (ln__injected_failure())
        return NULL;
    return realloc(p, size ? size : 1);
}

int ln_size_mul(size_t a, size_t b, size_t *out)
{
    if (a != 0 && b > SIZE_MAX / a)
        return -1;
    *out = a * b;
    return 0;
}

int ln_size_mul3(size_t a, size_t b, size_t c, size_t *out)
{
    size_t ab;
    if (ln_size_mul(a, b, &ab) < 0)
        return -1;
    return ln_size_mul(ab, c, out);
}

void *ln_alloc_array(size_t n, size_t size, int flags, const char *what, struct ln_error *err)
{
    size_t total;
    if (ln_size_mul(n, size, &total) < 0) {
        ln_error_set(err, LN_ETOOBIG, "%s is too large (%zu x %zu bytes)", what, n, size);
        return NULL;
    }
    void *p;
    if (flags & LN_ALLOC_HUGE) {
        p = ln_malloc_huge(total);
        if (p && (flags & LN_ALLOC_ZERO))
            memset(p, 0, total);
    } else {
        p = (flags & LN_ALLOC_ZERO) ? ln_calloc(n, size) : ln_malloc(total);
    }
    if (!p)
        ln_error_set(err, LN_ENOMEM, "out of memory allocating %.1f MB for %s",
                     (double)total / 1048576.0, what);
    return p;
}

long ln_alloc_fail_after(long n)
{
    atomic_store(&ln__fail_countdown, n);
    return atomic_exchange(&ln__large_count, 0);
}
