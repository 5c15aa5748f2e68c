/*
 * The job queue and history in PostgreSQL (libpq): what several servers and
 * workers on several machines share instead of outputs/jobs.json. One
 * struct ln_pg is one connection, used by one thread at a time (a worker
 * thread or the server's request side each open their own).
 *
 *     struct ln_pg *pg;
 *     ln_pg_open("postgres://lunar@db/lunar", &pg, &err);
 *     ln_pg_migrate(pg, &from, &to, &err);        // schema to this program's
 *     ln_pg_submit(pg, id, record, inputs, 1, &err);
 *     struct ln_pg_lease l;
 *     if (ln_pg_claim(pg, "host-1", 30.0, &l, &err) == LN_OK) {
 *         ... ln_pg_renew(pg, &l, 30.0, progress_record, &cancel, &err) ...
 *         ln_pg_finish(pg, &l, "succeeded", record, results, n, &err);
 *         ln_pg_lease_free(&l);
 *     }
 *
 * DESIGN: who may change a job. A claim takes the oldest queued job, or a
 * running one whose lease has run out (its worker died or lost the
 * database), with SELECT ... FOR UPDATE SKIP LOCKED, so concurrent claims
 * never wait for each other nor take the same row, and gives it a fresh
 * lease token from a sequence. Every later change by the worker (renew,
 * finish) names the token and changes nothing when the row holds another
 * (LN_ECANCELED: the lease was lost): a worker that was presumed dead and
 * comes back cannot overwrite the result of the worker that took its job
 * over, so a job is finished at most once. Each change is one statement or
 * one transaction; a trigger notifies channel "ln_jobs" with the job's id
 * after every change, for LISTEN.
 *
 * The schema is versioned (table ln_schema): ln_pg_migrate applies the
 * migrations this program knows, each in its own transaction under an
 * advisory lock (two programs starting at once migrate once), and refuses
 * a database whose version is newer than the program's.
 */
#ifndef LN_PG_H
#define LN_PG_H

#include <stddef.h>
#include <stdint.h>

#include "ln_error.h"

/* The schema version this program writes. */
#define LN_PG_SCHEMA_VERSION 1

struct ln_pg;

/* A file stored with a job: an input as uploaded, or a result. */
struct ln_pg_file {
    const char *name;         /* "input-0.png", "model.glb", ... */
    const char *content_type; /* "image/png", ... */
    const void *data;
    size_t size;
};

/* A claimed job: its id, the record as claimed (JSON text, status
 * "running") and the lease token every later change must name. */
struct ln_pg_lease {
    char id[64];
    int64_t token;
    int attempts; /* claims of this job so far, this one included */
    char *record;
};

/* Whether this build can reach PostgreSQL at all (0 for a build made
 * without libpq; every call then fails with a line saying so). */
int ln_pg_available(void);

/* Connects (a libpq connection string or postgres:// URI). The message of
 * a failure names the server's reason, never the password. */
int ln_pg_open(const char *conninfo, struct ln_pg **out, struct ln_error *err);
void ln_pg_close(struct ln_pg *pg);

/* The database's schema version (0: none yet). */
int ln_pg_schema_version(struct ln_pg *pg, int *version, struct ln_error *err);
/* Brings the schema up to LN_PG_SCHEMA_VERSION; *from and *to (either may
 * be NULL) say what it was and is. A database at a newer version is
 * refused (LN_EINVAL) and left alone; a current one is only read (a role
 * without the right to create tables gets through). */
int ln_pg_migrate(struct ln_pg *pg, int *from, int *to, struct ln_error *err);

/* Queues a job: its record (JSON text of the job object, status "queued")
 * and its input files, in one transaction. LN_EINVAL if the id exists. */
int ln_pg_submit(struct ln_pg *pg, const char *id, const char *record,
                 const struct ln_pg_file *inputs, size_t n_inputs, struct ln_error *err);

/* ln_pg_submit for a job with an idempotency key (the record's
 * "idempotency_key"): when a job with that key is in the database already,
 * nothing is written and its id goes to existing (LN_OK); otherwise
 * existing is "" and the job is queued. Two programs submitting one key at
 * once queue one job. key NULL or "": ln_pg_submit. */
int ln_pg_submit_once(struct ln_pg *pg, const char *id, const char *record, const char *key,
                      const struct ln_pg_file *inputs, size_t n_inputs, char existing[64],
                      struct ln_error *err);

/* Adds a job as it stands elsewhere (moving a history into the database):
 * any status, its record, when it was created (Unix seconds, 0 = now),
 * its attempts and its files, in one transaction; *added is 0 (nothing
 * written) when a job with this id is there already. */
int ln_pg_import(struct ln_pg *pg, const char *id, const char *status, const char *record,
                 double created, int attempts, const struct ln_pg_file *files, size_t n_files,
                 int *added, struct ln_error *err);

/* What ln_pg_import_outputs did. */
struct ln_pg_import_report {
    size_t jobs;     /* jobs added */
    size_t requeued; /* of those, queued or running ones added as queued */
    size_t present;  /* jobs the database had already (left as they are there) */
    size_t deleting; /* jobs whose deletion was under way (left out) */
    size_t files;    /* files added with the jobs */
    uint64_t bytes;  /* their size */
};
/* Copies the history of a server's outputs folder into the database: see
 * ln_pg_import.c. Stops at the first error (what was added stays; running
 * it again adds the rest). */
int ln_pg_import_outputs(struct ln_pg *pg, const char *outputs, struct ln_pg_import_report *rep,
                         struct ln_error *err);

/* Claims the oldest queued job or an expired lease for `worker`, holding
 * it for lease_s seconds. LN_OK with *out filled, LN_ENOTFOUND when there
 * is nothing to claim. */
int ln_pg_claim(struct ln_pg *pg, const char *worker, double lease_s, struct ln_pg_lease *out,
                struct ln_error *err);
/* Extends the lease by lease_s from now and, when record is not NULL,
 * stores it (stage and progress). *cancel (may be NULL) says whether a
 * cancel was asked for. LN_ECANCELED when the lease was lost. */
int ln_pg_renew(struct ln_pg *pg, const struct ln_pg_lease *lease, double lease_s,
                const char *record, int *cancel, struct ln_error *err);
/* Ends a claim: status ("succeeded", "failed" or "canceled"), the final
 * record and the result files, in one transaction. LN_ECANCELED (nothing
 * written) when the lease was lost. */
int ln_pg_finish(struct ln_pg *pg, const struct ln_pg_lease *lease, const char *status,
                 const char *record, const struct ln_pg_file *results, size_t n_results,
                 struct ln_error *err);
/* Gives a claimed job back (a worker stopping cleanly): queued again at
 * once, for another worker, without waiting for the lease to run out.
 * LN_ECANCELED when the lease was lost already. */
int ln_pg_release(struct ln_pg *pg, const struct ln_pg_lease *lease, struct ln_error *err);
void ln_pg_lease_free(struct ln_pg_lease *lease);

/* Cancels: a queued job becomes canceled at once (*now = 1); a running
 * one is asked to stop (its worker sees it at its next renew, *now = 0).
 * LN_ENOTFOUND for an unknown job, LN_EINVAL for a finished one. */
int ln_pg_cancel(struct ln_pg *pg, const char *id, int *now, struct ln_error *err);
/* Removes a job and its files. LN_ENOTFOUND when there is none. */
int ln_pg_delete(struct ln_pg *pg, const char *id, struct ln_error *err);

/* The record of one job (JSON text, caller frees) and its status column. */
int ln_pg_get(struct ln_pg *pg, const char *id, char **record, char status[16],
              struct ln_error *err);
/* One file of a job (caller frees *data). LN_ENOTFOUND when missing. */
int ln_pg_file_get(struct ln_pg *pg, const char *id, const char *name, void **data,
                   size_t *size, char content_type[128], struct ln_error *err);
/* Every job, oldest first: each(user, id, status, record) per row. */
int ln_pg_list(struct ln_pg *pg,
               void (*each)(void *user, const char *id, const char *status, const char *record),
               void *user, struct ln_error *err);

/* Subscribes this connection to the change notifications (channel
 * "ln_jobs", payload the job's id). A connection that listens is then
 * only read through ln_pg_notified (and ln_pg_get, ln_pg_list). */
int ln_pg_listen(struct ln_pg *pg, struct ln_error *err);
/* Waits up to timeout_s for notifications and calls each(user, id) for
 * every one received. *n (may be NULL) counts them. LN_EIO when the
 * connection is lost: the caller opens a new one and listens again,
 * reading everything anew (changes made meanwhile were not notified). */
int ln_pg_notified(struct ln_pg *pg, double timeout_s, void (*each)(void *user, const char *id),
                   void *user, size_t *n, struct ln_error *err);

/* How many jobs have each status: queued, running, succeeded, failed,
 * canceled (in that order). */
int ln_pg_counts(struct ln_pg *pg, int64_t counts[5], struct ln_error *err);

#endif
