/*
 * Private to the job manager (src/jobs/ln_jobs*.c): its state and the
 * functions its files share. Nothing outside src/jobs includes this.
 *
 * DESIGN: how the threads meet. Two mutexes, always taken in this order:
 *   - smu, the save lock, orders the writes: whoever changes a job's
 *     record or the history (a submission, a cancel of a queued job, a
 *     worker starting or finishing a job, retention, a deletion's steps 2
 *     and 3) holds it from deciding the change to making it visible, so
 *     records and jobs.json follow the changes in one order. It guards the
 *     history document (doc, dirty, store). It is held across fsyncs.
 *   - mu guards the in-memory table: everything below the "under mu" line
 *     of struct ln_jobs and struct ln__worker. It is held only for memory:
 *     never across a write, an fsync or a folder removal, so GET /jobs/{id},
 *     the listing and the event notifier never wait for the disk. Two
 *     condition variables hang off it:
 *       - `work`: workers sleep on it while the queue is empty;
 *         ln_jobs_submit signals it after a job is durably queued, shutdown
 *         broadcasts it.
 *       - `changed`: broadcast whenever any job changes (status, stage,
 *         progress, removal) and whenever a worker goes idle, each time
 *         with `changes` counted up. Waiters sleep on it with a timeout:
 *         ln_jobs_wait compares one job's version, ln_jobs_wait_any the
 *         count (the HTTP server's one event-stream notifier); shutdown
 *         sleeps on it until the workers are idle.
 * A change is made in three moves: under mu, the next state is computed
 * from the table; without mu (smu held), the record and then the history
 * are written (ln__persist); under mu again, the table takes the change and
 * the waiters are woken. Readers therefore never see a change that is not
 * yet durable. What may happen to the table in between without smu (a
 * deletion's steps 1 and 4, progress, the cancel flag of a running job) is
 * checked when the table takes the change. A worker takes the locks to pop
 * a job and mark it running, releases both for the whole generation
 * (decode, engine, export, preview), and takes them again to record the
 * result. Cancellation crosses without the locks: each worker has an atomic
 * flag that the engine polls between stages. A job deleted while it runs
 * is removed from the table at once; its worker removes the folder when the
 * engine returns.
 */
#ifndef LN_JOBS_INT_H
#define LN_JOBS_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "ln_jobs.h"
#include "ln_store.h"

#define LN__STAGING_PREFIX ".staging-"

/* The upper bounds of the job-duration histogram (ln_jobs_metrics), in
 * seconds. */
extern const double ln__bucket_bounds[LN_JOBS_DURATION_BUCKETS];

/* Counts a finished run of `seconds` (below 0: 0) in the duration
 * histogram; under J->mu. */
void ln__jobs_count_duration(struct ln_jobs *J, double seconds);

struct ln__pg;

struct ln__worker {
    struct ln_jobs *jobs;
    pthread_t thread;
    int started;
    atomic_int cancel; /* polled by the engine through struct ln_progress */
    /* worker thread only: throttles progress reports */
    char last_stage[32];
    double last_fraction;
    /* under mu */
    int busy;
    char id[LN_JOB_ID_LEN + 1];
    int user_canceled; /* canceled or deleted through the API */
    int deleted;       /* removed from the table while running */
    int requeue;       /* shutdown ran out of grace: queue it again */
};

struct ln_jobs {
    char *outputs;
    int n_workers;
    size_t max_queue;
    size_t keep_jobs;
    double keep_seconds;
    struct ln_image_limits image_limits;
    pthread_mutex_t smu; /* orders the writes: taken before mu, never while holding it */
    pthread_mutex_t mu;
    pthread_cond_t work;
    pthread_cond_t changed;
    struct ln__worker *workers;
    /* under smu */
    struct ln_store *store;
    json_t *doc; /* id -> job object: what jobs.json holds */
    int dirty;   /* a save failed; the next save or shutdown retries */
    /* under mu */
    struct ln_engine_set engines; /* a copy; the engines are borrowed */
    struct ln_job *table; /* oldest first */
    size_t n_table, cap_table;
    json_t *index;    /* id -> position in table */
    json_t *keys;     /* idempotency key -> id */
    json_t *deleting; /* id -> true: deletions between their mark and the table */
    json_t *doomed;   /* ids whose folders are to be removed once mu is released */
    char (*queue)[LN_JOB_ID_LEN + 1];
    size_t n_queue, cap_queue;
    /* Copies of n_queue and of the number of busy workers, written under mu
     * and read without it, so /health never waits behind a history save. */
    atomic_size_t pub_depth;
    atomic_int pub_running;
    uint64_t version;
    uint64_t changes; /* bumped with every broadcast of `changed` (ln_jobs_wait_any) */
    int started;
    int stopping; /* no new jobs; workers exit when idle */
    int shut_down;
    struct ln__pg *pg; /* the PostgreSQL store (ln_jobs_pg.c), NULL for the file store */
    uint64_t bucket_counts[LN_JOBS_DURATION_BUCKETS];
    uint64_t duration_count;
    double duration_sum;
};

/* ---- the table, the queue and the job folders (ln_jobs_table.c) ---- */

/* Removes outputs/<name> and everything in it (see ln_folder_remove). */
int ln__remove_folder(const struct ln_jobs *J, const char *name);
/* DESIGN: folders of jobs out of the history (retention, a job deleted
 * while it ran) are not removed under mu, where the unlinking would hold up
 * every reader: under mu their ids go to `doomed`, and the thread that
 * released mu removes them (ln__remove_doomed). The removal still follows
 * the history save that dropped the jobs, and a crash in between leaves
 * deletion marks that the next start finishes. */
void ln__doom(struct ln_jobs *J, const char *id);
/* Removes the doomed folders; called without mu. */
void ln__remove_doomed(struct ln_jobs *J);
int ln__job_file(const struct ln_jobs *J, const char *id, const char *name, char *buf, size_t n);
struct ln_job *ln__find(struct ln_jobs *J, const char *id);
void ln__reindex(struct ln_jobs *J);
void ln__append(struct ln_jobs *J, const struct ln_job *job);
/* Drops the job at position i (the caller reindexes). */
void ln__drop(struct ln_jobs *J, size_t i);
/* Wakes everyone who waits for changes (under mu). */
void ln__changed(struct ln_jobs *J);
/* Makes a change visible: copies next over the stored job with a new
 * version and wakes everyone who waits for changes. */
void ln__commit(struct ln_jobs *J, struct ln_job *slot, const struct ln_job *next);
void ln__queue_push(struct ln_jobs *J, const char *id, int front);
void ln__queue_remove(struct ln_jobs *J, const char *id);
struct ln__worker *ln__worker_of(struct ln_jobs *J, const char *id);

/* ---- persistence and retention (ln_jobs_save.c) ---- */

/* Writes the history document as jobs.json (smu held). */
int ln__save(struct ln_jobs *J, struct ln_error *err);
/* Writes the job's folder record (ln_folder.h) with `next`, then the
 * history with the same change. The record goes first: whatever instant a
 * crash picks, the record is never behind jobs.json, so the next start can
 * tell a finished job from its record even when jobs.json is lost or one
 * save behind. With `strict` a record that cannot be written refuses the
 * change (a submission is not acknowledged without its record); otherwise
 * the failure is logged and the history still saved. On failure the
 * document, the history file and the record are as before. The table is
 * the caller's to change afterwards. */
int ln__persist(struct ln_jobs *J, const struct ln_job *next, int strict, struct ln_error *err);
/* For changes made by workers, which cannot be refused: the change stands
 * in the job's record and in the document, the failure is logged, and the
 * next save carries it. */
void ln__persist_or_log(struct ln_jobs *J, const struct ln_job *next);
/* Removes the finished jobs beyond what the configuration keeps (a number,
 * an age). Chosen under mu; each record goes before the history, as in
 * ln__persist, so that a crash in between cannot bring a removed job back
 * from its folder, and a job whose record cannot be removed stays until
 * the next try; then the table drops them under mu and their folders are
 * doomed (ln__remove_doomed). A job marked for deletion after the choice
 * is removed all the same; its deletion then finds it gone. */
void ln__retain(struct ln_jobs *J);

/* ---- the workers (ln_jobs_worker.c) ---- */

/* A worker thread's body (arg: its struct ln__worker). */
void *ln__worker_main(void *arg);

/* ---- the PostgreSQL store (ln_jobs_pg.c, its DESIGN there) ---- */

/* Whether a store names PostgreSQL (postgres:// or postgresql://). */
int ln__pg_is_uri(const char *store);
/* Connects, creates or migrates the schema, fills the table from the
 * database and starts following its changes; J->outputs is the file
 * cache (emptied). On failure the caller frees J. */
int ln__pg_open(struct ln_jobs *J, const char *conninfo, struct ln_error *err);
/* Starts the local workers (J->n_workers, 0 for none). */
int ln__pg_start(struct ln_jobs *J, struct ln_error *err);
/* Stores a new job whose inputs are in its cache folder (smu held). When
 * a job with its idempotency key is in the database already (queued
 * through another server), nothing is stored and existing gets its id. */
int ln__pg_submit(struct ln_jobs *J, const struct ln_job *job,
                  char existing[LN_JOB_ID_LEN + 1], struct ln_error *err);
/* Job id as the database has it, into the table and *out. */
int ln__pg_existing(struct ln_jobs *J, const char *id, struct ln_job *out, struct ln_error *err);
int ln__pg_cancel(struct ln_jobs *J, const char *id, struct ln_job *out, struct ln_error *err);
int ln__pg_delete(struct ln_jobs *J, const char *id, struct ln_error *err);
/* Copies a job's file from the database into its cache folder unless it
 * is there (nothing when the database has no such file). */
void ln__pg_fetch(struct ln_jobs *J, const char *id, const char *name);
void ln__pg_shutdown(struct ln_jobs *J, double grace_s);
void ln__pg_free(struct ln_jobs *J);

#endif
