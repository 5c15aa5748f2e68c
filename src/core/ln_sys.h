/*
 * The platform layer, system half: what the operating system answers
 * about CPUs, scheduling, randomness, the environment and stop requests,
 * behind one interface for Linux (and other POSIX systems) and Windows.
 * Every floor above calls these instead of <signal.h>, <sys/resource.h>,
 * <sys/syscall.h> or their Windows counterparts; the clocks of the same
 * layer are in ln_time.h and the file half (paths, atomic replace, folder
 * walks) in its own header.
 *
 * DESIGN: one header, two sources side by side, ln_sys_posix.c and
 * ln_sys_win.c; the build compiles the one for its target (a core source
 * named *_posix.c is left out of a Windows build, *_win.c out of every
 * other). Each function says what its two forms do, so that a reader of
 * one knows what the other must match. Threads stay pthreads everywhere
 * (winpthreads on Windows, linked statically): only the deadline wait,
 * whose clock winpthreads does not honour (docs/windows.md), has a form
 * of its own here.
 *
 *     if (ln_stop_init(&err) < 0) ...          main thread, before any other
 *     ... start the server and the workers ...
 *     const char *why = ln_stop_wait();        "SIGTERM", "Ctrl+C", ...
 *     ... stop cleanly ...
 *     ln_stop_done();
 *
 * Thread-safety: everything may be called from any thread, except
 * ln_stop_init and ln_stop_wait (the main thread) and ln_env_set (only
 * while no other thread reads the environment: at start-up, in tests).
 */
#ifndef LN_SYS_H
#define LN_SYS_H

#include <pthread.h>
#include <stddef.h>

#include "ln_error.h"

/* The CPUs this process may run on, at least 1. POSIX: the online CPUs,
 * fewer when the affinity mask (taskset, a container's cpuset) allows
 * fewer. Windows: GetActiveProcessorCount(ALL_PROCESSOR_GROUPS), fewer
 * when the process's affinity mask allows fewer (one processor group).
 * A CPU quota (cgroup cpu.max) is ln_threads_count_cpus's business. */
int ln_sys_cpu_count(void);

/* This process's id, for names and seeds (getpid / GetCurrentProcessId). */
unsigned long ln_sys_pid(void);

/* Puts the calling thread in the background, so that other threads and
 * programs that want a CPU come first: POSIX, 10 steps of nice below the
 * thread's own (at most 19); Windows, THREAD_MODE_BACKGROUND_BEGIN (CPU,
 * disk and memory priority). Linux threads inherit their nice; Windows
 * threads do not, so ln_parallel_for passes it on to the threads it starts
 * (ln_thread_is_background). Returns 0, or LN_EIO with the reason. */
int ln_thread_set_background(struct ln_error *err);
/* Whether ln_thread_set_background succeeded on the calling thread. */
int ln_thread_is_background(void);

/* Fills buf with n bytes from the system's random generator: /dev/urandom,
 * BCryptGenRandom. Returns 0, or LN_EIO when none can be read (a chroot
 * without /dev): the caller decides whether something weaker will do. */
int ln_random_bytes(void *buf, size_t n, struct ln_error *err);

/* Sets name to value in this process's environment (value NULL: removes
 * it), as getenv sees it. setenv/unsetenv; _putenv_s on Windows, where an
 * empty value also removes the name. Returns 0 or LN_EINVAL. */
int ln_env_set(const char *name, const char *value);

/* The system's text for an error code, in buf (one line, no final
 * period): strerror of an errno value; on Windows, FormatMessage of a
 * Windows or Winsock code (GetLastError, WSAGetLastError), except for the
 * common socket errors, which read as on Linux with the code after them
 * ("address already in use (Winsock error 10048)"). Returns buf. */
const char *ln_sys_strerror(long code, char *buf, size_t size);

/* Zeroes n bytes in a way the compiler keeps (secrets: tokens, keys):
 * explicit_bzero, SecureZeroMemory. */
void ln_wipe(void *p, size_t n);

/* Condition variables with a deadline on the ln_time_now clock.
 * ln_cond_init makes one; ln_cond_wait_until waits until it is signalled
 * (or wakes spuriously: recheck the predicate) or until the deadline, and
 * returns 1 once the deadline has passed, else 0. POSIX: the condition
 * variable's clock is CLOCK_MONOTONIC. Windows: winpthreads compares an
 * absolute deadline with the wall clock whatever clock was asked for, so
 * the wait is relative (pthread_cond_timedwait_relative_np), recomputed
 * from the monotonic clock on each call: a change of the wall clock moves
 * no deadline. */
int ln_cond_init(pthread_cond_t *c);
int ln_cond_wait_until(pthread_cond_t *c, pthread_mutex_t *m, double deadline);

/* Stop requests: what makes `lunar-nova serve` stop cleanly.
 * ln_stop_init, on the main thread before any other thread starts:
 *   POSIX: blocks SIGINT and SIGTERM (every later thread inherits the
 *   mask, so only ln_stop_wait takes them; threads that libraries started
 *   earlier pass them on) and ignores SIGPIPE (a closed client socket).
 *   Windows: SetConsoleCtrlHandler for Ctrl+C, Ctrl+Break, the console
 *   window closing and system shutdown.
 * ln_stop_wait blocks the main thread until one arrives and returns its
 * name ("SIGINT", "SIGTERM", "Ctrl+C", "Ctrl+Break", "console closed",
 * "shutdown") or the reason given to ln_stop_request.
 * ln_stop_request(reason) asks for the same stop from any thread; a static
 * string. It is what a Windows service's control handler calls on
 * SERVICE_CONTROL_STOP / PRESHUTDOWN (docs/windows.md).
 * ln_stop_done says the clean stop has finished. Windows ends a process
 * once the handler of a console-close or shutdown event returns (and
 * after about 5 s whatever it does): that handler waits for ln_stop_done
 * (at most 4.5 s) so that jobs.json and the running jobs are saved first.
 * POSIX: nothing to do. */
int ln_stop_init(struct ln_error *err);
const char *ln_stop_wait(void);
void ln_stop_request(const char *reason);
void ln_stop_done(void);

/* Windows services (the Service Control Manager); elsewhere each answers
 * LN_EINVAL ("Windows services are Windows's: use the systemd unit").
 * ln_service_install registers `name` (display name `display`) to start
 * automatically at boot as LocalSystem with this program's own path and
 * `args` (one UTF-8 command-line string, already quoted as Windows
 * expects); LN_EINVAL when a service of that name exists. Needs an
 * administrator (LN_EIO with the system's reason otherwise).
 * ln_service_uninstall stops the service if it runs and removes it;
 * LN_ENOTFOUND when there is none.
 * Both also register and remove `name` as an event source of the
 * Application event log (the registry key
 * HKLM\SYSTEM\CurrentControlSet\Services\EventLog\Application\<name>,
 * with no message file: the event viewer shows each entry's text as an
 * insert string; docs/windows.md).
 * ln_service_run hands the calling thread to the Service Control Manager
 * and runs fn(argc, argv) on the service's thread, reporting it
 * START_PENDING (with a wait hint renewed every few seconds) until fn
 * calls ln_service_ready, running from then on, then stopped with fn's
 * result; a stop or shutdown control becomes ln_stop_request("service
 * stop"). Returns fn's result, or LN_EINVAL when the process was not
 * started by the Service Control Manager. While it runs, ln_service_event
 * writes one entry of the event source `name` (ReportEventW); elsewhere,
 * and on POSIX always, ln_service_event and ln_service_ready do nothing
 * (under systemd, journald already has stderr). Both thread-safe. */
int ln_service_install(const char *name, const char *display, const char *args,
                       struct ln_error *err);
int ln_service_uninstall(const char *name, struct ln_error *err);
int ln_service_run(const char *name, int (*fn)(int argc, char **argv), int argc, char **argv,
                   struct ln_error *err);
void ln_service_ready(void);

enum ln_service_event_kind {
    LN_SERVICE_EVENT_INFO,
    LN_SERVICE_EVENT_WARNING,
    LN_SERVICE_EVENT_ERROR,
};
void ln_service_event(enum ln_service_event_kind kind, const char *msg);

#endif
