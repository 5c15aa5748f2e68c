/*
 * Data-parallel loops over an index range. Workers take chunks of `grain`
 * indices from a shared atomic counter, so uneven work balances itself;
 * the calling thread works too. With one thread (or a range of one chunk)
 * the chunks run inline, one after the other. A body is always called with
 * the same chunks, [k grain, min((k + 1) grain, n)), whatever the thread
 * count: which thread takes a chunk never changes what it computes, so a
 * loop's results are identical for every thread count as long as each
 * chunk's output depends on its own indices alone (no reduction across
 * chunks in thread order; tests/mesh/test_mc.c and tests/nn compare 1 to
 * 4 threads bit for bit).
 *
 *     static void body(void *ctx, size_t begin, size_t end, int thread) {...}
 *     ln_parallel_for(n_rows, 4, body, &ctx);
 *
 * The helper threads are kept between loops (ln_threads.c), so a small
 * loop costs a wake-up rather than a thread start; loops may run at once
 * from several threads and nest inside a body.
 *
 * The thread count is process-wide (--threads); the default is the number
 * of CPUs the process can use (ln_threads_default). Bodies must not allocate per index, and they may run
 * concurrently: they write only to disjoint outputs or per-thread scratch
 * indexed by `thread` (< ln_threads_get()).
 */
#ifndef LN_THREADS_H
#define LN_THREADS_H

#include <stddef.h>

/* The CPUs this process can use (at least 1): the online CPUs, fewer when
 * its affinity mask (taskset, a container's cpuset) or its cgroup's CPU
 * quota (Linux cgroup v2, /sys/fs/cgroup/cpu.max) allows fewer. Counted
 * once per process. */
int ln_threads_default(void);
/* The same count, reading the quota from cpu_max (NULL: no quota). */
int ln_threads_count_cpus(const char *cpu_max);
/* Sets the thread count for later loops; n <= 0 restores the default. */
void ln_threads_set(int n);
int ln_threads_get(void);

typedef void (*ln_parallel_fn)(void *ctx, size_t begin, size_t end, int thread);

void ln_parallel_for(size_t n, size_t grain, ln_parallel_fn fn, void *ctx);
/* The same with at most `threads` threads (< 1: ln_threads_get()), for a
 * body whose per-thread scratch was sized with that count: a --threads
 * change on another thread in between cannot hand it a thread index past
 * its scratch. */
void ln_parallel_for_at(size_t n, size_t grain, int threads, ln_parallel_fn fn, void *ctx);
/* The same chunks, with the range cut into one share per thread (share
 * s: chunks s C / T .. (s + 1) C / T - 1 of C on T threads): thread s
 * runs its own share's chunks in order first, then helps with what is
 * left of the others'. For a chain of loops over the same rows (a
 * network's layers): each thread then mostly reads what it wrote itself,
 * from its own caches, where the CPUs of a machine share no cache (the
 * two vCPUs of the machine the benchmarks ran on pass a cache line back
 * and forth in about 410 ns). A helper keeps its thread index from loop
 * to loop while it is free. Results are those of ln_parallel_for_at. */
void ln_parallel_for_split(size_t n, size_t grain, int threads, ln_parallel_fn fn, void *ctx);

#endif
