/*
 * The platform layer's system half on Linux and other POSIX systems
 * (ln_sys.h, ln_time.h): the calls the code made directly before the
 * Windows port, gathered here unchanged, so that Linux behaves exactly as
 * it did. The only file outside server/'s socket code that includes
 * <signal.h>, <sys/resource.h> or <sys/syscall.h>.
 */
#define _GNU_SOURCE /* sched_getaffinity, CPU_COUNT, timegm, explicit_bzero */
#include "ln_sys.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ln_time.h"

/* ---- clocks ---- */

double ln_time_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

double ln_time_wall(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

size_t ln_time_peak_rss(void)
{
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) < 0)
        return 0;
    return (size_t)ru.ru_maxrss * 1024; /* Linux reports kilobytes */
}

int ln_time_utc(int64_t t, struct tm *out)
{
    time_t s = (time_t)t;
    if ((int64_t)s != t)
        return -1; /* a 32-bit time_t */
    return gmtime_r(&s, out) ? 0 : -1;
}

int ln_time_from_utc(const struct tm *tm, int64_t *t)
{
    struct tm copy = *tm;
    copy.tm_isdst = 0;
    errno = 0;
    time_t s = timegm(&copy);
    /* -1 is also 1969-12-31T23:59:59Z: only an error when errno says so. */
    if (s == (time_t)-1 && errno != 0)
        return -1;
    *t = (int64_t)s;
    return 0;
}

/* ---- CPUs, process, scheduling ---- */

int ln_sys_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
#ifdef CPU_COUNT
    /* The CPUs this process may run on (taskset, a container's cpuset). */
    cpu_set_t set;
    CPU_ZERO(&set);
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0 && CPU_COUNT(&set) < n)
        n = CPU_COUNT(&set);
#endif
    return n < 1 ? 1 : n > 65536 ? 65536 : (int)n;
}

unsigned long ln_sys_pid(void)
{
    return (unsigned long)getpid();
}

static _Thread_local int ln__background;

/* DESIGN: 10 steps of nice below the thread's own (at most 19), not the
 * SCHED_IDLE class. Under SCHED_IDLE a job got a core only when no other
 * program wanted one: beside any busy program (a build, another service,
 * the tests' own load) it stalled for as long as that ran: an HTTP test
 * of a texture job, 1.4 s on a quiet machine, timed out after 30 s beside
 * two busy loops on 2 cores. At nice 10 a job keeps about a tenth of a
 * core that others want (Linux's weights: 110 against 1024; that test
 * then took 3.8 s), while the HTTP threads, at the
 * process's own nice, still preempt it whenever a request arrives; the
 * cost is in /health's tail under a flood of connections with a job
 * running (bench/README.md, "HTTP load while the worker is busy").
 * Relative, so that a server started under `nice` keeps its workers below
 * its HTTP threads: the first call fixes the level (ln__background_nice)
 * from its own thread's nice, and every call puts its thread there, no
 * lower (Linux's nice is per thread; the threads a job starts inherit it
 * and, through ln_parallel_for, set it again, which changes nothing). */
static atomic_int ln__background_nice = INT_MIN;

int ln_thread_set_background(struct ln_error *err)
{
    const id_t tid = (id_t)syscall(SYS_gettid);
    errno = 0;
    const int own = getpriority(PRIO_PROCESS, tid);
    if (own == -1 && errno != 0)
        return ln_error_set(err, LN_EIO, "cannot read the thread's priority: %s", strerror(errno));
    int level = atomic_load(&ln__background_nice);
    if (level == INT_MIN) {
        const int first = own + 10 > 19 ? 19 : own + 10;
        /* where another thread fixed it first, level now holds its value */
        if (atomic_compare_exchange_strong(&ln__background_nice, &level, first))
            level = first;
    }
    if (own < level && setpriority(PRIO_PROCESS, tid, level) < 0)
        return ln_error_set(err, LN_EIO, "cannot lower the thread's priority: %s", strerror(errno));
    ln__background = 1;
    return 0;
}

int ln_thread_is_background(void)
{
    return ln__background;
}

int ln_random_bytes(void *buf, size_t n, struct ln_error *err)
{
    unsigned char *p = buf;
    size_t got = 0;
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return ln_error_set(err, LN_EIO, "cannot open /dev/urandom: %s", strerror(errno));
    while (got < n) {
        ssize_t r = read(fd, p + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    if (got < n)
        return ln_error_set(err, LN_EIO, "cannot read /dev/urandom");
    return 0;
}

int ln_env_set(const char *name, const char *value)
{
    int rc = value ? setenv(name, value, 1) : unsetenv(name);
    return rc == 0 ? 0 : LN_EINVAL;
}

const char *ln_sys_strerror(long code, char *buf, size_t size)
{
    snprintf(buf, size, "%s", strerror((int)code));
    return buf;
}

void ln_wipe(void *p, size_t n)
{
    explicit_bzero(p, n);
}

/* ---- condition variables with a monotonic deadline ---- */

int ln_cond_init(pthread_cond_t *c)
{
    pthread_condattr_t ca;
    if (pthread_condattr_init(&ca) != 0)
        return LN_EINTERNAL;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(c, &ca);
    pthread_condattr_destroy(&ca);
    return rc == 0 ? 0 : LN_EINTERNAL;
}

int ln_cond_wait_until(pthread_cond_t *c, pthread_mutex_t *m, double deadline)
{
    double whole = (double)(long long)deadline;
    struct timespec ts;
    ts.tv_sec = (time_t)whole;
    ts.tv_nsec = (long)((deadline - whole) * 1e9);
    if (ts.tv_nsec < 0)
        ts.tv_nsec = 0;
    if (ts.tv_nsec > 999999999L)
        ts.tv_nsec = 999999999L;
    return pthread_cond_timedwait(c, m, &ts) == ETIMEDOUT;
}

/* ---- stop requests: SIGINT, SIGTERM ---- */

/* The thread that waits in ln_stop_wait, and the reason a request gave. */
static pthread_t ln__stop_waiter;
static atomic_int ln__stop_ready; /* ln__stop_waiter is set */
static _Atomic(const char *) ln__stop_reason;

/* A stop signal delivered to a thread that had not blocked it: one that a
 * library started before main (OpenBLAS starts its thread pool in a
 * constructor), which the default action would let end the process at
 * once. It is passed on to the waiting thread, where it is blocked, so
 * sigwait takes it as usual. */
static void ln__stop_forward(int sig)
{
    int saved = errno;
    pthread_kill(ln__stop_waiter, sig);
    errno = saved;
}

static void ln__stop_set(sigset_t *set)
{
    sigemptyset(set);
    sigaddset(set, SIGINT);
    sigaddset(set, SIGTERM);
}

int ln_stop_init(struct ln_error *err)
{
    sigset_t set;
    ln__stop_set(&set);
    if (pthread_sigmask(SIG_BLOCK, &set, NULL) != 0)
        return ln_error_set(err, LN_EINTERNAL, "cannot block the stop signals");
    ln__stop_waiter = pthread_self();
    atomic_store(&ln__stop_ready, 1);
    struct sigaction forward;
    memset(&forward, 0, sizeof forward);
    forward.sa_handler = ln__stop_forward;
    sigfillset(&forward.sa_mask);
    sigaction(SIGINT, &forward, NULL);
    sigaction(SIGTERM, &forward, NULL);
    signal(SIGPIPE, SIG_IGN);
    return 0;
}

const char *ln_stop_wait(void)
{
    sigset_t set;
    ln__stop_set(&set);
    int sig = 0;
    while (sigwait(&set, &sig) != 0)
        ;
    const char *reason = atomic_exchange(&ln__stop_reason, NULL);
    if (reason)
        return reason;
    return sig == SIGINT ? "SIGINT" : "SIGTERM";
}

void ln_stop_request(const char *reason)
{
    atomic_store(&ln__stop_reason, reason ? reason : "stop request");
    /* Before ln_stop_init there is no waiter to wake (and no thread id to
     * signal); the reason waits for the first ln_stop_wait's signal. */
    if (atomic_load(&ln__stop_ready))
        pthread_kill(ln__stop_waiter, SIGTERM);
}

void ln_stop_done(void) {}

/* ---- Windows services: none here ---- */

static int ln__no_services(struct ln_error *err)
{
    return ln_error_set(err, LN_EINVAL,
                        "Windows services exist only on Windows: here, use the systemd unit "
                        "(docs/operations/README.md)");
}

int ln_service_install(const char *name, const char *display, const char *args,
                       struct ln_error *err)
{
    (void)name, (void)display, (void)args;
    return ln__no_services(err);
}

int ln_service_uninstall(const char *name, struct ln_error *err)
{
    (void)name;
    return ln__no_services(err);
}

int ln_service_run(const char *name, int (*fn)(int argc, char **argv), int argc, char **argv,
                   struct ln_error *err)
{
    (void)name, (void)fn, (void)argc, (void)argv;
    return ln__no_services(err);
}

void ln_service_ready(void) {}

void ln_service_event(enum ln_service_event_kind kind, const char *msg)
{
    (void)kind, (void)msg;
}
