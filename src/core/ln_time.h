/*
 * Clocks and resource readings for logs, job timings and benchmarks.
 */
#ifndef LN_TIME_H
#define LN_TIME_H

#include <stddef.h>

/* Monotonic seconds since an arbitrary origin. */
double ln_time_now(void);
/* Wall-clock seconds since the Unix epoch. */
double ln_time_wall(void);
/* Peak resident set size of this process in bytes (getrusage). */
size_t ln_time_peak_rss(void);

#endif
