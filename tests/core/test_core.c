/* Unit tests of the core floor: errors, allocation checks, atomic files,
 * buffers, parallel loops and progress spans. */
#define _GNU_SOURCE /* sched_getaffinity */
#include "testutil.h"

#include <pthread.h>
#include <sched.h>
#ifdef __linux__
#include <sys/mman.h>
#endif
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_error.h"
#include "ln_file.h"
#include "ln_fs.h"
#include "ln_progress.h"
#include "ln_time.h"
#include "ln_threads.h"

static void test_error_set_and_prefix(void **state)
{
    struct ln_error err = {0};
    int rc = ln_error_set(&err, LN_EFORMAT, "bad %s\nsecond line", "header");
    assert_int_equal(rc, LN_EFORMAT);
    assert_string_equal(err.message, "bad header second line");
    ln_error_prefix(&err, "%s", "a.png");
    assert_string_equal(err.message, "a.png: bad header second line");
    assert_string_equal(ln_status_name(LN_ETOOBIG), "ETOOBIG");
    assert_int_equal(ln_status_http(LN_ETOOBIG), 413);
    assert_int_equal(ln_status_http(LN_EFORMAT), 415);
    assert_int_equal(ln_status_http(LN_EUNUSABLE), 422);
    assert_true(ln_status_is_input_error(LN_EFORMAT));
    assert_false(ln_status_is_input_error(LN_ENOMEM));
    assert_int_equal(ln_error_set(NULL, LN_EIO, "x"), LN_EIO);
}

static void test_size_mul_overflow(void **state)
{
    size_t out;
    assert_int_equal(ln_size_mul(3, 4, &out), 0);
    assert_int_equal(out, 12);
    assert_int_equal(ln_size_mul(SIZE_MAX / 2, 3, &out), -1);
    assert_int_equal(ln_size_mul3(100000, 100000, 100000, &out), 0);
    assert_int_equal(ln_size_mul3(SIZE_MAX / 8, 4, 4, &out), -1);
    struct ln_error err = {0};
    assert_null(ln_alloc_array(SIZE_MAX / 2, 4, 0, "grid", &err));
    assert_int_equal(err.code, LN_ETOOBIG);
}

static void test_alloc_fault_injection(void **state)
{
    ln_alloc_fail_after(2);
    void *a = ln_malloc(16);
    void *b = ln_malloc(16);
    void *c = ln_malloc(16);
    assert_non_null(a);
    assert_null(b);
    assert_non_null(c);
    free(a);
    free(c);
    assert_int_equal(ln_alloc_fail_after(0), 3);
}

/* Huge-page buffers (ln_malloc_huge, LN_ALLOC_HUGE): zeroed when asked,
 * writable to the end, released by free(), failing like the others. */
static void test_alloc_huge(void **state)
{
    (void)state;
    struct ln_error err = {0};
    const size_t n = ((size_t)5 << 20) + 12345; /* two 2 MB pages and a ragged end */
    uint8_t *p = ln_alloc_array(n, 1, LN_ALLOC_HUGE | LN_ALLOC_ZERO, "buffer", &err);
    assert_non_null(p);
    for (size_t i = 0; i < n; i += 4093)
        assert_int_equal(p[i], 0);
    assert_int_equal(p[n - 1], 0);
    memset(p, 0xa5, n);
    assert_int_equal(p[n - 1], 0xa5);
    free(p);
    void *small = ln_malloc_huge(100); /* under a huge page: an ordinary buffer */
    assert_non_null(small);
    free(small);
    ln_alloc_fail_after(1);
    assert_null(ln_alloc_array(n, 1, LN_ALLOC_HUGE, "buffer", &err));
    assert_int_equal(err.code, LN_ENOMEM);
    assert_non_null(strstr(err.message, "buffer"));
    ln_alloc_fail_after(0);
}

#if defined(__linux__) && defined(MADV_HUGEPAGE)
/* Whether the mapping that holds p carries "hg" (madvise MADV_HUGEPAGE)
 * in /proc/self/smaps: 1 or 0; -1 where there is no such account. */
static int huge_advised(const void *p, size_t touched)
{
    struct ln_test_smaps s;
    if (ln_test_smaps(p, &s) < 0 || s.rss_kb < (long)(touched >> 10))
        return -1;
    printf("# a mapping: %ld kB resident, %ld kB on huge pages, flags%s\n", s.rss_kb,
           s.anon_huge_kb, s.vm_flags);
    int hg = 0; /* "hg" as a whole word of the list */
    for (const char *t = s.vm_flags; (t = strstr(t, "hg")) != NULL; t += 2)
        hg |= (t == s.vm_flags || t[-1] == ' ') && (t[2] == 0 || t[2] == ' ');
    return hg;
}
#endif

/* ln_malloc_huge asks Linux for huge pages: the mapping that holds the
 * buffer carries the "hg" flag in /proc/self/smaps, as a control buffer
 * the test advises itself does. Whether the kernel then gives 2 MB pages
 * is its choice (transparent huge pages' mode, free memory): printed, not
 * asserted. Skipped where there is no such account or the system ignores
 * the advice (not Linux, a kernel without transparent huge pages, an
 * emulator such as qemu-user). */
static void test_alloc_huge_advised(void **state)
{
    (void)state;
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    const size_t n = (size_t)6 << 20, huge = (size_t)2 << 20;
    void *control = NULL;
    assert_int_equal(posix_memalign(&control, huge, n), 0);
    const int advice = madvise(control, n, MADV_HUGEPAGE);
    memset(control, 0x33, n);
    const int control_hg = advice == 0 ? huge_advised(control, n) : -1;
    free(control);
    if (control_hg != 1) {
        printf("# skipped: the system keeps no account of the advice, or ignores it, here\n");
        skip();
    }
    uint8_t *p = ln_malloc_huge(n);
    assert_non_null(p);
    memset(p, 0x5a, n);
    const int hg = huge_advised(p, n);
    free(p);
    if (hg != 1)
        fail_msg("the control buffer's mapping is advised (\"hg\"), ln_malloc_huge's is not (%d)",
                 hg);
#else
    printf("# skipped: huge pages are asked for on Linux only\n");
    skip();
#endif
}

static int count_entries(const char *dir)
{
    struct ln_dir *d;
    struct ln_dir_entry e;
    int n = 0;
    assert_int_equal(ln_dir_open(&d, dir, NULL), 0);
    while (ln_dir_next(d, &e, NULL) > 0)
        if (e.name[0] != '.')
            n++;
    ln_dir_close(d);
    return n;
}

static void test_atomic_write_replaces(void **state)
{
    const char *dir = ln_test_tmpdir("atomic_write");
    char *path = ln_test_path(dir, "file.txt");
    struct ln_error err = {0};
    assert_int_equal(ln_file_write_atomic(path, "first", 5, &err), 0);
    assert_int_equal(ln_file_write_atomic(path, "second!", 7, &err), 0);
    uint8_t *data;
    size_t len;
    assert_int_equal(ln_file_read(path, 100, &data, &len, &err), 0);
    assert_int_equal(len, 7);
    assert_memory_equal(data, "second!", 7);
    free(data);
    assert_int_equal(count_entries(dir), 1); /* no temporary left behind */
    assert_int_equal(ln_file_read(path, 3, &data, &len, &err), LN_ETOOBIG);
    char *missing = ln_test_path(dir, "missing");
    assert_int_equal(ln_file_read(missing, 100, &data, &len, &err), LN_ENOTFOUND);
    /* A write into a folder that does not exist fails and leaves nothing. */
    char *bad = ln_test_path(dir, "no/such/file");
    assert_int_equal(ln_file_write_atomic(bad, "x", 1, &err), LN_EIO);
    assert_int_equal(count_entries(dir), 1);
    free(path);
    free(missing);
    free(bad);
}

static void test_buf_grows_and_fails_sticky(void **state)
{
    struct ln_buf b = {0};
    for (int i = 0; i < 1000; i++)
        ln_buf_printf(&b, "%d,", i);
    assert_false(b.failed);
    assert_memory_equal(b.data, "0,1,2,", 6);
    assert_memory_equal(b.data + b.len - 4, "999,", 4);
    ln_buf_free(&b);
    ln_buf_u32le(&b, 0x01020304);
    assert_int_equal(b.data[0], 4);
    assert_int_equal(b.data[3], 1);
    ln_alloc_fail_after(1);
    ln_buf_append(&b, "x", 100000);
    assert_true(b.failed);
    ln_buf_append(&b, "y", 1);
    assert_int_equal(b.len, 4);
    ln_alloc_fail_after(0);
    ln_buf_free(&b);
}

struct sum_ctx {
    atomic_long sum;
    int *hits;
};

static void sum_body(void *p, size_t begin, size_t end, int thread)
{
    struct sum_ctx *c = p;
    long s = 0;
    for (size_t i = begin; i < end; i++) {
        s += (long)i;
        c->hits[i]++;
    }
    atomic_fetch_add(&c->sum, s);
}

static void test_parallel_for_covers_range_once(void **state)
{
    for (int threads = 1; threads <= 4; threads++) {
        ln_threads_set(threads);
        struct sum_ctx c;
        atomic_init(&c.sum, 0);
        c.hits = calloc(10007, sizeof(int));
        ln_parallel_for(10007, 13, sum_body, &c);
        assert_int_equal(atomic_load(&c.sum), 10006L * 10007L / 2);
        for (int i = 0; i < 10007; i++)
            assert_int_equal(c.hits[i], 1);
        free(c.hits);
    }
    ln_threads_set(0);
}

/* ln_parallel_for_split: the same chunks as ln_parallel_for, each once,
 * thread indices below the count, and each thread taking any one share's
 * chunks in order. With every thread's first chunk held until all have
 * come (so that none can finish its share and help with another's
 * first), thread t's first chunk is the first of share t. */
#define SPLIT_N 10007
#define SPLIT_GRAIN 13
#define SPLIT_CHUNKS ((SPLIT_N + SPLIT_GRAIN - 1) / SPLIT_GRAIN)

struct split_ctx {
    int threads, hold;
    atomic_int bad, started;
    int hits[SPLIT_N];
    /* chunks per thread, in the order each thread ran them */
    size_t order[4][SPLIT_CHUNKS];
    int n_order[4];
};

static void split_body(void *p, size_t begin, size_t end, int thread)
{
    struct split_ctx *c = p;
    const size_t want_end = begin + SPLIT_GRAIN < SPLIT_N ? begin + SPLIT_GRAIN : SPLIT_N;
    if (thread < 0 || thread >= c->threads || begin % SPLIT_GRAIN != 0 || end != want_end) {
        atomic_store(&c->bad, 1);
        return;
    }
    if (c->hold && c->n_order[thread] == 0) {
        atomic_fetch_add(&c->started, 1);
        const double until = ln_time_now() + 10.0;
        while (atomic_load(&c->started) < c->threads) {
            if (ln_time_now() > until) {
                atomic_store(&c->bad, 2);
                break;
            }
            sched_yield();
        }
    }
    for (size_t i = begin; i < end; i++)
        c->hits[i]++;
    c->order[thread][c->n_order[thread]++] = begin / SPLIT_GRAIN;
}

static void test_parallel_for_split(void **state)
{
    (void)state;
    struct split_ctx *c = malloc(sizeof *c);
    for (int run = 0; run < 8; run++) {
        const int threads = 1 + run % 4;
        memset(c, 0, sizeof *c);
        c->threads = threads;
        c->hold = run >= 4;
        ln_parallel_for_split(SPLIT_N, SPLIT_GRAIN, threads, split_body, c);
        assert_int_equal(atomic_load(&c->bad), 0);
        for (int i = 0; i < SPLIT_N; i++)
            assert_int_equal(c->hits[i], 1);
        for (int t = 0; t < threads && c->hold; t++) {
            assert_true(c->n_order[t] > 0);
            assert_int_equal(c->order[t][0], (size_t)t * SPLIT_CHUNKS / threads);
        }
        for (int t = 0; t < threads; t++) {
            size_t last[4] = {0, 0, 0, 0};
            int seen[4] = {0, 0, 0, 0};
            for (int k = 0; k < c->n_order[t]; k++) {
                const size_t ch = c->order[t][k];
                int share = 0;
                while (share + 1 < threads && ch >= (size_t)(share + 1) * SPLIT_CHUNKS / threads)
                    share++;
                if (seen[share])
                    assert_true(ch > last[share]);
                seen[share] = 1;
                last[share] = ch;
            }
        }
    }
    free(c);
}

/* Loops from several threads at once, each with its own thread count and
 * loops nested in its body, share the kept helpers: every index is done
 * once, every body sees a thread index below its loop's count, and a
 * thread index is never in two bodies of the same loop at once; every
 * other round splits its outer loop (ln_parallel_for_split). */
struct nest_ctx {
    int threads;
    atomic_int bad;
    atomic_int busy[8]; /* bodies running per thread index */
    int *hits;          /* outer index * 7 + inner index */
};

struct inner_ctx {
    struct nest_ctx *c;
    size_t outer;
};

static void inner_body(void *p, size_t begin, size_t end, int thread)
{
    struct inner_ctx *ic = p;
    if (thread < 0 || thread >= 2)
        atomic_store(&ic->c->bad, 1);
    for (size_t i = begin; i < end; i++)
        ic->c->hits[ic->outer * 7 + i]++;
}

static void outer_body(void *p, size_t begin, size_t end, int thread)
{
    struct nest_ctx *c = p;
    if (thread < 0 || thread >= c->threads || atomic_fetch_add(&c->busy[thread], 1) != 0)
        atomic_store(&c->bad, 1);
    for (size_t i = begin; i < end; i++) {
        struct inner_ctx ic = {c, i};
        ln_parallel_for_at(7, 1, 2, inner_body, &ic);
    }
    atomic_fetch_sub(&c->busy[thread], 1);
}

static void *nest_caller(void *p)
{
    struct nest_ctx *c = p;
    for (int round = 0; round < 50; round++) {
        if (round % 2)
            ln_parallel_for_split(97, 3, c->threads, outer_body, c);
        else
            ln_parallel_for_at(97, 3, c->threads, outer_body, c);
    }
    return NULL;
}

static void test_parallel_for_concurrent_and_nested(void **state)
{
    (void)state;
    enum { N_CALLERS = 4 };
    struct nest_ctx c[N_CALLERS];
    pthread_t t[N_CALLERS];
    for (int k = 0; k < N_CALLERS; k++) {
        memset(&c[k], 0, sizeof c[k]);
        c[k].threads = 2 + 2 * k; /* 2, 4, 6, 8 */
        c[k].hits = calloc(97 * 7, sizeof(int));
        assert_int_equal(pthread_create(&t[k], NULL, nest_caller, &c[k]), 0);
    }
    for (int k = 0; k < N_CALLERS; k++) {
        pthread_join(t[k], NULL);
        assert_int_equal(atomic_load(&c[k].bad), 0);
        for (int i = 0; i < 97 * 7; i++)
            assert_int_equal(c[k].hits[i], 50);
        free(c[k].hits);
    }
}

struct seen {
    double last;
    char stage[32];
};

static void record(void *user, const char *stage, double f)
{
    struct seen *s = user;
    s->last = f;
    snprintf(s->stage, sizeof s->stage, "%s", stage);
}

static void ln__write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* The default thread count follows the affinity mask and a cgroup quota. */
static void test_cpu_count_limits(void **state)
{
    (void)state;
    int all = ln_threads_count_cpus(NULL);
    assert_true(all >= 1);
    char p[4096];
    snprintf(p, sizeof p, "%s/cpu.max", ln_test_tmpdir("core_cpu_max"));
    ln__write_file(p, "max 100000\n");
    assert_int_equal(ln_threads_count_cpus(p), all);
    ln__write_file(p, "50000 100000\n"); /* half a CPU: one thread */
    assert_int_equal(ln_threads_count_cpus(p), 1);
    ln__write_file(p, "150000 100000\n");
    assert_int_equal(ln_threads_count_cpus(p), all < 2 ? all : 2);
    ln__write_file(p, "garbage");
    assert_int_equal(ln_threads_count_cpus(p), all);
    assert_int_equal(ln_threads_count_cpus("/nonexistent/cpu.max"), all);
#ifdef CPU_COUNT
    /* Pinned to one CPU (as `taskset -c 0` does): one thread. */
    cpu_set_t old, one;
    assert_int_equal(sched_getaffinity(0, sizeof old, &old), 0);
    CPU_ZERO(&one);
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &old)) {
            CPU_SET(c, &one);
            break;
        }
    assert_int_equal(sched_setaffinity(0, sizeof one, &one), 0);
    int pinned = ln_threads_count_cpus(NULL);
    assert_int_equal(sched_setaffinity(0, sizeof old, &old), 0);
    assert_int_equal(pinned, 1);
#endif
}

static void test_progress_spans_nest(void **state)
{
    struct seen s = {0};
    atomic_int cancel = 0;
    struct ln_progress p = {.report = record, .user = &s, .cancel = &cancel};
    ln_progress_report(&p, "a", 0.5);
    assert_near(s.last, 0.5, 1e-12);
    struct ln_progress q = ln_progress_span(&p, 0.2, 0.6);
    ln_progress_report(&q, "b", 0.5);
    assert_near(s.last, 0.4, 1e-12);
    assert_string_equal(s.stage, "b");
    struct ln_progress r = ln_progress_span(&q, 0.5, 1.0);
    ln_progress_report(&r, "c", 1.0);
    assert_near(s.last, 0.6, 1e-12);
    ln_progress_report(&r, "c", 0.0);
    assert_near(s.last, 0.4, 1e-12);
    assert_false(ln_progress_canceled(&r));
    cancel = 1;
    assert_true(ln_progress_canceled(&r));
    ln_progress_report(NULL, "x", 0.3);
    assert_false(ln_progress_canceled(NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_set_and_prefix),
        cmocka_unit_test(test_size_mul_overflow),
        cmocka_unit_test(test_alloc_fault_injection),
        cmocka_unit_test(test_alloc_huge),
        cmocka_unit_test(test_alloc_huge_advised),
        cmocka_unit_test(test_atomic_write_replaces),
        cmocka_unit_test(test_buf_grows_and_fails_sticky),
        cmocka_unit_test(test_parallel_for_covers_range_once),
        cmocka_unit_test(test_parallel_for_split),
        cmocka_unit_test(test_parallel_for_concurrent_and_nested),
        cmocka_unit_test(test_progress_spans_nest),
        cmocka_unit_test(test_cpu_count_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
