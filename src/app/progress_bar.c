/*
 * A single-line progress bar with the current stage, redrawn at most every
 * 100 ms on a terminal and absent when stderr is piped, so scripts get clean
 * logs. Log lines erase the bar first (via the logger's before-write hook)
 * and the bar redraws on the next report.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "app.h"
#include "ln_alloc.h"
#include "ln_log.h"
#include "ln_time.h"

struct ln_app_bar {
    int active;
    int drawn;
    double last_draw;
};

static void ln__bar_erase(void *user)
{
    struct ln_app_bar *bar = user;
    if (bar->drawn) {
        fputs("\r\033[K", stderr);
        bar->drawn = 0;
    }
}

static void ln__bar_report(void *user, const char *stage, double fraction)
{
    struct ln_app_bar *bar = user;
    double now = ln_time_now();
    if (now - bar->last_draw < 0.1 && fraction < 1.0)
        return;
    bar->last_draw = now;
    enum { WIDTH = 30 };
    int filled = (int)(fraction * WIDTH + 0.5);
    char cells[WIDTH + 1];
    for (int i = 0; i < WIDTH; i++)
        cells[i] = i < filled ? '#' : '.';
    cells[WIDTH] = 0;
    fprintf(stderr, "\r\033[K[%s] %3d%% %s", cells, (int)(fraction * 100.0 + 0.5), stage);
    fflush(stderr);
    bar->drawn = 1;
}

struct ln_app_bar *ln_app_bar_new(int quiet)
{
    struct ln_app_bar *bar = ln_xcalloc(1, sizeof *bar);
    bar->active = !quiet && isatty(STDERR_FILENO);
    if (bar->active)
        ln_log_set_before_write(ln__bar_erase, bar);
    return bar;
}

struct ln_progress ln_app_bar_progress(struct ln_app_bar *bar)
{
    struct ln_progress p = {0};
    if (bar->active) {
        p.report = ln__bar_report;
        p.user = bar;
    }
    return p;
}

void ln_app_bar_free(struct ln_app_bar *bar)
{
    if (!bar)
        return;
    if (bar->active) {
        ln_log_set_before_write(NULL, NULL);
        ln__bar_erase(bar);
    }
    free(bar);
}
