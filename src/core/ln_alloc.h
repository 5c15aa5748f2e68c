/*
 * Allocation policy. Two kinds of allocation exist and they fail
 * differently (docs/CONVENTIONS.md habit 6):
 *   - bookkeeping (a struct, a short string, a small list): ln_x* functions,
 *     which abort the process on failure because nothing sensible remains;
 *   - large buffers whose size comes from input (images, grids, tensors,
 *     meshes): ln_alloc_array / ln_malloc, which return NULL (and fill an
 *     ln_error) so the job fails cleanly and the server lives on.
 * Sizes computed from untrusted numbers go through ln_size_mul first.
 *
 * Tests can make the Nth large allocation fail with ln_alloc_fail_after().
 * All functions are thread-safe.
 */
#ifndef LN_ALLOC_H
#define LN_ALLOC_H

#include <stddef.h>

#include "ln_error.h"

void *ln_xmalloc(size_t size);
void *ln_xcalloc(size_t n, size_t size);
void *ln_xrealloc(void *p, size_t size);
char *ln_xstrdup(const char *s);

/* Large, fallible allocations. Return NULL on failure (or injected failure). */
void *ln_malloc(size_t size);
void *ln_calloc(size_t n, size_t size);
void *ln_realloc(void *p, size_t size);
/* ln_malloc for a buffer of megabytes that is read over and over (packed
 * weights, activations) or a grid written once (the density, carving and
 * inflation grids): on Linux it starts on a 2 MB boundary and asks for huge pages
 * (madvise MADV_HUGEPAGE, which transparent huge pages in "madvise" mode
 * honour), so that filling it costs one page fault per 2 MB instead of one
 * per 4 KB (on a virtual machine a fault can cost microseconds: 1.65 GB of
 * 4 KB pages took 7-10 s to fill on the development machine, of 2 MB
 * pages 0.25 s) and reading it fewer TLB misses. Elsewhere, or where the
 * system gives no huge pages, ordinary pages. free() releases it. */
void *ln_malloc_huge(size_t size);
/* The same, ending the process when memory runs out, as ln_xmalloc: for a
 * library's allocator that cannot report a failure (meshoptimizer's). */
void *ln_xmalloc_huge(size_t size);

/* n * size bytes, overflow-checked, zeroed when flags has LN_ALLOC_ZERO
 * (1: callers pass 0 or 1 for plain or zeroed memory), on huge pages as
 * ln_malloc_huge's when it has LN_ALLOC_HUGE.
 * On failure sets err to LN_ENOMEM naming what (e.g. "density grid") and
 * returns NULL. */
#define LN_ALLOC_ZERO 1
#define LN_ALLOC_HUGE 2
void *ln_alloc_array(size_t n, size_t size, int flags, const char *what, struct ln_error *err);

/* *out = a * b; returns 0, or -1 if it overflows size_t. */
int ln_size_mul(size_t a, size_t b, size_t *out);
/* *out = a * b * c; returns 0, or -1 on overflow. */
int ln_size_mul3(size_t a, size_t b, size_t c, size_t *out);

/* Fault injection for tests: the n-th following large allocation (1-based)
 * fails, once. n = 0 disables. Returns the number of large allocations made
 * since the last call, which lets a test find how many there are. */
long ln_alloc_fail_after(long n);

#endif
