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

/* size bytes on 2 MB pages where the system has them and size is at least
 * one: 1 (and *p) on success, 0 on failure, -1 where they are not used. */
static int ln__huge(size_t size, void **p)
{
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const size_t huge = (size_t)2 << 20;
    if (size >= huge) {
        if (posix_memalign(p, huge, size) != 0)
            return 0;
        /* advice only: without it the pages are ordinary ones */
        (void)madvise(*p, size / huge * huge, MADV_HUGEPAGE);
        return 1;
    }
#endif
    (void)size, (void)p;
    return -1;
}

void *ln_malloc_huge(size_t size)
{
    void *p = NULL;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (size >= ((size_t)2 << 20) && ln__injected_failure())
        return NULL;
#endif
    const int got = ln__huge(size, &p);
    return got < 0 ? ln_malloc(size) : got ? p : NULL;
}

void *ln_xmalloc_huge(size_t size)
{
    void *p = NULL;
    const int got = ln__huge(size, &p);
    if (got < 0)
        return ln_xmalloc(size);
    if (!got)
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
