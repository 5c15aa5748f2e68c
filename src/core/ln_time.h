/*
 * Clocks and resource readings for logs, job timings and benchmarks, and
 * UTC calendar conversions for the timestamps of logs and job records.
 * Part of the platform layer: the POSIX forms are in ln_sys_posix.c, the
 * Windows forms in ln_sys_win.c (ln_sys.h says how the two are built).
 * Everything here is thread-safe.
 */
#ifndef LN_TIME_H
#define LN_TIME_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

/* Monotonic seconds since an arbitrary origin: CLOCK_MONOTONIC,
 * QueryPerformanceCounter. */
double ln_time_now(void);
/* Wall-clock seconds since the Unix epoch: CLOCK_REALTIME,
 * GetSystemTimePreciseAsFileTime. */
double ln_time_wall(void);
/* Peak resident set size of this process in bytes: getrusage's ru_maxrss,
 * GetProcessMemoryInfo's PeakWorkingSetSize. 0 if unknown. */
size_t ln_time_peak_rss(void);

/* The UTC calendar time of t seconds since the Unix epoch (64-bit on
 * every system: dates after 2038 too). gmtime_r, _gmtime64_s. Returns 0,
 * or -1 for a time the system cannot convert. */
int ln_time_utc(int64_t t, struct tm *out);
/* The inverse: seconds since the epoch of a UTC calendar time (tm_year,
 * tm_mon, tm_mday, tm_hour, tm_min, tm_sec; the rest ignored). timegm,
 * _mkgmtime64. Returns 0 and *t, or -1. */
int ln_time_from_utc(const struct tm *tm, int64_t *t);

#endif
