/*
 * Progress and cancellation, passed down from the CLI or a job worker to the
 * engines. A stage reports a name and a fraction of its own span; spans
 * nest with ln_progress_span, so an engine does not need to know how its
 * caller divides the total.
 *
 *     struct ln_progress sub = ln_progress_span(p, 0.2, 0.9);
 *     ln_progress_report(&sub, "carving", i / (double)n);
 *     if (ln_progress_canceled(p)) return ln_error_set(err, LN_ECANCELED, ...);
 *
 * A NULL struct ln_progress pointer is valid and does nothing. The report
 * callback may be called from the thread running the job only.
 */
#ifndef LN_PROGRESS_H
#define LN_PROGRESS_H

#include <stdatomic.h>

struct ln_progress {
    /* stage: short lower-case name; fraction: overall, 0..1. */
    void (*report)(void *user, const char *stage, double fraction);
    void *user;
    const atomic_int *cancel; /* non-zero requests cancellation; may be NULL */
    double lo, hi;            /* span of this reporter; both 0 means [0, 1] */
};

void ln_progress_report(const struct ln_progress *p, const char *stage, double fraction);
struct ln_progress ln_progress_span(const struct ln_progress *p, double lo, double hi);
int ln_progress_canceled(const struct ln_progress *p);

#endif
