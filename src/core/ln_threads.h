/*
 * Data-parallel loops over an index range. Workers take chunks of `grain`
 * indices from a shared atomic counter, so uneven work balances itself;
 * the calling thread works too. With one thread (or a range of one chunk)
 * the body runs inline.
 *
 *     static void body(void *ctx, size_t begin, size_t end, int thread) {...}
 *     ln_parallel_for(n_rows, 4, body, &ctx);
 *
 * The thread count is process-wide (--threads); the default is the number
 * of online CPUs. Bodies must not allocate per index, and they may run
 * concurrently: they write only to disjoint outputs or per-thread scratch
 * indexed by `thread` (< ln_threads_get()).
 */
#ifndef LN_THREADS_H
#define LN_THREADS_H

#include <stddef.h>

/* Number of online CPUs (at least 1). */
int ln_threads_default(void);
/* Sets the thread count for later loops; n <= 0 restores the default. */
void ln_threads_set(int n);
int ln_threads_get(void);

typedef void (*ln_parallel_fn)(void *ctx, size_t begin, size_t end, int thread);

void ln_parallel_for(size_t n, size_t grain, ln_parallel_fn fn, void *ctx);

#endif
