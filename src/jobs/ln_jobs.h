/*
 * The job manager: a bounded FIFO queue, worker threads that run the
 * engine, and the persistent job history (outputs/jobs.json, see
 * ln_store.h). The HTTP layer only validates and calls ln_jobs_submit; the
 * workers do the generation; both meet here under one mutex.
 *
 *     struct ln_jobs *jobs;
 *     ln_jobs_open(&cfg, &engines, &jobs, &err);  // loads history, requeues
 *     ln_jobs_start(jobs);                        // workers begin
 *     ln_jobs_submit(jobs, &req, &job, &existed, &err);  // durable before return
 *     ...
 *     ln_jobs_shutdown(jobs);                     // finish or requeue, flush
 *     ln_jobs_free(jobs);
 *
 * Durability: a job has its record in its folder (outputs/<id>/job.json,
 * see ln_folder.h) and its entry in jobs.json, both fsynced, before
 * ln_jobs_submit returns, and is marked succeeded only after its model file
 * is durably written, so killing the process at any instant loses no
 * acknowledged or finished job. Every change of status is written to the
 * record first, then to jobs.json. Jobs found running at start-up are queued
 * again; jobs that jobs.json lost are adopted back from their folders.
 *
 * Thread-safety: every function may be called from any thread; snapshots
 * (struct ln_job copies) are returned, never pointers into shared state.
 */
#ifndef LN_JOBS_H
#define LN_JOBS_H

#include <stddef.h>

#include "ln_engine.h"
#include "ln_error.h"
#include "ln_export.h"
#include "ln_job.h"

struct ln_jobs_config {
    const char *outputs_dir; /* job history and results, default "outputs" */
    /* NULL, "" or "file": outputs/jobs.json and the job folders. A
     * postgres:// or postgresql:// URI: the queue, history and files in
     * PostgreSQL (ln_pg.h; the schema is created or migrated at open, a
     * newer one refused), outputs/pg-cache a cache of its files, workers
     * local ones (0 allowed) beside any `lunar-nova worker`. */
    const char *store;
    int workers;             /* worker threads, default 1 */
    size_t max_queue;        /* queued jobs accepted, default 64 */
    size_t keep_jobs;        /* retention: newest finished jobs kept, 0 = all (default 1000) */
    double keep_seconds;     /* retention: finished jobs older than this are removed, 0 = never */
    /* What a job's inputs may decode to: the limits the uploads were
     * checked with (default ln_image_limits_default()). */
    struct ln_image_limits image_limits;
};

void ln_jobs_config_default(struct ln_jobs_config *cfg);

struct ln_jobs;

/* Opens (creating if needed) the outputs folder and its history, repairing
 * what can be repaired (see ln_store.h), reconciling the history with the
 * job folders (ln_folder.h: jobs it lost are adopted back, records ahead of
 * it win, unacknowledged folders are removed, one summary line is logged)
 * and queueing again every job that was queued or running. The set is copied; its engines are borrowed and
 * must outlive jobs. A job runs on the engine named in its record (chosen
 * at submit); when that engine is no longer in the set (a restart without
 * its weights), the job runs on the set's default for its image count and
 * carries a warning that says so. */
int ln_jobs_open(const struct ln_jobs_config *cfg, const struct ln_engine_set *engines,
                 struct ln_jobs **out, struct ln_error *err);
/* Starts the workers. */
int ln_jobs_start(struct ln_jobs *jobs, struct ln_error *err);
/* The engine set jobs are given to (a copy; its engines are borrowed). */
void ln_jobs_engines(struct ln_jobs *jobs, struct ln_engine_set *out);
/* Replaces the engine set while jobs run (serve --pull-models adds triposr
 * when its weights arrive): later submissions choose from it and each job
 * looks its engine up in it when it starts; a job already running keeps the
 * engine it has. The engines of the old set must outlive jobs too. */
void ln_jobs_set_engines(struct ln_jobs *jobs, const struct ln_engine_set *engines);

/* A new job. The input files were written by the caller into a staging
 * folder inside outputs (ln_jobs_staging_dir); submit moves them into the
 * job's folder. */
struct ln_job_request {
    int n_inputs;
    const char *staged_paths[LN_MAX_VIEWS]; /* files to move into the job folder */
    struct ln_job_input inputs[LN_MAX_VIEWS]; /* name, content_type, bytes; file is set by submit */
    int has_views;
    struct ln_view views[LN_MAX_VIEWS];
    struct ln_generate_options options;
    /* The engine's name (validated with ln_engine_set_pick); NULL or "":
     * the first engine of the set that takes n_inputs images. */
    const char *engine;
    const char *idempotency_key; /* NULL or "" for none */
};

/* Queues a job and persists it before returning a snapshot in *job. With an
 * idempotency key already used, returns that job instead (*existed = 1) and
 * removes the staged files. Errors: LN_EINVAL when no engine of the set
 * fits (the message is ln_engine_set_pick's), LN_EBUSY when the queue is full,
 * LN_EBUSY when shutting down, LN_EIO when the history cannot be written
 * (then nothing was queued). */
int ln_jobs_submit(struct ln_jobs *jobs, const struct ln_job_request *req, struct ln_job *job,
                   int *existed, struct ln_error *err);

/* Snapshot of one job; LN_ENOTFOUND for an unknown or invalid id. */
int ln_jobs_get(struct ln_jobs *jobs, const char *id, struct ln_job *job, struct ln_error *err);

/* Newest first, optionally only one status (-1 = all). *out is a new array
 * of *n snapshots (caller frees); *total counts all matching jobs. */
int ln_jobs_list(struct ln_jobs *jobs, int status, size_t offset, size_t limit,
                 struct ln_job **out, size_t *n, size_t *total, struct ln_error *err);

/* Cancels a queued job at once, or asks a running one to stop at its next
 * stage boundary. Canceling a finished job is LN_EINVAL ("already
 * succeeded"). Returns the snapshot after the change. */
int ln_jobs_cancel(struct ln_jobs *jobs, const char *id, struct ln_job *job, struct ln_error *err);

/* Removes a job and its folder (a running job is canceled first). Takes
 * the manager's lock only for the in-memory steps; the deletion mark, the
 * history's fsyncs and the folder's removal run on the calling thread
 * without it, so it takes milliseconds: the HTTP server calls it on a
 * helper thread. A job whose deletion is under way is LN_ENOTFOUND. When
 * the history cannot be written the job stays (LN_EIO). */
int ln_jobs_delete(struct ln_jobs *jobs, const char *id, struct ln_error *err);

/* Waits until the job's version differs from seen_version or timeout_s
 * passes, then returns its snapshot (for Server-Sent Events). */
int ln_jobs_wait(struct ln_jobs *jobs, const char *id, uint64_t seen_version, double timeout_s,
                 struct ln_job *job, struct ln_error *err);

/* Waits until anything changes (any job's status, stage or progress, a
 * removal, a worker going idle, shutdown) or timeout_s passes, and returns
 * the count of changes so far; a timeout of 0 returns the count at once.
 * Passing the count last returned, one thread can watch every job at once
 * (the HTTP server's event-stream notifier) and miss no change. */
uint64_t ln_jobs_wait_any(struct ln_jobs *jobs, uint64_t seen_changes, double timeout_s);

/* Path of a file in a job's folder: outputs/<id>/<name> (no check that it
 * exists). Returns LN_ENOTFOUND for an invalid id, LN_EINVAL for a name
 * with a slash. */
int ln_jobs_path(struct ln_jobs *jobs, const char *id, const char *name, char *buf, size_t n,
                 struct ln_error *err);
/* Path of a succeeded job's model in fmt. The GLB is written by the worker;
 * other formats are converted from it on first request and kept (written
 * atomically, so concurrent requests are safe). LN_ENOTFOUND when the job
 * is unknown or has no model (not succeeded). */
int ln_jobs_model(struct ln_jobs *jobs, const char *id, enum ln_mesh_format fmt, char *buf,
                  size_t n, struct ln_error *err);
/* Path of a succeeded job's model.zip: the OBJ with its material and
 * texture (ln_mesh_encode_obj_zip, entries named after the job id), made
 * from the GLB on first request and kept, as ln_jobs_model. */
int ln_jobs_model_zip(struct ln_jobs *jobs, const char *id, char *buf, size_t n,
                      struct ln_error *err);

/* A fresh, empty folder for one request's uploads, inside outputs (so the
 * move into the job folder is a rename). The caller removes it if the
 * request fails; ln_jobs_open clears leftovers. */
int ln_jobs_staging_dir(struct ln_jobs *jobs, char *buf, size_t n, struct ln_error *err);

/* Queue figures read without waiting for the manager's lock (which a
 * history save may hold for milliseconds): what /health reports. */
struct ln_jobs_queue_stats {
    size_t depth;
    size_t capacity;
    int running;
    int workers;
};
void ln_jobs_queue_stats(struct ln_jobs *jobs, struct ln_jobs_queue_stats *q);

#define LN_JOBS_DURATION_BUCKETS 10
struct ln_jobs_metrics {
    size_t by_status[LN_JOB_STATUS_COUNT];
    size_t queue_depth;
    size_t queue_capacity;
    int workers;
    /* histogram of generation seconds of finished jobs (Prometheus style) */
    double bucket_bounds[LN_JOBS_DURATION_BUCKETS]; /* upper bounds, seconds */
    uint64_t bucket_counts[LN_JOBS_DURATION_BUCKETS]; /* cumulative, le bound */
    uint64_t duration_count;
    double duration_sum;
};
void ln_jobs_metrics(struct ln_jobs *jobs, struct ln_jobs_metrics *m);

/* Stops accepting jobs, lets running jobs finish within grace_s seconds
 * (canceled and queued again after that), stops the workers and flushes the
 * history. Idempotent. */
void ln_jobs_shutdown(struct ln_jobs *jobs, double grace_s);
void ln_jobs_free(struct ln_jobs *jobs);

#endif
