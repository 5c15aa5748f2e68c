/* Unit tests of the platform layer's system half (ln_sys.h, ln_time.h),
 * the same file on Linux and, cross-built, on Windows (under Wine: make
 * test-windows). Expectations come from outside the layer: time(), the
 * civil-calendar arithmetic below, sched_getaffinity, getenv, real
 * signals and console events. Needs only cmocka and the core floor. */
#ifndef _WIN32
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT */
#endif
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef _WIN32
#include <windows.h>
#else
#include <sched.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#include "ln_sys.h"
#include "ln_threads.h"
#include "ln_time.h"

static void sleep_s(double s)
{
    struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

/* cmocka's messages are formatted by the C runtime's printf: on Windows
 * msvcrt's, which knows no %zu or %lld, so sizes and times are printed
 * as doubles (exact below 2^53). */

/* ---- clocks ---- */

static void test_monotonic_clock_advances(void **state)
{
    double t0 = ln_time_now(), prev = t0;
    for (int i = 0; i < 200000; i++) {
        double t = ln_time_now();
        assert_true(t >= prev);
        prev = t;
    }
    double a = ln_time_now();
    sleep_s(0.05);
    double dt = ln_time_now() - a;
    /* At least the sleep (less a timer tick's rounding), and not absurdly
     * more on a busy machine. */
    if (dt < 0.045 || dt > 5.0)
        fail_msg("a 50 ms sleep measured %.6f s", dt);
}

static void test_wall_clock_is_time(void **state)
{
    time_t before = time(NULL);
    double w = ln_time_wall();
    time_t after = time(NULL);
    if (w < (double)before - 1.0 || w > (double)after + 1.0)
        fail_msg("ln_time_wall() = %.3f, time() = %.0f..%.0f", w, (double)before, (double)after);
    /* Sub-second resolution: two readings 20 ms apart differ. */
    double w0 = ln_time_wall();
    sleep_s(0.02);
    assert_true(ln_time_wall() - w0 > 0.01);
}

static void test_peak_rss_grows(void **state)
{
    size_t before = ln_time_peak_rss();
    assert_true(before > 0);
    size_t n = (size_t)256 << 20;
    unsigned char *big = malloc(n);
    assert_non_null(big);
    /* Touch every page so it is resident, not only reserved. */
    for (size_t i = 0; i < n; i += 4096)
        big[i] = (unsigned char)i;
    size_t after = ln_time_peak_rss();
    volatile unsigned char sink = big[n / 2];
    (void)sink;
    free(big);
    if (after < before + ((size_t)192 << 20))
        fail_msg("peak RSS %.0f -> %.0f bytes after touching 256 MiB", (double)before,
                 (double)after);
}

/* Days since 1970-01-01 -> proleptic Gregorian date, by the civil-calendar
 * algorithm (eras of 400 years), independent of any C library. */
static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = (int)(yoe + era * 400 + (*m <= 2));
}

static void check_utc(int64_t t)
{
    struct tm tm;
    memset(&tm, 0, sizeof tm);
    if (ln_time_utc(t, &tm) != 0)
        fail_msg("ln_time_utc(%.0f) failed", (double)t);
    int y, m, d;
    int64_t days = t / 86400, secs = t % 86400;
    civil_from_days(days, &y, &m, &d);
    if (tm.tm_year + 1900 != y || tm.tm_mon + 1 != m || tm.tm_mday != d ||
        tm.tm_hour != (int)(secs / 3600) || tm.tm_min != (int)(secs / 60 % 60) ||
        tm.tm_sec != (int)(secs % 60))
        fail_msg("%.0f: got %04d-%02d-%02dT%02d:%02d:%02d, expected %04d-%02d-%02dT%02d:%02d:%02d",
                 (double)t, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
                 tm.tm_sec, y, m, d, (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
    int64_t back = -1;
    struct tm in = {0};
    in.tm_year = y - 1900;
    in.tm_mon = m - 1;
    in.tm_mday = d;
    in.tm_hour = (int)(secs / 3600);
    in.tm_min = (int)(secs / 60 % 60);
    in.tm_sec = (int)(secs % 60);
    if (ln_time_from_utc(&in, &back) != 0 || back != t)
        fail_msg("ln_time_from_utc of %.0f gave %.0f", (double)t, (double)back);
}

static void test_utc_round_trip(void **state)
{
    struct tm tm;
    /* Fixed points, written out. */
    assert_int_equal(ln_time_utc(0, &tm), 0);
    assert_int_equal(tm.tm_year, 70);
    assert_int_equal(tm.tm_yday, 0);
    assert_int_equal(ln_time_utc(2147483647, &tm), 0); /* the 32-bit time_t's last second */
    assert_int_equal(tm.tm_year + 1900, 2038);
    assert_int_equal(tm.tm_mon + 1, 1);
    assert_int_equal(tm.tm_mday, 19);
    assert_int_equal(tm.tm_hour, 3);
    assert_int_equal(tm.tm_min, 14);
    assert_int_equal(tm.tm_sec, 7);
    assert_int_equal(ln_time_utc(INT64_C(4107542400), &tm), 0); /* 2100 is no leap year */
    assert_int_equal(tm.tm_year + 1900, 2100);
    assert_int_equal(tm.tm_mon + 1, 3);
    assert_int_equal(tm.tm_mday, 1);
    check_utc(0);
    check_utc(951782400); /* 2000-02-29 */
    check_utc(2147483647);
    check_utc(2147483648); /* one second past 32 bits */
    check_utc(INT64_C(4107542399));
    check_utc(INT64_C(32503679999)); /* 2999-12-31T23:59:59, Windows' _gmtime64 range */
    /* And 20000 pseudo-random seconds from 1970 to 2999. */
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        check_utc((int64_t)(x % UINT64_C(32503680000)));
    }
}

/* ---- CPUs, randomness, environment ---- */

static void test_cpu_count(void **state)
{
    int n = ln_sys_cpu_count();
    assert_true(n >= 1);
    /* Without a quota file, the thread count is the layer's count. */
    assert_int_equal(ln_threads_count_cpus(NULL), n);
#ifdef _WIN32
    /* Windows names the machine's processors for every program. */
    const char *env = getenv("NUMBER_OF_PROCESSORS");
    if (env && atoi(env) > 0)
        assert_true(n <= atoi(env));
#else
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    long expect = online;
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0 &&
        CPU_COUNT(&set) < expect)
        expect = CPU_COUNT(&set);
    assert_int_equal(n, expect);
    /* A smaller mask is seen at once (taskset, a cpuset). */
    if (CPU_COUNT(&set) > 1) {
        cpu_set_t one;
        CPU_ZERO(&one);
        for (int c = 0; c < CPU_SETSIZE; c++)
            if (CPU_ISSET(c, &set)) {
                CPU_SET(c, &one);
                break;
            }
        assert_int_equal(sched_setaffinity(0, sizeof one, &one), 0);
        int limited = ln_sys_cpu_count();
        assert_int_equal(sched_setaffinity(0, sizeof set, &set), 0);
        assert_int_equal(limited, 1);
    }
#endif
}

static void test_random_bytes(void **state)
{
    unsigned char a[32], b[32];
    struct ln_error err = {0};
    assert_int_equal(ln_random_bytes(a, sizeof a, &err), 0);
    assert_int_equal(ln_random_bytes(b, sizeof b, &err), 0);
    assert_memory_not_equal(a, b, sizeof a);
    /* 64 KiB of it look random: half the bits set, within 10 standard
     * deviations (sd = sqrt(n / 4) = 362 for n = 524288 bits). */
    size_t n = 65536;
    unsigned char *buf = calloc(n, 1);
    assert_int_equal(ln_random_bytes(buf, n, &err), 0);
    long ones = 0;
    for (size_t i = 0; i < n; i++)
        for (unsigned v = buf[i]; v; v &= v - 1)
            ones++;
    free(buf);
    if (ones < 262144 - 3620 || ones > 262144 + 3620)
        fail_msg("%ld of 524288 bits set", ones);
    assert_int_equal(ln_random_bytes(a, 0, &err), 0);
}

static void test_env_set(void **state)
{
    assert_int_equal(ln_env_set("LN_TEST_SYS_VAR", "some value"), 0);
    assert_non_null(getenv("LN_TEST_SYS_VAR"));
    assert_string_equal(getenv("LN_TEST_SYS_VAR"), "some value");
    assert_int_equal(ln_env_set("LN_TEST_SYS_VAR", "another"), 0);
    assert_string_equal(getenv("LN_TEST_SYS_VAR"), "another");
    assert_int_equal(ln_env_set("LN_TEST_SYS_VAR", NULL), 0);
    assert_null(getenv("LN_TEST_SYS_VAR"));
    assert_int_equal(ln_env_set("LN_TEST=BAD", "x"), LN_EINVAL);
    assert_int_equal(ln_env_set("", "x"), LN_EINVAL);
}

static void test_wipe_and_strerror(void **state)
{
    char secret[33];
    memset(secret, 'k', sizeof secret);
    ln_wipe(secret, sizeof secret);
    for (size_t i = 0; i < sizeof secret; i++)
        assert_int_equal(secret[i], 0);
    char msg[160];
#ifdef _WIN32
    long code = ERROR_FILE_NOT_FOUND;
#else
    long code = ENOENT;
#endif
    const char *s = ln_sys_strerror(code, msg, sizeof msg);
    assert_ptr_equal(s, msg);
    print_message("the system's text for 'file not found': %s\n", msg);
    assert_true(strlen(msg) > 5);
    assert_null(strchr(msg, '\n'));
#ifdef _WIN32
    /* A port taken says so in Linux's words (WSAEADDRINUSE). */
    ln_sys_strerror(10048, msg, sizeof msg);
    assert_string_equal(msg, "address already in use (Winsock error 10048)");
#endif
}

/* ---- threads: background priority, deadlines ---- */

struct bg_probe {
    int set_rc, is_bg, helpers_bg, lowered;
    int nice_before, nice_after, nice_again, helpers_nice_ok;
};

#ifdef __linux__
static int thread_nice(void)
{
    return getpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid));
}
#endif

static void bg_body(void *ctx, size_t begin, size_t end, int thread)
{
    struct bg_probe *p = ctx;
    if (thread > 0 && !ln_thread_is_background())
        __atomic_store_n(&p->helpers_bg, 0, __ATOMIC_RELAXED);
#ifdef __linux__
    /* the loop's threads sit at the caller's level, not 10 below it again */
    if (thread_nice() != p->nice_after)
        __atomic_store_n(&p->helpers_nice_ok, 0, __ATOMIC_RELAXED);
#endif
    sleep_s(0.002);
}

static void *bg_thread(void *arg)
{
    struct bg_probe *p = arg;
    struct ln_error err = {0};
#ifdef __linux__
    p->nice_before = thread_nice();
#endif
    p->set_rc = ln_thread_set_background(&err);
    if (p->set_rc < 0)
        print_message("%s\n", err.message);
    p->is_bg = ln_thread_is_background();
#if defined(__linux__)
    /* 10 steps of nice below where the thread was, at most 19 */
    p->nice_after = thread_nice();
    const int want = p->nice_before + 10 > 19 ? 19 : p->nice_before + 10;
    p->lowered = p->nice_after == want;
    if (!p->lowered)
        print_message("nice %d before, %d after, expected %d\n", p->nice_before, p->nice_after,
                      want);
    /* a second call on the same thread stays at the same level */
    ln_thread_set_background(&err);
    p->nice_again = thread_nice();
#elif defined(_WIN32)
    /* Background mode reports the lowest priority it runs at. */
    int prio = GetThreadPriority(GetCurrentThread());
    p->lowered = prio != THREAD_PRIORITY_ERROR_RETURN && prio < THREAD_PRIORITY_NORMAL;
#else
    p->lowered = 1;
#endif
    /* The threads of a loop started here run in the background too. */
    p->helpers_bg = 1;
    p->helpers_nice_ok = 1;
    ln_parallel_for_at(64, 1, 4, bg_body, p);
    return NULL;
}

static void test_background_priority(void **state)
{
    struct bg_probe p = {0};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, bg_thread, &p), 0);
    pthread_join(t, NULL);
    assert_int_equal(p.set_rc, 0);
    assert_int_equal(p.is_bg, 1);
    assert_int_equal(p.lowered, 1);
    assert_int_equal(p.helpers_bg, 1);
#ifdef __linux__
    assert_int_equal(p.nice_again, p.nice_after);
    assert_int_equal(p.helpers_nice_ok, 1);
#endif
    assert_int_equal(ln_thread_is_background(), 0); /* this thread untouched */
}

struct waker {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int flag;
    double delay;
};

static void *waker_main(void *arg)
{
    struct waker *w = arg;
    sleep_s(w->delay);
    pthread_mutex_lock(&w->mu);
    w->flag = 1;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

static void test_cond_deadline(void **state)
{
    struct waker w = {.delay = 0.05};
    pthread_mutex_init(&w.mu, NULL);
    assert_int_equal(ln_cond_init(&w.cv), 0);

    /* Nobody signals: the wait ends at the deadline, not before, not long after. */
    pthread_mutex_lock(&w.mu);
    double t0 = ln_time_now();
    int timed_out = 0;
    while (!timed_out)
        timed_out = ln_cond_wait_until(&w.cv, &w.mu, t0 + 0.2);
    double dt = ln_time_now() - t0;
    pthread_mutex_unlock(&w.mu);
    if (dt < 0.195 || dt > 3.0)
        fail_msg("a 200 ms deadline took %.4f s", dt);

    /* A deadline in the past returns at once. */
    pthread_mutex_lock(&w.mu);
    assert_int_equal(ln_cond_wait_until(&w.cv, &w.mu, ln_time_now() - 1.0), 1);
    pthread_mutex_unlock(&w.mu);

    /* A signal wakes the waiter long before a far deadline. */
    pthread_t t;
    t0 = ln_time_now();
    assert_int_equal(pthread_create(&t, NULL, waker_main, &w), 0);
    pthread_mutex_lock(&w.mu);
    while (!w.flag)
        if (ln_cond_wait_until(&w.cv, &w.mu, t0 + 30.0))
            break;
    int woke = w.flag;
    pthread_mutex_unlock(&w.mu);
    dt = ln_time_now() - t0;
    pthread_join(t, NULL);
    assert_int_equal(woke, 1);
    if (dt > 5.0)
        fail_msg("the signalled wait took %.3f s", dt);
    pthread_cond_destroy(&w.cv);
    pthread_mutex_destroy(&w.mu);
}

/* ---- stop requests ---- */

/* Sends a stop from another thread after a short delay; a watchdog asks
 * with its own reason after 10 s, so that a stop that never arrives fails
 * the test instead of hanging it. */
struct stopper {
    double delay;
    int how; /* 0: ln_stop_request, 1: the system's own event */
    int sent;
    long error; /* the system's error code when sending failed */
    int done;   /* set once ln_stop_wait has returned */
};

static void *stopper_main(void *arg)
{
    struct stopper *s = arg;
    sleep_s(s->delay);
    if (s->how == 0) {
        ln_stop_request("test request");
        s->sent = 1;
        return NULL;
    }
#ifdef _WIN32
    /* Ctrl+Break to every process of this console (the console's own
     * group, 0). Refused where the program has no console. */
    s->sent = GenerateConsoleCtrlEvent(CTRL_BREAK_EVENT, 0) ? 1 : -1;
    s->error = (long)GetLastError();
#else
    s->sent = kill(getpid(), SIGTERM) == 0 ? 1 : -1;
    s->error = errno;
#endif
    if (s->sent < 0) {
        ln_stop_request("not sent");
        return NULL;
    }
    for (int i = 0; i < 1000 && !__atomic_load_n(&s->done, __ATOMIC_ACQUIRE); i++)
        sleep_s(0.01);
    if (!__atomic_load_n(&s->done, __ATOMIC_ACQUIRE))
        ln_stop_request("no event arrived in 10 s");
    return NULL;
}

static void test_stop_request_wakes_waiter(void **state)
{
    struct ln_error err = {0};
    assert_int_equal(ln_stop_init(&err), 0);

    struct stopper s = {.delay = 0.05, .how = 0};
    pthread_t t;
    double t0 = ln_time_now();
    assert_int_equal(pthread_create(&t, NULL, stopper_main, &s), 0);
    const char *why = ln_stop_wait();
    pthread_join(t, NULL);
    assert_string_equal(why, "test request");
    assert_true(ln_time_now() - t0 < 5.0);
    ln_stop_done();
}

static void test_stop_by_system_event(void **state)
{
    struct ln_error err = {0};
    assert_int_equal(ln_stop_init(&err), 0);
    struct stopper s = {.delay = 0.05, .how = 1};
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, stopper_main, &s), 0);
    const char *why = ln_stop_wait();
    __atomic_store_n(&s.done, 1, __ATOMIC_RELEASE);
    pthread_join(t, NULL);
    if (s.sent < 0) {
        char msg[160];
        ln_sys_strerror(s.error, msg, sizeof msg);
#ifdef _WIN32
        /* Wine without a console window (ctest's pipes) refuses it. */
        print_message("GenerateConsoleCtrlEvent refused (%s): no console here, the "
                      "Ctrl+Break case is skipped\n",
                      msg);
        skip();
#else
        fail_msg("kill(SIGTERM) failed: %s", msg);
#endif
    }
#ifdef _WIN32
    assert_string_equal(why, "Ctrl+Break");
#else
    assert_string_equal(why, "SIGTERM");
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        /* First, while this process's peak is still its start-up size. */
        cmocka_unit_test(test_peak_rss_grows),
        cmocka_unit_test(test_monotonic_clock_advances),
        cmocka_unit_test(test_wall_clock_is_time),
        cmocka_unit_test(test_utc_round_trip),
        cmocka_unit_test(test_cpu_count),
        cmocka_unit_test(test_random_bytes),
        cmocka_unit_test(test_env_set),
        cmocka_unit_test(test_wipe_and_strerror),
        cmocka_unit_test(test_background_priority),
        cmocka_unit_test(test_cond_deadline),
        cmocka_unit_test(test_stop_request_wakes_waiter),
        cmocka_unit_test(test_stop_by_system_event),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
