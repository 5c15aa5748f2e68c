/*
 * ln_parallel_for on pools of kept helper threads (see the DESIGN comment
 * at struct ln__pf).
 */
#include "ln_threads.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

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

/* DESIGN: helper threads are kept, not started per loop. A loop hands
 * itself to a pool (struct ln__pool): it is put on the pool's list of open
 * loops and idle helpers are woken; a helper joins the first open loop
 * that still has a free thread index (1 .. threads - 1, taken under the
 * pool's lock (ln__pf_index), so indices stay below the count the body's
 * per-thread scratch was sized for), takes chunks from the loop's atomic
 * counter like the caller, and leaves when the range is used up. The
 * caller works as thread 0 and does every chunk no helper took, so a loop
 * finishes even when no helper comes (all busy, none could be started,
 * or a loop nested in a body); when its range is used up it takes the
 * loop off the list under the lock, after which no helper can join, and
 * waits until the helpers that joined have left: the loop lives on the
 * caller's stack. Threads started per loop were cheap on Linux but not
 * under Wine, where the matting test (hundreds of an ONNX network's small
 * loops per picture) took 52 s with them and 1.2 s with kept helpers.
 *
 * Two pools: one for callers in the background (a job's worker; their
 * helpers are put in the background once, when started), one for the
 * rest, so a helper's priority is always its callers'. A pool grows to the
 * most helpers that its concurrent loops have wanted at once, at most
 * LN__MAX_THREADS - 1; helpers are detached and sleep on a condition
 * variable between loops until the process ends.
 *
 * A split loop (ln_parallel_for_split) has a counter per share instead of
 * one: a thread takes chunks from its own share's counter, then from the
 * others' in turn. For the shares to follow the CPUs, a helper prefers the
 * thread index of its own number (the order the pool started it in):
 * with as many helpers as a loop wants, as in a chain of the network's
 * loops, each keeps its index, and the scheduler, which leaves busy
 * threads where they run, keeps each on its CPU. */
struct ln__pf {
    size_t n, grain;
    atomic_size_t next; /* the next chunk's first index; split loops: chunks taken */
    ln_parallel_fn fn;
    void *ctx;
    /* ln_parallel_for_split: the shares' next chunks (NULL otherwise) */
    atomic_size_t *share_next;
    size_t chunks;
    int shares;
    /* Under the pool's lock: helpers wanted, joined so far, still in, and
     * the thread indices taken (bit i: index i). */
    int want, joined, active;
    uint64_t taken[LN__MAX_THREADS / 64];
    struct ln__pf *link; /* the pool's next open loop */
};

struct ln__pool {
    pthread_mutex_t lock;
    pthread_cond_t work; /* helpers wait here for an open loop */
    pthread_cond_t left; /* callers wait here for their helpers */
    struct ln__pf *open;
    int helpers, idle;
    int background;
};

static struct ln__pool ln__pools[2] = {
    {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0, 0},
    {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, 0, 0, 1},
};

/* Chunk indices of share s of a split loop: [s chunks / shares, ...). */
static size_t ln__share_first(const struct ln__pf *pf, int s)
{
    return (size_t)s * pf->chunks / (size_t)pf->shares;
}

static void ln__pf_chunk(struct ln__pf *pf, size_t c, int thread)
{
    const size_t begin = c * pf->grain;
    pf->fn(pf->ctx, begin, begin + pf->grain < pf->n ? begin + pf->grain : pf->n, thread);
}

/* Chunks of pf until its range is used up: a split loop's thread runs its
 * own share first, then what is left of the others', each from its next
 * chunk on. */
static void ln__pf_work(struct ln__pf *pf, int thread)
{
    if (pf->share_next) {
        for (int q = 0; q < pf->shares; q++) {
            const int s = (thread + q) % pf->shares;
            const size_t first = ln__share_first(pf, s), end = ln__share_first(pf, s + 1);
            for (;;) {
                const size_t c = first + atomic_fetch_add(&pf->share_next[s], 1);
                if (c >= end)
                    break;
                atomic_fetch_add(&pf->next, 1);
                ln__pf_chunk(pf, c, thread);
            }
        }
        return;
    }
    for (;;) {
        size_t begin = atomic_fetch_add(&pf->next, pf->grain);
        if (begin >= pf->n)
            break;
        size_t end = begin + pf->grain < pf->n ? begin + pf->grain : pf->n;
        pf->fn(pf->ctx, begin, end, thread);
    }
}

/* The first open loop with a thread index free, or NULL (lock held). */
static struct ln__pf *ln__pool_pick(struct ln__pool *pool)
{
    for (struct ln__pf *pf = pool->open; pf; pf = pf->link)
        if (pf->joined < pf->want && atomic_load(&pf->next) < (pf->share_next ? pf->chunks : pf->n))
            return pf;
    return NULL;
}

/* A thread index for helper `id` (1, 2, ... in the order the pool started
 * them) in pf: its own id while that is free and below the loop's thread
 * count, else the lowest free one (lock held). The same helper so takes
 * the same index loop after loop, and with it the same share of a split
 * loop: the rows it wrote in one loop are the rows it reads in the next. */
static int ln__pf_index(struct ln__pf *pf, int id)
{
    int t = id;
    if (t > pf->want || (pf->taken[t / 64] >> (t % 64) & 1u))
        for (t = 1; pf->taken[t / 64] >> (t % 64) & 1u; t++)
            ;
    pf->taken[t / 64] |= (uint64_t)1 << (t % 64);
    return t;
}

struct ln__helper {
    struct ln__pool *pool;
    int id;
};

static void *ln__pool_helper(void *arg)
{
    struct ln__helper h = *(struct ln__helper *)arg;
    free(arg);
    struct ln__pool *pool = h.pool;
    if (pool->background)
        ln_thread_set_background(NULL);
    /* Counted idle from its start (so that loops started meanwhile do not
     * start more), busy only while in a loop. */
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        struct ln__pf *pf;
        while (!(pf = ln__pool_pick(pool)))
            pthread_cond_wait(&pool->work, &pool->lock);
        pool->idle--;
        pf->joined++;
        const int thread = ln__pf_index(pf, h.id);
        pf->active++;
        pthread_mutex_unlock(&pool->lock);
        ln__pf_work(pf, thread);
        pthread_mutex_lock(&pool->lock);
        if (--pf->active == 0)
            pthread_cond_broadcast(&pool->left);
        pool->idle++;
    }
    return NULL;
}

void ln_parallel_for(size_t n, size_t grain, ln_parallel_fn fn, void *ctx)
{
    ln_parallel_for_at(n, grain, 0, fn, ctx);
}

static void ln__parallel_for(size_t n, size_t grain, int threads, int split, ln_parallel_fn fn,
                             void *ctx);

void ln_parallel_for_at(size_t n, size_t grain, int threads, ln_parallel_fn fn, void *ctx)
{
    ln__parallel_for(n, grain, threads, 0, fn, ctx);
}

void ln_parallel_for_split(size_t n, size_t grain, int threads, ln_parallel_fn fn, void *ctx)
{
    ln__parallel_for(n, grain, threads, 1, fn, ctx);
}

static void ln__parallel_for(size_t n, size_t grain, int threads, int split, ln_parallel_fn fn,
                             void *ctx)
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
    struct ln__pool *pool = &ln__pools[ln_thread_is_background() ? 1 : 0];
    struct ln__pf pf = {.n = n, .grain = grain, .fn = fn, .ctx = ctx, .want = nt - 1};
    atomic_init(&pf.next, 0);
    pf.taken[0] = 1; /* the caller's index 0 */
    atomic_size_t share_next[LN__MAX_THREADS];
    if (split) {
        for (int s = 0; s < nt; s++)
            atomic_init(&share_next[s], 0);
        pf.share_next = share_next;
        pf.chunks = chunks;
        pf.shares = nt;
    }
    pthread_mutex_lock(&pool->lock);
    pf.link = pool->open;
    pool->open = &pf;
    /* Enough helpers for this loop besides those already waiting; where
     * one cannot be started, the loop runs with fewer. */
    for (int more = pf.want - pool->idle; more > 0 && pool->helpers < LN__MAX_THREADS - 1; more--) {
        pthread_t tid;
        struct ln__helper *h = malloc(sizeof *h);
        if (!h)
            break;
        h->pool = pool;
        h->id = pool->helpers + 1;
        if (pthread_create(&tid, NULL, ln__pool_helper, h) != 0) {
            free(h);
            break;
        }
        pthread_detach(tid);
        pool->helpers++;
        pool->idle++;
    }
    if (pool->idle > 0)
        pthread_cond_broadcast(&pool->work);
    pthread_mutex_unlock(&pool->lock);
    ln__pf_work(&pf, 0);
    pthread_mutex_lock(&pool->lock);
    struct ln__pf **at = &pool->open;
    while (*at != &pf)
        at = &(*at)->link;
    *at = pf.link;
    while (pf.active > 0)
        pthread_cond_wait(&pool->left, &pool->lock);
    pthread_mutex_unlock(&pool->lock);
}
