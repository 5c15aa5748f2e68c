/*
 * The platform layer's system half on Windows 10 and later (ln_sys.h,
 * ln_time.h), each function the counterpart of the one of the same name
 * in ln_sys_posix.c. Win32 calls only, no C runtime emulation of POSIX:
 * QueryPerformanceCounter, GetSystemTimePreciseAsFileTime,
 * GetProcessMemoryInfo, BCryptGenRandom, SetThreadPriority and
 * SetConsoleCtrlHandler.
 */
#ifndef _WIN32_WINNT
#define _WIN32_WINNT 0x0A00 /* Windows 10 */
#endif
#ifndef WIN32_LEAN_AND_MEAN
#define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include <bcrypt.h>
#include <psapi.h>

#include "ln_sys.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ln_time.h"

/* ---- clocks ---- */

double ln_time_now(void)
{
    /* The counter's frequency is fixed at boot (Windows documents it so):
     * read once. */
    static atomic_llong freq;
    long long f = atomic_load(&freq);
    if (f <= 0) {
        LARGE_INTEGER q;
        QueryPerformanceFrequency(&q);
        f = q.QuadPart > 0 ? q.QuadPart : 1;
        atomic_store(&freq, f);
    }
    LARGE_INTEGER c;
    QueryPerformanceCounter(&c);
    /* Whole seconds and the rest apart: a double holds the quotient of a
     * counter that has run for months without losing the microseconds. */
    return (double)(c.QuadPart / f) + (double)(c.QuadPart % f) / (double)f;
}

/* 100-nanosecond intervals from 1601-01-01 (FILETIME's epoch) to 1970-01-01. */
#define LN__FILETIME_UNIX_EPOCH 116444736000000000LL

double ln_time_wall(void)
{
    FILETIME ft;
    GetSystemTimePreciseAsFileTime(&ft);
    long long t = (long long)(((unsigned long long)ft.dwHighDateTime << 32) | ft.dwLowDateTime);
    t -= LN__FILETIME_UNIX_EPOCH;
    return (double)(t / 10000000) + (double)(t % 10000000) * 1e-7;
}

size_t ln_time_peak_rss(void)
{
    PROCESS_MEMORY_COUNTERS pmc;
    memset(&pmc, 0, sizeof pmc);
    pmc.cb = sizeof pmc;
    if (!GetProcessMemoryInfo(GetCurrentProcess(), &pmc, sizeof pmc))
        return 0;
    return (size_t)pmc.PeakWorkingSetSize;
}

int ln_time_utc(int64_t t, struct tm *out)
{
    __time64_t s = (__time64_t)t;
    /* _gmtime64_s covers 1970 to 3000-12-31 and returns an errno value. */
    return _gmtime64_s(out, &s) == 0 ? 0 : -1;
}

int ln_time_from_utc(const struct tm *tm, int64_t *t)
{
    struct tm copy = *tm;
    copy.tm_isdst = 0;
    __time64_t s = _mkgmtime64(&copy);
    if (s == (__time64_t)-1)
        return -1; /* before 1970 or after 3000: outside what _mkgmtime64 takes */
    *t = (int64_t)s;
    return 0;
}

/* ---- CPUs, process, scheduling ---- */

int ln_sys_cpu_count(void)
{
    DWORD n = GetActiveProcessorCount(ALL_PROCESSOR_GROUPS);
    /* The affinity mask covers one processor group: it limits the count
     * only on a machine with one group (up to 64 CPUs), where it is the
     * whole story (start /affinity, a job object's limit). */
    if (GetActiveProcessorGroupCount() == 1) {
        DWORD_PTR mine = 0, sys = 0;
        if (GetProcessAffinityMask(GetCurrentProcess(), &mine, &sys) && mine) {
            DWORD k = 0;
            for (DWORD_PTR m = mine; m; m &= m - 1)
                k++;
            if (k < n)
                n = k;
        }
    }
    return n < 1 ? 1 : n > 65536 ? 65536 : (int)n;
}

unsigned long ln_sys_pid(void)
{
    return (unsigned long)GetCurrentProcessId();
}

const char *ln_sys_strerror(long code, char *buf, size_t size)
{
    /* In English where the system has it: the line goes into logs that
     * are read beside Linux ones. */
    DWORD n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL,
                             (DWORD)code, MAKELANGID(LANG_ENGLISH, SUBLANG_DEFAULT), buf,
                             (DWORD)size, NULL);
    if (n == 0)
        n = FormatMessageA(FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL,
                           (DWORD)code, 0, buf, (DWORD)size, NULL);
    if (n == 0)
        snprintf(buf, size, "Windows error %lu", (unsigned long)code);
    for (size_t i = strlen(buf); i > 0 && (buf[i - 1] == '\n' || buf[i - 1] == '\r' ||
                                           buf[i - 1] == ' ' || buf[i - 1] == '.');
         i--)
        buf[i - 1] = 0;
    return buf;
}

#ifndef ERROR_THREAD_MODE_ALREADY_BACKGROUND
#define ERROR_THREAD_MODE_ALREADY_BACKGROUND 400L /* winerror.h of the Windows SDK */
#endif

static _Thread_local int ln__background;

int ln_thread_set_background(struct ln_error *err)
{
    /* Background mode also lowers the thread's disk and memory priority,
     * as SCHED_IDLE does not; a thread it was already set on refuses
     * it again (ERROR_THREAD_MODE_ALREADY_BACKGROUND), which is success. */
    if (!SetThreadPriority(GetCurrentThread(), THREAD_MODE_BACKGROUND_BEGIN) &&
        GetLastError() != ERROR_THREAD_MODE_ALREADY_BACKGROUND) {
        /* Where background mode is refused, the lowest priority does most
         * of the same, as nice 10 does on Linux. */
        if (!SetThreadPriority(GetCurrentThread(), THREAD_PRIORITY_IDLE)) {
            char msg[160];
            return ln_error_set(err, LN_EIO, "cannot lower the thread's priority: %s",
                                ln_sys_strerror((long)GetLastError(), msg, sizeof msg));
        }
    }
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
    while (n > 0) {
        ULONG chunk = n > 0x10000000 ? 0x10000000 : (ULONG)n;
        NTSTATUS st = BCryptGenRandom(NULL, p, chunk, BCRYPT_USE_SYSTEM_PREFERRED_RNG);
        if (st < 0)
            return ln_error_set(err, LN_EIO, "BCryptGenRandom failed (status 0x%08lx)",
                                (unsigned long)st);
        p += chunk;
        n -= chunk;
    }
    return 0;
}

int ln_env_set(const char *name, const char *value)
{
    if (!name || !*name || strchr(name, '='))
        return LN_EINVAL;
    return _putenv_s(name, value ? value : "") == 0 ? 0 : LN_EINVAL;
}

void ln_wipe(void *p, size_t n)
{
    SecureZeroMemory(p, n);
}

/* ---- condition variables with a monotonic deadline ---- */

int ln_cond_init(pthread_cond_t *c)
{
    return pthread_cond_init(c, NULL) == 0 ? 0 : LN_EINTERNAL;
}

int ln_cond_wait_until(pthread_cond_t *c, pthread_mutex_t *m, double deadline)
{
    double left = deadline - ln_time_now();
    if (left <= 0)
        return 1;
    if (left > 86400.0 * 365)
        left = 86400.0 * 365;
    struct timespec rel;
    rel.tv_sec = (time_t)left;
    rel.tv_nsec = (long)((left - (double)rel.tv_sec) * 1e9);
    if (rel.tv_nsec > 999999999L)
        rel.tv_nsec = 999999999L;
    if (pthread_cond_timedwait_relative_np(c, m, &rel) == ETIMEDOUT)
        return ln_time_now() >= deadline;
    return 0;
}

/* ---- stop requests: console events ---- */

/* Both manual-reset events, made by ln_stop_init: `stop` is set by a
 * request, `done` by ln_stop_done. */
static HANDLE ln__stop_event, ln__done_event;
static _Atomic(const char *) ln__stop_reason;

static BOOL WINAPI ln__console_handler(DWORD type)
{
    const char *reason;
    switch (type) {
    case CTRL_C_EVENT:
        reason = "Ctrl+C";
        break;
    case CTRL_BREAK_EVENT:
        reason = "Ctrl+Break";
        break;
    case CTRL_CLOSE_EVENT:
        reason = "console closed";
        break;
    case CTRL_SHUTDOWN_EVENT:
        reason = "shutdown";
        break;
    default:
        return FALSE; /* logoff: a console program's session ends with it anyway */
    }
    ln_stop_request(reason);
    /* Windows ends the process as soon as the handler of these two returns,
     * and after about 5 s in any case: wait for the clean stop, within
     * that. Ctrl+C and Ctrl+Break return at once and the process lives on
     * until the main thread has stopped it. */
    if (type == CTRL_CLOSE_EVENT || type == CTRL_SHUTDOWN_EVENT)
        WaitForSingleObject(ln__done_event, 4500);
    return TRUE;
}

int ln_stop_init(struct ln_error *err)
{
    char msg[160];
    if (!ln__stop_event)
        ln__stop_event = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (!ln__done_event)
        ln__done_event = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (!ln__stop_event || !ln__done_event)
        return ln_error_set(err, LN_EINTERNAL, "cannot create the stop events: %s",
                            ln_sys_strerror((long)GetLastError(), msg, sizeof msg));
    if (!SetConsoleCtrlHandler(ln__console_handler, TRUE))
        return ln_error_set(err, LN_EINTERNAL, "cannot install the console handler: %s",
                            ln_sys_strerror((long)GetLastError(), msg, sizeof msg));
    return 0;
}

const char *ln_stop_wait(void)
{
    WaitForSingleObject(ln__stop_event, INFINITE);
    ResetEvent(ln__stop_event);
    const char *reason = atomic_exchange(&ln__stop_reason, NULL);
    return reason ? reason : "stop request";
}

void ln_stop_request(const char *reason)
{
    const char *none = NULL;
    /* The first reason wins until ln_stop_wait takes it. */
    atomic_compare_exchange_strong(&ln__stop_reason, &none, reason ? reason : "stop request");
    if (ln__stop_event)
        SetEvent(ln__stop_event);
}

void ln_stop_done(void)
{
    if (ln__done_event)
        SetEvent(ln__done_event);
}
