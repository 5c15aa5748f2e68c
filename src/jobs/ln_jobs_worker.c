/*
 * The job manager's workers: each takes the first queued job, runs the
 * engine on it outside the locks (decode, generate, model.glb,
 * preview.png) and records the result (ln_jobs_int.h for the locking).
 */
#include "ln_jobs_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ln_alloc.h"
#include "ln_job_run.h"
#include "ln_log.h"
#include "ln_sys.h"
#include "ln_time.h"

const double ln__bucket_bounds[LN_JOBS_DURATION_BUCKETS] = {
    0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600,
};

void ln__jobs_count_duration(struct ln_jobs *J, double seconds)
{
    if (seconds < 0)
        seconds = 0;
    for (int b = 0; b < LN_JOBS_DURATION_BUCKETS; b++)
        if (seconds <= ln__bucket_bounds[b])
            J->bucket_counts[b]++;
    J->duration_count++;
    J->duration_sum += seconds;
}

/* ---- the worker ---- */

static void ln__on_progress(void *user, const char *stage, double fraction)
{
    struct ln__worker *w = user;
    struct ln_jobs *J = w->jobs;
    /* Progress changes only memory, but under mu: skip reports that would
     * not show (same stage, less than a percent). */
    int same_stage = strncmp(stage, w->last_stage, sizeof w->last_stage - 1) == 0;
    if (same_stage && fraction - w->last_fraction < 0.01 && fraction < 1.0)
        return;
    snprintf(w->last_stage, sizeof w->last_stage, "%s", stage);
    w->last_fraction = fraction;

    pthread_mutex_lock(&J->mu);
    struct ln_job *job = ln__find(J, w->id);
    if (job && job->status == LN_JOB_STATUS_RUNNING) {
        if (!w->user_canceled)
            snprintf(job->stage, sizeof job->stage, "%s", stage);
        job->progress = fraction;
        job->version = ++J->version;
        ln__changed(J);
    }
    pthread_mutex_unlock(&J->mu);
}

/* Runs one job outside the lock (ln_job_run: inputs from the job folder,
 * the engine, model.glb, preview.png), reporting progress into the table. */
static int ln__run(struct ln_jobs *J, struct ln__worker *w, struct ln_job *job,
                   struct ln_error *err)
{
    char folder[4096];
    if (snprintf(folder, sizeof folder, "%s/%s", J->outputs, job->id) >= (int)sizeof folder)
        return ln_error_set(err, LN_EINTERNAL, "the outputs path is too long");
    w->last_stage[0] = 0;
    w->last_fraction = -1.0;
    struct ln_progress progress = {.report = ln__on_progress, .user = w, .cancel = &w->cancel};
    struct ln_engine_set engines;
    ln_jobs_engines(J, &engines);
    const struct ln_job_run_env env = {.engines = &engines, .limits = &J->image_limits};
    return ln_job_run(&env, folder, job, &progress, err);
}

/* Records what a run ended with (smu held, mu not): the next state is
 * decided under mu, written without it, and taken by the table under mu. */
static void ln__finish(struct ln_jobs *J, struct ln__worker *w, const struct ln_job *result, int rc,
                       const struct ln_error *err)
{
    pthread_mutex_lock(&J->mu);
    struct ln_job *job = w->deleted ? NULL : ln__find(J, w->id);
    if (!job) {
        ln__doom(J, w->id);
        pthread_mutex_unlock(&J->mu);
        return;
    }
    struct ln_job next = *job;
    int requeue = w->requeue && !w->user_canceled;
    pthread_mutex_unlock(&J->mu);

    if (rc == LN_ECANCELED && requeue) {
        next.status = LN_JOB_STATUS_QUEUED;
        snprintf(next.stage, sizeof next.stage, "queued");
        next.progress = 0.0;
        next.started_at = 0.0;
    } else {
        if (rc == LN_OK)
            ln_job_copy_report(&next, result);
        else /* what computed it until it failed ("" when no engine ran) */
            memcpy(next.device, result->device, sizeof next.device);
        ln_job_set_outcome(&next, rc, err->message, ln_time_wall());
    }
    ln__persist_or_log(J, &next);

    pthread_mutex_lock(&J->mu);
    /* A deletion may have taken the job from the table meanwhile (its step
     * 4 needs no smu): its folder is then this worker's to remove. */
    job = w->deleted ? NULL : ln__find(J, w->id);
    if (!job) {
        ln__doom(J, w->id);
        pthread_mutex_unlock(&J->mu);
        return;
    }
    ln__commit(J, job, &next);
    if (next.status == LN_JOB_STATUS_QUEUED) {
        ln__queue_push(J, next.id, 1);
        pthread_mutex_unlock(&J->mu);
        ln_log_info("job %s stopped by the shutdown: queued again", next.id);
        return;
    }
    ln__jobs_count_duration(J, next.finished_at - next.started_at);
    pthread_mutex_unlock(&J->mu);

    if (next.status == LN_JOB_STATUS_SUCCEEDED)
        ln_log_info("job %s succeeded: %zu faces in %.2f s", next.id, next.mesh.n_faces,
                    next.finished_at - next.started_at);
    else if (next.status == LN_JOB_STATUS_FAILED)
        ln_log_info("job %s failed: %s", next.id, next.error);
    else
        ln_log_info("job %s canceled", next.id);
    ln__retain(J);
}

/* Takes the first queued job for worker w and records it as running (smu
 * held, mu not). Returns 0 when there was none left to take (another
 * worker took it, or a deletion removed it). */
static int ln__claim(struct ln_jobs *J, struct ln__worker *w, struct ln_job *next)
{
    pthread_mutex_lock(&J->mu);
    struct ln_job *job = NULL;
    while (!J->stopping && J->n_queue > 0 && !job) {
        char id[LN_JOB_ID_LEN + 1];
        memcpy(id, J->queue[0], sizeof id);
        ln__queue_remove(J, id);
        job = ln__find(J, id);
        if (job && job->status != LN_JOB_STATUS_QUEUED)
            job = NULL;
    }
    if (!job) {
        pthread_mutex_unlock(&J->mu);
        return 0;
    }
    *next = *job;
    ln_job_set_started(next, job->attempts + 1, ln_time_wall());
    /* Busy from here: shutdown waits for this worker, and a cancel or a
     * deletion that comes before the job shows as running reaches it. */
    w->busy = 1;
    atomic_fetch_add(&J->pub_running, 1);
    memcpy(w->id, next->id, sizeof w->id);
    w->user_canceled = 0;
    w->deleted = 0;
    w->requeue = 0;
    atomic_store(&w->cancel, 0);
    pthread_mutex_unlock(&J->mu);

    ln__persist_or_log(J, next);

    pthread_mutex_lock(&J->mu);
    job = ln__find(J, next->id);
    if (job && job->status == LN_JOB_STATUS_QUEUED) {
        ln__commit(J, job, next);
        pthread_mutex_unlock(&J->mu);
        return 1;
    }
    /* Deleted meanwhile (its folder went with the deletion: the job was
     * not yet running). */
    w->busy = 0;
    atomic_fetch_sub(&J->pub_running, 1);
    w->id[0] = 0;
    ln__changed(J);
    pthread_mutex_unlock(&J->mu);
    return 0;
}

void *ln__worker_main(void *arg)
{
    struct ln__worker *w = arg;
    struct ln_jobs *J = w->jobs;
    /* Generation runs in the background (nice 10 on Linux, background mode
     * on Windows: the HTTP threads come first, which keeps the answers to
     * /health and the API prompt while a job computes, and a job still
     * moves beside other busy programs, DESIGN comment of
     * ln_thread_set_background); the threads a job starts run there too. */
    struct ln_error perr = {0};
    if (ln_thread_set_background(&perr) < 0)
        ln_log_debug("could not lower the worker's priority: %s", perr.message);
    for (;;) {
        pthread_mutex_lock(&J->mu);
        while (!J->stopping && J->n_queue == 0)
            pthread_cond_wait(&J->work, &J->mu);
        int stop = J->stopping;
        pthread_mutex_unlock(&J->mu);
        if (stop)
            break;

        struct ln_job *result = ln_xmalloc(sizeof *result);
        pthread_mutex_lock(&J->smu);
        int claimed = ln__claim(J, w, result);
        pthread_mutex_unlock(&J->smu);
        if (!claimed) {
            free(result);
            continue;
        }

        struct ln_error err = {0};
        int rc = ln__run(J, w, result, &err);

        pthread_mutex_lock(&J->smu);
        ln__finish(J, w, result, rc, &err);
        pthread_mutex_lock(&J->mu);
        w->busy = 0;
        atomic_fetch_sub(&J->pub_running, 1);
        w->id[0] = 0;
        ln__changed(J);
        pthread_mutex_unlock(&J->mu);
        pthread_mutex_unlock(&J->smu);
        free(result);
        ln__remove_doomed(J);
    }
    return NULL;
}
