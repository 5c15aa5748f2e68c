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
#include <wchar.h>

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

/* The socket errors an operator meets (a port taken, an address not on
 * this machine), in the words strerror uses on Linux: Windows' own text
 * for WSAEADDRINUSE ("Only one usage of each socket address ... is
 * normally permitted") does not say "in use", and Wine has none. Numbers
 * from winsock2.h, which this file does not include. */
static const struct {
    long code;
    const char *text;
} ln__wsa_texts[] = {
    {10013, "permission denied"},             /* WSAEACCES */
    {10048, "address already in use"},        /* WSAEADDRINUSE */
    {10049, "cannot assign requested address"}, /* WSAEADDRNOTAVAIL */
    {10051, "network is unreachable"},        /* WSAENETUNREACH */
    {10054, "connection reset by peer"},      /* WSAECONNRESET */
    {10060, "connection timed out"},          /* WSAETIMEDOUT */
    {10061, "connection refused"},            /* WSAECONNREFUSED */
    {10065, "no route to host"},              /* WSAEHOSTUNREACH */
};

const char *ln_sys_strerror(long code, char *buf, size_t size)
{
    for (size_t i = 0; i < sizeof ln__wsa_texts / sizeof ln__wsa_texts[0]; i++)
        if (ln__wsa_texts[i].code == code) {
            snprintf(buf, size, "%s (Winsock error %ld)", ln__wsa_texts[i].text, code);
            return buf;
        }
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
     * as nice does not on Linux; a thread it was already set on refuses
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

/* ---- Windows services ---------------------------------------------------- */

/* UTF-8 to a new UTF-16 string (NULL when not valid UTF-8). */
static wchar_t *ln__svc_wide(const char *s)
{
    int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
    wchar_t *w = n > 0 ? malloc((size_t)n * sizeof *w) : NULL;
    if (w && MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, n) != n) {
        free(w);
        w = NULL;
    }
    return w;
}

static int ln__svc_error(struct ln_error *err, const char *what, const char *name)
{
    DWORD code = GetLastError();
    char msg[256];
    ln_sys_strerror((long)code, msg, sizeof msg);
    if (code == ERROR_SERVICE_EXISTS)
        return ln_error_set(err, LN_EINVAL, "a service named %s exists already", name);
    if (code == ERROR_SERVICE_DOES_NOT_EXIST)
        return ln_error_set(err, LN_ENOTFOUND, "there is no service named %s", name);
    return ln_error_set(err, LN_EIO, "%s %s: %s", what, name, msg);
}

/* Adds (add 1) or removes the event source `wname` of the Application
 * log: a registry key naming the kinds of entry it writes (error, warning,
 * information) and no message file. Returns a Windows error code. */
static LSTATUS ln__svc_event_source(const wchar_t *wname, int add)
{
    wchar_t key[256];
    if (swprintf(key, 256, L"SYSTEM\\CurrentControlSet\\Services\\EventLog\\Application\\%ls",
                 wname) < 0)
        return ERROR_INVALID_NAME;
    if (!add) {
        LSTATUS e = RegDeleteKeyW(HKEY_LOCAL_MACHINE, key);
        return e == ERROR_FILE_NOT_FOUND ? ERROR_SUCCESS : e;
    }
    HKEY h;
    LSTATUS e = RegCreateKeyExW(HKEY_LOCAL_MACHINE, key, 0, NULL, 0, KEY_SET_VALUE, NULL, &h, NULL);
    if (e != ERROR_SUCCESS)
        return e;
    DWORD types = EVENTLOG_ERROR_TYPE | EVENTLOG_WARNING_TYPE | EVENTLOG_INFORMATION_TYPE;
    e = RegSetValueExW(h, L"TypesSupported", 0, REG_DWORD, (const BYTE *)&types, sizeof types);
    RegCloseKey(h);
    return e;
}

int ln_service_install(const char *name, const char *display, const char *args,
                       struct ln_error *err)
{
    wchar_t self[32768];
    DWORD n = GetModuleFileNameW(NULL, self, 32768);
    if (n == 0 || n >= 32768)
        return ln__svc_error(err, "cannot find this program's path for", name);
    wchar_t *wname = ln__svc_wide(name), *wdisplay = ln__svc_wide(display),
            *wargs = ln__svc_wide(args ? args : "");
    size_t len = wcslen(self) + (wargs ? wcslen(wargs) : 0) + 16;
    wchar_t *cmd = malloc(len * sizeof *cmd);
    int rc = LN_OK;
    if (!wname || !wdisplay || !wargs || !cmd) {
        rc = ln_error_set(err, LN_EINVAL, "service name or arguments are not valid UTF-8");
        goto done;
    }
    /* the program's path quoted (it has spaces: Program Files), then its
     * arguments */
    swprintf(cmd, len, L"\"%ls\" %ls", self, wargs);
    SC_HANDLE scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CREATE_SERVICE);
    if (!scm) {
        rc = ln__svc_error(err, "cannot open the Service Control Manager to install", name);
        goto done;
    }
    SC_HANDLE svc = CreateServiceW(scm, wname, wdisplay, SERVICE_ALL_ACCESS,
                                   SERVICE_WIN32_OWN_PROCESS, SERVICE_AUTO_START,
                                   SERVICE_ERROR_NORMAL, cmd, NULL, NULL, NULL, NULL, NULL);
    if (!svc) {
        rc = ln__svc_error(err, "cannot install the service", name);
    } else {
        SERVICE_DESCRIPTIONW d = {L"Lunar Nova: image-to-3D server (HTTP API and web UI)"};
        ChangeServiceConfig2W(svc, SERVICE_CONFIG_DESCRIPTION, &d);
        /* A service whose events cannot be written is not installed. */
        LSTATUS e = ln__svc_event_source(wname, 1);
        if (e != ERROR_SUCCESS) {
            SetLastError((DWORD)e);
            rc = ln__svc_error(err, "cannot register the event source", name);
            DeleteService(svc);
        }
        CloseServiceHandle(svc);
    }
    CloseServiceHandle(scm);
done:
    free(wname);
    free(wdisplay);
    free(wargs);
    free(cmd);
    return rc;
}

int ln_service_uninstall(const char *name, struct ln_error *err)
{
    wchar_t *wname = ln__svc_wide(name);
    if (!wname)
        return ln_error_set(err, LN_EINVAL, "service name is not valid UTF-8");
    int rc = LN_OK;
    SC_HANDLE scm = OpenSCManagerW(NULL, NULL, SC_MANAGER_CONNECT);
    SC_HANDLE svc = scm ? OpenServiceW(scm, wname, SERVICE_STOP | SERVICE_QUERY_STATUS | DELETE)
                        : NULL;
    if (!svc) {
        rc = ln__svc_error(err, "cannot open the service", name);
    } else {
        SERVICE_STATUS st;
        /* a running service is asked to stop (its clean stop goes on while
         * the removal waits for the last handle) */
        ControlService(svc, SERVICE_CONTROL_STOP, &st);
        if (!DeleteService(svc))
            rc = ln__svc_error(err, "cannot remove the service", name);
        else
            ln__svc_event_source(wname, 0);
        CloseServiceHandle(svc);
    }
    if (scm)
        CloseServiceHandle(scm);
    free(wname);
    return rc;
}

/* The one service this process runs: what ServiceMain needs, set before
 * the dispatcher starts and read by its threads only after. The status
 * is reported by the service's thread, the control handler's, the thread
 * renewing START_PENDING and whichever thread calls ln_service_ready:
 * under the lock. */
static struct {
    wchar_t *name;
    int (*fn)(int argc, char **argv);
    int argc;
    char **argv;
    int result;
    SERVICE_STATUS_HANDLE handle;
    SERVICE_STATUS status;
    SRWLOCK lock;
    HANDLE ready;  /* set once running (or fn has returned): ends the renewals */
    HANDLE events; /* RegisterEventSourceW's handle, NULL outside a service */
} ln__svc = {.lock = SRWLOCK_INIT};

/* How long the Service Control Manager is told to wait for the next
 * START_PENDING report, and how often it gets one while serve loads. */
#define LN__SVC_START_HINT_MS 30000
#define LN__SVC_START_RENEW_MS 5000

static void ln__svc_report_locked(DWORD state, DWORD exit_code, DWORD wait_ms)
{
    ln__svc.status.dwServiceType = SERVICE_WIN32_OWN_PROCESS;
    ln__svc.status.dwCurrentState = state;
    ln__svc.status.dwControlsAccepted =
        state == SERVICE_RUNNING ? SERVICE_ACCEPT_STOP | SERVICE_ACCEPT_SHUTDOWN : 0;
    ln__svc.status.dwWin32ExitCode = exit_code ? ERROR_SERVICE_SPECIFIC_ERROR : NO_ERROR;
    ln__svc.status.dwServiceSpecificExitCode = exit_code;
    ln__svc.status.dwWaitHint = wait_ms;
    /* the checkpoint counts progress within one pending state */
    if (state == SERVICE_START_PENDING || state == SERVICE_STOP_PENDING)
        ln__svc.status.dwCheckPoint++;
    else
        ln__svc.status.dwCheckPoint = 0;
    SetServiceStatus(ln__svc.handle, &ln__svc.status);
}

static void ln__svc_report(DWORD state, DWORD exit_code, DWORD wait_ms)
{
    AcquireSRWLockExclusive(&ln__svc.lock);
    ln__svc_report_locked(state, exit_code, wait_ms);
    ReleaseSRWLockExclusive(&ln__svc.lock);
}

/* Renews START_PENDING until the service runs (or serve has returned). */
static DWORD WINAPI ln__svc_pending(void *arg)
{
    (void)arg;
    while (WaitForSingleObject(ln__svc.ready, LN__SVC_START_RENEW_MS) == WAIT_TIMEOUT) {
        AcquireSRWLockExclusive(&ln__svc.lock);
        if (ln__svc.status.dwCurrentState == SERVICE_START_PENDING)
            ln__svc_report_locked(SERVICE_START_PENDING, 0, LN__SVC_START_HINT_MS);
        ReleaseSRWLockExclusive(&ln__svc.lock);
    }
    return 0;
}

void ln_service_ready(void)
{
    AcquireSRWLockExclusive(&ln__svc.lock);
    if (ln__svc.handle && ln__svc.status.dwCurrentState == SERVICE_START_PENDING) {
        ln__svc_report_locked(SERVICE_RUNNING, 0, 0);
        SetEvent(ln__svc.ready);
    }
    ReleaseSRWLockExclusive(&ln__svc.lock);
}

void ln_service_event(enum ln_service_event_kind kind, const char *msg)
{
    if (!ln__svc.events)
        return;
    wchar_t *w = ln__svc_wide(msg);
    if (!w)
        return; /* the log file has the line; the event log takes UTF-16 only */
    static const WORD types[] = {EVENTLOG_INFORMATION_TYPE, EVENTLOG_WARNING_TYPE,
                                 EVENTLOG_ERROR_TYPE};
    const wchar_t *strings[1] = {w};
    /* event ids 1 (information), 2 (warning), 3 (error), for filters */
    ReportEventW(ln__svc.events, types[kind], 0, (DWORD)kind + 1, NULL, 1, 0, strings, NULL);
    free(w);
}

static DWORD WINAPI ln__svc_control(DWORD control, DWORD type, void *data, void *ctx)
{
    (void)type, (void)data, (void)ctx;
    switch (control) {
    case SERVICE_CONTROL_STOP:
    case SERVICE_CONTROL_SHUTDOWN:
        /* the server's own grace (--shutdown-grace) plus saving */
        ln__svc_report(SERVICE_STOP_PENDING, 0, 90000);
        ln_stop_request(control == SERVICE_CONTROL_STOP ? "service stop" : "shutdown");
        return NO_ERROR;
    case SERVICE_CONTROL_INTERROGATE:
        return NO_ERROR;
    default:
        return ERROR_CALL_NOT_IMPLEMENTED;
    }
}

static void WINAPI ln__svc_main(DWORD argc, wchar_t **argv)
{
    (void)argc, (void)argv;
    ln__svc.handle = RegisterServiceCtrlHandlerExW(ln__svc.name, ln__svc_control, NULL);
    if (!ln__svc.handle) {
        ln__svc.result = LN_EINTERNAL;
        return;
    }
    /* START_PENDING until serve listens (ln_service_ready), renewed
     * meanwhile: loading the TripoSR weights takes a while. */
    ln__svc.ready = CreateEventW(NULL, TRUE, FALSE, NULL);
    ln__svc_report(SERVICE_START_PENDING, 0, LN__SVC_START_HINT_MS);
    HANDLE renew = ln__svc.ready ? CreateThread(NULL, 0, ln__svc_pending, NULL, 0, NULL) : NULL;
    if (!ln__svc.ready)
        ln__svc_report(SERVICE_RUNNING, 0, 0); /* no event: running at once, as before */
    ln__svc.result = ln__svc.fn(ln__svc.argc, ln__svc.argv);
    if (ln__svc.ready)
        SetEvent(ln__svc.ready);
    if (renew) {
        WaitForSingleObject(renew, INFINITE);
        CloseHandle(renew);
    }
    ln__svc_report(SERVICE_STOPPED, (DWORD)(ln__svc.result < 0 ? -ln__svc.result
                                                              : ln__svc.result),
                   0);
}

int ln_service_run(const char *name, int (*fn)(int argc, char **argv), int argc, char **argv,
                   struct ln_error *err)
{
    ln__svc.name = ln__svc_wide(name);
    if (!ln__svc.name)
        return ln_error_set(err, LN_EINVAL, "service name is not valid UTF-8");
    ln__svc.fn = fn;
    ln__svc.argc = argc;
    ln__svc.argv = argv;
    SERVICE_TABLE_ENTRYW table[] = {{ln__svc.name, ln__svc_main}, {NULL, NULL}};
    ln__svc.events = RegisterEventSourceW(NULL, ln__svc.name);
    BOOL dispatched = StartServiceCtrlDispatcherW(table);
    DWORD dispatch_err = GetLastError();
    if (ln__svc.events)
        DeregisterEventSource(ln__svc.events);
    ln__svc.events = NULL;
    if (ln__svc.ready)
        CloseHandle(ln__svc.ready);
    ln__svc.ready = NULL;
    SetLastError(dispatch_err);
    if (!dispatched) {
        int rc = GetLastError() == ERROR_FAILED_SERVICE_CONTROLLER_CONNECT
                     ? ln_error_set(err, LN_EINVAL,
                                    "'service run' is started by the Service Control Manager "
                                    "(lunar-nova service install, then sc.exe start %s)",
                                    name)
                     : ln__svc_error(err, "cannot run as the service", name);
        free(ln__svc.name);
        ln__svc.name = NULL;
        return rc;
    }
    free(ln__svc.name);
    ln__svc.name = NULL;
    return ln__svc.result;
}
