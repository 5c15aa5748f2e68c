/*
 * ln_parallel_for with short-lived pthreads: loops here are coarse (grid
 * slabs, image rows, mesh chunks), so the ~50 microseconds of thread start
 * are noise, and no pool state has to be shared with the server's workers.
 */
#include "ln_threads.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>

#include "ln_sys.h"

#define LN__MAX_THREADS 256

static atomic_int ln__threads;

/* The CPUs a cgroup v2 quota allows (cpu.max "QUOTA PERIOD", rounded up),
 * or 0 when there is no quota or it cannot be read. */
static long ln__cgroup_cpus(const char *cpu_max)
{
    FILE *f = fopen(cpu_max, "r");
    if (!f)
        return 0;
    char quota[32] = "";
    long long period = 0;
    int got = fscanf(f, "%31s %lld", quota, &period);
    fclose(f);
    if (got != 2 || period <= 0 || quota[0] < '0' || quota[0] > '9')
        return 0; /* "max": no quota */
    long long q = 0;
    if (sscanf(quota, "%lld", &q) != 1 || q <= 0)
        return 0;
    long long n = (q + period - 1) / period;
    return n > LN__MAX_THREADS ? LN__MAX_THREADS : (long)n;
}

int ln_threads_count_cpus(const char *cpu_max)
{
    /* Online CPUs and the affinity mask: the platform layer. */
    long n = ln_sys_cpu_count();
    long quota = cpu_max ? ln__cgroup_cpus(cpu_max) : 0;
    if (quota > 0 && quota < n)
        n = quota;
    return n < 1 ? 1 : (int)n;
}

/* The default, counted once: ln_threads_get() falls back to it on every
 * parallel loop, which must not read /sys each time. */
static atomic_int ln__default;

int ln_threads_default(void)
{
    int n = atomic_load(&ln__default);
    if (n > 0)
        return n;
    long c = ln_threads_count_cpus("/sys/fs/cgroup/cpu.max");
    n = (int)(c < 1 ? 1 : c > LN__MAX_THREADS ? LN__MAX_THREADS : c);
    atomic_store(&ln__default, n);
    return n;
}

void ln_threads_set(int n)
{
    atomic_store(&ln__threads, n > LN__MAX_THREADS ? LN__MAX_THREADS : (n > 0 ? n : 0));
}

int ln_threads_get(void)
{
    int n = atomic_load(&ln__threads);
    return n > 0 ? n : ln_threads_default();
}

struct ln__pf {
    size_t n, grain;
    atomic_size_t next;
    ln_parallel_fn fn;
    void *ctx;
    /* The caller runs in the background (a job's worker): its helpers do
     * too. Linux threads inherit the scheduling class anyway; Windows
     * threads do not inherit a priority. */
    int background;
};

struct ln__pf_arg {
    struct ln__pf *pf;
    int thread;
};

static void *ln__pf_run(void *p)
{
    struct ln__pf_arg *a = p;
    struct ln__pf *pf = a->pf;
    if (pf->background && a->thread > 0)
        ln_thread_set_background(NULL);
    for (;;) {
        size_t begin = atomic_fetch_add(&pf->next, pf->grain);
        if (begin >= pf->n)
            break;
        size_t end = begin + pf->grain < pf->n ? begin + pf->grain : pf->n;
        pf->fn(pf->ctx, begin, end, a->thread);
    }
    return NULL;
}

void ln_parallel_for(size_t n, size_t grain, ln_parallel_fn fn, void *ctx)
{
    ln_parallel_for_at(n, grain, 0, fn, ctx);
}

void ln_parallel_for_at(size_t n, size_t grain, int threads, ln_parallel_fn fn, void *ctx)
{
    if (n == 0)
        return;
    if (grain == 0)
        grain = 1;
    size_t chunks = (n + grain - 1) / grain;
    int nt = threads > 0 ? threads : ln_threads_get();
    if (nt > LN__MAX_THREADS)
        nt = LN__MAX_THREADS;
    if ((size_t)nt > chunks)
        nt = (int)chunks;
    if (nt <= 1) {
        /* The same chunks as with threads: a body sees the same pieces
         * whatever the thread count, so results cannot depend on it. */
        for (size_t begin = 0; begin < n; begin += grain)
            fn(ctx, begin, begin + grain < n ? begin + grain : n, 0);
        return;
    }
    struct ln__pf pf = {
        .n = n, .grain = grain, .fn = fn, .ctx = ctx, .background = ln_thread_is_background()};
    atomic_init(&pf.next, 0);
    pthread_t tids[LN__MAX_THREADS];
    struct ln__pf_arg args[LN__MAX_THREADS];
    int started = 1;
    for (int t = 1; t < nt; t++) {
        args[t] = (struct ln__pf_arg){&pf, t};
        if (pthread_create(&tids[t], NULL, ln__pf_run, &args[t]) != 0)
            break; /* fewer threads; the remaining ones still finish the range */
        started++;
    }
    args[0] = (struct ln__pf_arg){&pf, 0};
    ln__pf_run(&args[0]);
    for (int t = 1; t < started; t++)
        pthread_join(tids[t], NULL);
}
