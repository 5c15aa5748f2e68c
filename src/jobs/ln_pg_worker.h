/*
 * A worker of the PostgreSQL job store (`lunar-nova worker`): takes one
 * job at a time from the database, runs it as the file store's workers do
 * (ln_job_run) in a local scratch folder, and stores its result.
 *
 *     struct ln_pg_worker *w;
 *     ln_pg_worker_new(conninfo, &opts, &env, &w, &err);
 *     while (!stopping)
 *         if (ln_pg_worker_step(w, &did, &err) ... did == 0: nothing queued, wait
 *     ln_pg_worker_free(w);
 *
 * DESIGN: two connections, two threads. The stepping thread claims a job,
 * copies its inputs into <scratch>/<id>/, runs it and finishes it (results
 * and record in one transaction, fenced by the lease token). While it
 * runs, a renewer thread with a connection of its own extends the lease
 * every second (a third of a shorter lease) and stores the stage and progress the run
 * reported (under `mu`, the only state the two threads share besides the
 * atomic cancel flag). A renewal that finds a cancel asked for, or the
 * lease lost (the database thought this worker dead and gave the job to
 * another), raises the cancel flag, which the engine polls: a lost job's
 * result is not stored (the finish is refused by its token). ln_pg_worker_stop
 * (any thread) raises it too; the job is then given back, queued for
 * another worker, instead of waiting for its lease to run out.
 */
#ifndef LN_PG_WORKER_H
#define LN_PG_WORKER_H

#include "ln_error.h"
#include "ln_job_run.h"

struct ln_pg_worker_options {
    const char *name;    /* shown as the lease's owner (default host name and pid) */
    const char *scratch; /* local folder for the running job's files */
    double lease_s;      /* lease length (default 30 s) */
};

struct ln_pg_worker;

/* Opens the worker's two connections; the schema must be current (run
 * ln_pg_migrate first: a worker never migrates a database). */
int ln_pg_worker_new(const char *conninfo, const struct ln_pg_worker_options *opt,
                     const struct ln_job_run_env *env, struct ln_pg_worker **out,
                     struct ln_error *err);
/* Claims and runs one job to its end. *ran is 1 when there was one (its
 * own outcome, success or failure, is in the database), 0 when nothing was
 * queued. An error is the database's (the job, if any, stays leased and is
 * taken again when the lease runs out). */
int ln_pg_worker_step(struct ln_pg_worker *w, int *ran, struct ln_error *err);
/* Asks the running job, if any, to stop and be given back (any thread). */
void ln_pg_worker_stop(struct ln_pg_worker *w);
/* Stops the running job when it is job id, which then ends canceled
 * (any thread: a cancel or deletion through this process's API, seen at
 * once instead of at the next renewal). */
void ln_pg_worker_cancel(struct ln_pg_worker *w, const char *id);
void ln_pg_worker_free(struct ln_pg_worker *w);

#endif
