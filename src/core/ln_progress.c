/* Span arithmetic for nested progress reporters. */
#include "ln_progress.h"

#include <stddef.h>

static void ln__span(const struct ln_progress *p, double *lo, double *hi)
{
    if (p->lo == 0.0 && p->hi == 0.0) {
        *lo = 0.0;
        *hi = 1.0;
    } else {
        *lo = p->lo;
        *hi = p->hi;
    }
}

void ln_progress_report(const struct ln_progress *p, const char *stage, double fraction)
{
    if (!p || !p->report)
        return;
    if (fraction < 0.0)
        fraction = 0.0;
    if (fraction > 1.0)
        fraction = 1.0;
    double lo, hi;
    ln__span(p, &lo, &hi);
    p->report(p->user, stage, lo + fraction * (hi - lo));
}

struct ln_progress ln_progress_span(const struct ln_progress *p, double lo, double hi)
{
    struct ln_progress q = {0};
    if (!p)
        return q;
    q = *p;
    double plo, phi;
    ln__span(p, &plo, &phi);
    q.lo = plo + lo * (phi - plo);
    q.hi = plo + hi * (phi - plo);
    if (q.lo == 0.0 && q.hi == 0.0)
        q.hi = 1e-12; /* keep a zero-width span distinct from "whole range" */
    return q;
}

int ln_progress_canceled(const struct ln_progress *p)
{
    return p && p->cancel && atomic_load(p->cancel) != 0;
}
