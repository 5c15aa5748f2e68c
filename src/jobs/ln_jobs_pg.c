/*
 * The job manager on the PostgreSQL store (ln_jobs_config.store set to a
 * postgres:// URI): the same functions as on the file store, with the
 * database holding the queue, the history and the files (ln_pg.h).
 *
 * DESIGN: a mirror fed by LISTEN/NOTIFY, three kinds of connection. The
 * job table of struct ln_jobs (under mu) becomes a mirror of the
 * database's, so everything that only reads it (GET /jobs/{id}, the
 * listing, /health, /metrics, the event streams through ln_jobs_wait and
 * ln_jobs_wait_any) is the file store's code, unchanged, and never waits
 * for the database. Connections are never shared between threads at once:
 *   - the listener thread owns `lis`: it LISTENs on channel ln_jobs, reads
 *     every job once (after LISTEN, so no change falls in between), then
 *     for each notification reads that job's row and puts it in the mirror
 *     (ln__pg_apply) or takes it out when the row is gone. Any process's
 *     change (another server's submit, a `lunar-nova worker`'s progress)
 *     thus reaches the mirror and wakes the event streams. When the
 *     connection is lost it connects again every second and reads
 *     everything anew (jobs deleted meanwhile leave the mirror).
 *   - request threads (HTTP threads, the server's helper threads) share
 *     `req`, one request at a time under `rmu`: submit, cancel, delete,
 *     and fetching a file into the cache. libpq learns that a connection
 *     was lost (the database restarted) only when a request fails, and
 *     ln_pg makes it again at the next call: each request is made once
 *     more after LN_EIO, so a restart costs no client an error. A change made here is put in the
 *     mirror by the thread that made it as well, so its client reads its
 *     own write at once; the listener's copy of the same change follows.
 *   - each local worker (serve --workers N, N may be 0) is an
 *     ln_pg_worker with its two connections, the same claim, lease and
 *     fencing path as `lunar-nova worker`. It sleeps on `changed` while
 *     the mirror has nothing queued (at most a second: an expired lease is
 *     not notified) and takes the engine set from the manager before each
 *     job. A cancel or deletion made through this server stops a job that
 *     one of its own workers runs at once (ln_pg_worker_cancel); one run
 *     elsewhere sees it at its next renewal (a second).
 * Files: outputs/pg-cache/<id>/ holds what was read from the database
 * (inputs, model.glb, preview.png) and the other formats converted from
 * the model, so each is read once; a job's files never change once
 * written, and its cache folder goes with the job. The cache is emptied at
 * start-up. Retention (keep_jobs, keep_seconds) runs on the listener
 * thread after each batch of changes, deleting through `req`.
 */
#include "ln_jobs_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_file.h"
#include "ln_fs.h"
#include "ln_log.h"
#include "ln_pg.h"
#include "ln_pg_worker.h"
#include "ln_sys.h"
#include "ln_time.h"

/* The largest file read from the database into the cache. */
#define LN__PG_FILE_MAX ((size_t)1 << 30)

struct ln__pgw {
    struct ln_jobs *jobs;
    struct ln_pg_worker *w;
    pthread_t thread;
    int started;
    struct ln_engine_set engines; /* the worker thread's copy, taken between jobs */
};

struct ln__pg {
    char *conninfo;
    pthread_mutex_t rmu; /* the request connection */
    struct ln_pg *req;
    struct ln_pg *lis; /* the listener thread's (before it starts: ln__pg_open's) */
    int lis_failed;    /* listener thread only: a read failed, connect again */
    pthread_t listener;
    int listening;
    atomic_int stop; /* the listener ends */
    struct ln__pgw *workers;
    int n_workers;
    int live; /* under mu: local workers still in their loop */
};

int ln__pg_is_uri(const char *store)
{
    return store &&
           (strncmp(store, "postgres://", 11) == 0 || strncmp(store, "postgresql://", 13) == 0);
}

/* A row as the job it holds; the status column wins over the record's
 * (a claim, a release or a cancel changes the column first). NULL when
 * the record is unusable. */
static struct ln_job *ln__pg_parse(const char *id, const char *status, const char *record)
{
    json_error_t je;
    json_t *obj = json_loads(record, 0, &je);
    struct ln_job *job = ln_xcalloc(1, sizeof *job);
    struct ln_error err = {0};
    int st = ln_job_status_parse(status);
    if (!obj || ln_job_from_json(obj, job, &err) < 0 || strcmp(job->id, id) != 0 || st < 0) {
        ln_log_warn("job %.40s: its record in the database is unusable: %s", id,
                    err.message[0] ? err.message
                    : !obj         ? je.text
                                   : "another id or status");
        json_decref(obj);
        free(job);
        return NULL;
    }
    json_decref(obj);
    if ((int)job->status != st) {
        job->status = (enum ln_job_status)st;
        if (st == LN_JOB_STATUS_QUEUED) {
            snprintf(job->stage, sizeof job->stage, "queued");
            job->progress = 0.0;
        } else if (st == LN_JOB_STATUS_RUNNING) {
            snprintf(job->stage, sizeof job->stage, "starting");
        } else if (st == LN_JOB_STATUS_CANCELED) {
            snprintf(job->stage, sizeof job->stage, "canceled");
        }
    }
    return job;
}

/* Puts a job as the database has it into the mirror (under mu). live: a
 * change seen as it happened, counted in the duration histogram. */
static void ln__pg_apply(struct ln_jobs *J, const struct ln_job *job, int live)
{
    struct ln_job *slot = ln__find(J, job->id);
    int old = slot ? (int)slot->status : -1;
    if (slot) {
        struct ln_job *same = ln_xmalloc(sizeof *same);
        *same = *job;
        same->version = slot->version;
        int unchanged = memcmp(same, slot, sizeof *same) == 0;
        free(same);
        if (unchanged)
            return;
        ln__commit(J, slot, job);
    } else {
        ln__append(J, job);
        ln__changed(J);
    }
    int now = (int)job->status;
    if (now == old)
        return;
    if (now == LN_JOB_STATUS_QUEUED)
        ln__queue_push(J, job->id, 0);
    if (old == LN_JOB_STATUS_QUEUED)
        ln__queue_remove(J, job->id);
    if (old == LN_JOB_STATUS_RUNNING)
        atomic_fetch_sub(&J->pub_running, 1);
    if (now == LN_JOB_STATUS_RUNNING)
        atomic_fetch_add(&J->pub_running, 1);
    if (live && old >= 0 && !ln_job_status_is_final((enum ln_job_status)old) &&
        ln_job_status_is_final(job->status) && job->started_at > 0)
        ln__jobs_count_duration(J, job->finished_at - job->started_at);
}

/* Takes a job out of the mirror (under mu); its cache folder is doomed. */
static void ln__pg_forget(struct ln_jobs *J, const char *id)
{
    struct ln_job *job = ln__find(J, id);
    if (!job)
        return;
    if (job->status == LN_JOB_STATUS_QUEUED)
        ln__queue_remove(J, job->id);
    if (job->status == LN_JOB_STATUS_RUNNING)
        atomic_fetch_sub(&J->pub_running, 1);
    ln__doom(J, job->id);
    ln__drop(J, (size_t)(job - J->table));
    ln__reindex(J);
    ln__changed(J);
}

/* A job deleted or canceled: the local worker running it, if any, stops.
 * (The workers are set under mu; a worker's own lock is taken inside.) */
static void ln__pg_stop_local(struct ln_jobs *J, const char *id)
{
    pthread_mutex_lock(&J->mu);
    for (int i = 0; i < J->pg->n_workers; i++)
        if (J->pg->workers[i].w)
            ln_pg_worker_cancel(J->pg->workers[i].w, id);
    pthread_mutex_unlock(&J->mu);
}

/* ---- the listener ---- */

struct ln__pg_load {
    struct ln_jobs *J;
    json_t *seen;
};

static void ln__pg_on_row(void *user, const char *id, const char *status, const char *record)
{
    struct ln__pg_load *L = user;
    json_object_set_new(L->seen, id, json_true());
    struct ln_job *job = ln__pg_parse(id, status, record);
    if (!job)
        return;
    pthread_mutex_lock(&L->J->mu);
    ln__pg_apply(L->J, job, 0);
    pthread_mutex_unlock(&L->J->mu);
    free(job);
}

/* Opens the listener's connection, listens, and reads every job into the
 * mirror; jobs the database no longer has leave it. */
static int ln__pg_connect(struct ln_jobs *J, struct ln_error *err)
{
    struct ln__pg *P = J->pg;
    struct ln_pg *pg = NULL;
    int rc = ln_pg_open(P->conninfo, &pg, err);
    if (rc == LN_OK)
        rc = ln_pg_listen(pg, err);
    struct ln__pg_load L = {J, json_object()};
    if (rc == LN_OK)
        rc = ln_pg_list(pg, ln__pg_on_row, &L, err);
    if (rc < 0) {
        ln_pg_close(pg);
        json_decref(L.seen);
        return rc;
    }
    pthread_mutex_lock(&J->mu);
    for (size_t i = J->n_table; i-- > 0;)
        if (!json_object_get(L.seen, J->table[i].id))
            ln__pg_forget(J, J->table[i].id);
    pthread_mutex_unlock(&J->mu);
    ln__remove_doomed(J);
    json_decref(L.seen);
    P->lis = pg;
    P->lis_failed = 0;
    return LN_OK;
}

static void ln__pg_on_note(void *user, const char *id)
{
    struct ln_jobs *J = user;
    struct ln__pg *P = J->pg;
    if (P->lis_failed || !ln_job_id_valid(id))
        return;
    char *record = NULL, status[16];
    struct ln_error err = {0};
    int rc = ln_pg_get(P->lis, id, &record, status, &err);
    if (rc == LN_ENOTFOUND) {
        pthread_mutex_lock(&J->mu);
        ln__pg_forget(J, id);
        pthread_mutex_unlock(&J->mu);
        ln__remove_doomed(J);
        ln__pg_stop_local(J, id);
        return;
    }
    if (rc < 0) {
        ln_log_warn("the job store: %s", err.message);
        P->lis_failed = 1;
        return;
    }
    struct ln_job *job = ln__pg_parse(id, status, record);
    free(record);
    if (!job)
        return;
    pthread_mutex_lock(&J->mu);
    ln__pg_apply(J, job, 1);
    pthread_mutex_unlock(&J->mu);
    free(job);
}

/* Retention (keep_jobs, keep_seconds), as the file store's ln__retain
 * chooses: the oldest finished jobs beyond the number kept, and those
 * finished longer ago than the age kept, deleted from the database.
 * Several servers may choose the same job: the second finds it gone. */
static void ln__pg_retain(struct ln_jobs *J)
{
    if (J->keep_jobs == 0 && J->keep_seconds <= 0)
        return;
    double now = ln_time_wall();
    json_t *victims = json_array();
    pthread_mutex_lock(&J->mu);
    size_t n_final = 0;
    for (size_t i = 0; i < J->n_table; i++)
        n_final += ln_job_status_is_final(J->table[i].status) != 0;
    size_t over = J->keep_jobs && n_final > J->keep_jobs ? n_final - J->keep_jobs : 0;
    for (size_t i = 0; i < J->n_table; i++) {
        const struct ln_job *job = &J->table[i];
        if (!ln_job_status_is_final(job->status))
            continue;
        double done_at = job->finished_at > 0 ? job->finished_at : job->created_at;
        if (json_array_size(victims) < over ||
            (J->keep_seconds > 0 && now - done_at > J->keep_seconds))
            json_array_append_new(victims, json_string(job->id));
    }
    pthread_mutex_unlock(&J->mu);
    size_t i, removed = 0;
    json_t *v;
    json_array_foreach(victims, i, v)
    {
        const char *id = json_string_value(v);
        struct ln_error err = {0};
        pthread_mutex_lock(&J->pg->rmu);
        int rc = ln_pg_delete(J->pg->req, id, &err);
        if (rc == LN_EIO)
            rc = ln_pg_delete(J->pg->req, id, &err);
        pthread_mutex_unlock(&J->pg->rmu);
        if (rc < 0 && rc != LN_ENOTFOUND) {
            ln_log_warn("old job %s kept for now: %s", id, err.message);
            break;
        }
        removed += rc == LN_OK;
        pthread_mutex_lock(&J->mu);
        ln__pg_forget(J, id);
        pthread_mutex_unlock(&J->mu);
    }
    ln__remove_doomed(J);
    if (removed)
        ln_log_info("retention: %zu old job%s removed from the job store", removed,
                    removed == 1 ? "" : "s");
    json_decref(victims);
}

static void *ln__pg_listen_main(void *arg)
{
    struct ln_jobs *J = arg;
    struct ln__pg *P = J->pg;
    int lost = 0;
    while (!atomic_load(&P->stop)) {
        struct ln_error err = {0};
        if (!P->lis) {
            if (ln__pg_connect(J, &err) < 0) {
                if (!lost)
                    ln_log_warn("the job store cannot be reached (trying every second): %s",
                                err.message);
                lost = 1;
                pthread_mutex_lock(&J->mu); /* a second, or until the shutdown */
                double until = ln_time_now() + 1.0;
                while (!atomic_load(&P->stop) && !ln_cond_wait_until(&J->changed, &J->mu, until))
                    ;
                pthread_mutex_unlock(&J->mu);
                continue;
            }
            if (lost)
                ln_log_info("the job store is reachable again: the job list is read anew");
            lost = 0;
            ln__pg_retain(J);
        }
        size_t changes = 0;
        if (ln_pg_notified(P->lis, 0.25, ln__pg_on_note, J, &changes, &err) < 0) {
            ln_log_warn("the job store: %s", err.message);
            P->lis_failed = 1;
        } else if (changes) {
            ln__pg_retain(J);
        }
        if (P->lis_failed) {
            ln_pg_close(P->lis);
            P->lis = NULL;
            lost = 1;
        }
    }
    return NULL;
}

/* ---- opening, workers, shutdown ---- */

int ln__pg_open(struct ln_jobs *J, const char *conninfo, struct ln_error *err)
{
    struct ln__pg *P = ln_xcalloc(1, sizeof *P);
    J->pg = P;
    P->conninfo = ln_xstrdup(conninfo);
    pthread_mutex_init(&P->rmu, NULL);
    atomic_init(&P->stop, 0);
    P->workers = ln_xcalloc((size_t)(J->n_workers ? J->n_workers : 1), sizeof *P->workers);
    P->n_workers = J->n_workers;
    /* The cache holds nothing that the database lacks: emptied at start. */
    ln_dir_remove_tree(J->outputs, NULL);
    int rc = ln_file_mkdirs(J->outputs, err);
    if (rc < 0)
        return ln_error_prefix(err, "the file cache");
    if ((rc = ln_pg_open(conninfo, &P->req, err)) < 0)
        return rc;
    int from = 0, to = 0;
    if ((rc = ln_pg_migrate(P->req, &from, &to, err)) < 0)
        return rc;
    if (from != to)
        ln_log_info("job store: database schema version %d -> %d", from, to);
    if ((rc = ln__pg_connect(J, err)) < 0)
        return rc;
    ln__pg_retain(J);
    int e = pthread_create(&P->listener, NULL, ln__pg_listen_main, J);
    if (e != 0)
        return ln_error_set(err, LN_EINTERNAL, "cannot start the job store's listener: %s",
                            strerror(e));
    P->listening = 1;
    if (J->n_queue)
        ln_log_info("%zu job%s waiting in the job store", J->n_queue, J->n_queue == 1 ? "" : "s");
    return LN_OK;
}

static void *ln__pg_worker_main(void *arg)
{
    struct ln__pgw *x = arg;
    struct ln_jobs *J = x->jobs;
    for (;;) {
        pthread_mutex_lock(&J->mu);
        int stop = J->stopping;
        x->engines = J->engines;
        pthread_mutex_unlock(&J->mu);
        if (stop)
            break;
        int ran = 0;
        struct ln_error err = {0};
        int rc = ln_pg_worker_step(x->w, &ran, &err);
        if (rc < 0) {
            ln_log_warn("the job store: %s (trying again)", err.message);
            ran = 0;
        }
        if (ran)
            continue;
        /* Nothing queued: until the mirror shows a queued job, or a second
         * (a lease running out is not notified), or 5 s after an error. */
        pthread_mutex_lock(&J->mu);
        double deadline = ln_time_now() + (rc < 0 ? 5.0 : 1.0);
        while (!J->stopping && (rc < 0 || J->n_queue == 0))
            if (ln_cond_wait_until(&J->changed, &J->mu, deadline))
                break;
        pthread_mutex_unlock(&J->mu);
    }
    pthread_mutex_lock(&J->mu);
    J->pg->live--;
    ln__changed(J);
    pthread_mutex_unlock(&J->mu);
    return NULL;
}

int ln__pg_start(struct ln_jobs *J, struct ln_error *err)
{
    struct ln__pg *P = J->pg;
    int rc = LN_OK;
    for (int i = 0; i < P->n_workers && rc == LN_OK; i++) {
        struct ln__pgw *x = &P->workers[i];
        x->jobs = J;
        char scratch[4200], name[96], host[64] = "serve";
        if (snprintf(scratch, sizeof scratch, "%s/.worker-%d", J->outputs, i + 1) >=
            (int)sizeof scratch) {
            rc = ln_error_set(err, LN_EINVAL, "the outputs path is too long");
            break;
        }
        snprintf(name, sizeof name, "%s-%lu-%d", host, ln_sys_pid(), i + 1);
        pthread_mutex_lock(&J->mu);
        x->engines = J->engines;
        pthread_mutex_unlock(&J->mu);
        struct ln_job_run_env env = {.engines = &x->engines, .limits = &J->image_limits};
        struct ln_pg_worker_options opt = {.name = name, .scratch = scratch, .lease_s = 30.0};
        struct ln_pg_worker *w;
        if ((rc = ln_pg_worker_new(P->conninfo, &opt, &env, &w, err)) < 0)
            break;
        pthread_mutex_lock(&J->mu);
        x->w = w;
        P->live++;
        pthread_mutex_unlock(&J->mu);
        int e = pthread_create(&x->thread, NULL, ln__pg_worker_main, x);
        if (e != 0) {
            pthread_mutex_lock(&J->mu);
            P->live--;
            pthread_mutex_unlock(&J->mu);
            rc = ln_error_set(err, LN_EINTERNAL, "cannot start worker %d: %s", i + 1, strerror(e));
            break;
        }
        x->started = 1;
    }
    if (rc == LN_OK)
        ln_log_info("job store: PostgreSQL, %d local worker%s", P->n_workers,
                    P->n_workers == 1 ? "" : "s");
    return rc;
}

void ln__pg_shutdown(struct ln_jobs *J, double grace_s)
{
    struct ln__pg *P = J->pg;
    pthread_mutex_lock(&J->mu);
    J->stopping = 1;
    ln__changed(J);
    if (grace_s < 0)
        grace_s = 0;
    if (grace_s > 86400)
        grace_s = 86400;
    double deadline = ln_time_now() + grace_s;
    while (P->live > 0)
        if (ln_cond_wait_until(&J->changed, &J->mu, deadline))
            break;
    int late = P->live > 0;
    pthread_mutex_unlock(&J->mu);
    if (late)
        ln_log_info("jobs still running after %.1f s: given back to the job store for another "
                    "worker",
                    grace_s);
    for (int i = 0; i < P->n_workers; i++)
        if (P->workers[i].w)
            ln_pg_worker_stop(P->workers[i].w);
    for (int i = 0; i < P->n_workers; i++)
        if (P->workers[i].started) {
            pthread_join(P->workers[i].thread, NULL);
            P->workers[i].started = 0;
        }
    atomic_store(&P->stop, 1);
    pthread_mutex_lock(&J->mu);
    ln__changed(J);
    pthread_mutex_unlock(&J->mu);
    if (P->listening) {
        pthread_join(P->listener, NULL);
        P->listening = 0;
    }
    pthread_mutex_lock(&J->mu);
    J->shut_down = 1;
    ln__changed(J);
    pthread_mutex_unlock(&J->mu);
}

void ln__pg_free(struct ln_jobs *J)
{
    struct ln__pg *P = J->pg;
    if (!P)
        return;
    if (P->listening) {
        atomic_store(&P->stop, 1);
        pthread_join(P->listener, NULL);
    }
    for (int i = 0; i < P->n_workers; i++)
        ln_pg_worker_free(P->workers[i].w);
    free(P->workers);
    ln_pg_close(P->req);
    ln_pg_close(P->lis);
    pthread_mutex_destroy(&P->rmu);
    free(P->conninfo);
    free(P);
    J->pg = NULL;
}

/* ---- requests ---- */

int ln__pg_submit(struct ln_jobs *J, const struct ln_job *job, char existing[LN_JOB_ID_LEN + 1],
                  struct ln_error *err)
{
    char other[64] = "";
    existing[0] = 0;
    struct ln_pg_file files[LN_MAX_VIEWS];
    uint8_t *data[LN_MAX_VIEWS] = {NULL};
    int rc = LN_OK;
    for (int i = 0; i < job->n_inputs && rc == LN_OK; i++) {
        char path[4096];
        size_t len = 0;
        if (ln__job_file(J, job->id, job->inputs[i].file, path, sizeof path) < 0)
            rc = ln_error_set(err, LN_EINVAL, "the outputs path is too long");
        else
            rc = ln_file_read(path, LN__PG_FILE_MAX, &data[i], &len, err);
        files[i] =
            (struct ln_pg_file){job->inputs[i].file, job->inputs[i].content_type, data[i], len};
    }
    json_t *obj = rc == LN_OK ? ln_job_to_json(job) : NULL;
    char *record = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    if (rc == LN_OK && !record)
        rc = ln_error_set(err, LN_ENOMEM, "out of memory recording job %s", job->id);
    if (rc == LN_OK) {
        /* Once more after a lost connection (see the DESIGN); an id
         * already there then is this submission, its commit's answer lost. */
        pthread_mutex_lock(&J->pg->rmu);
        rc = ln_pg_submit_once(J->pg->req, job->id, record, job->idempotency_key, files,
                               (size_t)job->n_inputs, other, err);
        if (rc == LN_EIO &&
            (rc = ln_pg_submit_once(J->pg->req, job->id, record, job->idempotency_key, files,
                                    (size_t)job->n_inputs, other, err)) == LN_EINVAL)
            rc = LN_OK;
        pthread_mutex_unlock(&J->pg->rmu);
        /* Another server took the key first; this job itself (a retry that
         * finds its own first try committed) is no other job. */
        if (rc == LN_OK && ln_job_id_valid(other) && strcmp(other, job->id) != 0)
            memcpy(existing, other, LN_JOB_ID_LEN + 1);
    }
    free(record);
    for (int i = 0; i < LN_MAX_VIEWS; i++)
        free(data[i]);
    return rc;
}

int ln__pg_existing(struct ln_jobs *J, const char *id, struct ln_job *out, struct ln_error *err)
{
    char *record = NULL, status[16];
    pthread_mutex_lock(&J->pg->rmu);
    int rc = ln_pg_get(J->pg->req, id, &record, status, err);
    if (rc == LN_EIO)
        rc = ln_pg_get(J->pg->req, id, &record, status, err);
    pthread_mutex_unlock(&J->pg->rmu);
    if (rc < 0)
        return rc;
    struct ln_job *job = ln__pg_parse(id, status, record);
    free(record);
    if (!job)
        return ln_error_set(err, LN_EFORMAT, "job %s: its record in the database is unusable", id);
    pthread_mutex_lock(&J->mu);
    ln__pg_apply(J, job, 1);
    const struct ln_job *now = ln__find(J, id);
    *out = now ? *now : *job;
    pthread_mutex_unlock(&J->mu);
    free(job);
    return LN_OK;
}

int ln__pg_cancel(struct ln_jobs *J, const char *id, struct ln_job *out, struct ln_error *err)
{
    pthread_mutex_lock(&J->mu);
    const struct ln_job *job = ln__find(J, id);
    int rc = LN_OK;
    if (!job)
        rc = ln_error_set(err, LN_ENOTFOUND, "no job with id %.40s", id ? id : "");
    else if (ln_job_status_is_final(job->status))
        rc = ln_error_set(err, LN_EINVAL, "job %s already %s", job->id,
                          ln_job_status_name(job->status));
    pthread_mutex_unlock(&J->mu);
    if (rc < 0)
        return rc;

    char *record = NULL, status[16];
    pthread_mutex_lock(&J->pg->rmu);
    if ((rc = ln_pg_cancel(J->pg->req, id, NULL, err)) == LN_EIO)
        rc = ln_pg_cancel(J->pg->req, id, NULL, err);
    if (rc == LN_OK)
        rc = ln_pg_get(J->pg->req, id, &record, status, err);
    pthread_mutex_unlock(&J->pg->rmu);
    if (rc == LN_EINVAL || rc == LN_ENOTFOUND) {
        /* Finished or deleted meanwhile, elsewhere: as the database has it. */
        pthread_mutex_lock(&J->mu);
        job = ln__find(J, id);
        if (job && ln_job_status_is_final(job->status))
            ln_error_set(err, LN_EINVAL, "job %s already %s", job->id,
                         ln_job_status_name(job->status));
        pthread_mutex_unlock(&J->mu);
        return rc;
    }
    if (rc < 0)
        return rc;
    struct ln_job *next = ln__pg_parse(id, status, record);
    free(record);
    if (!next)
        return ln_error_set(err, LN_EFORMAT, "job %s: its record in the database is unusable", id);
    pthread_mutex_lock(&J->mu);
    ln__pg_apply(J, next, 1);
    job = ln__find(J, id);
    *out = job ? *job : *next;
    pthread_mutex_unlock(&J->mu);
    if (next->status == LN_JOB_STATUS_CANCELED)
        ln_log_info("job %s canceled before it started", id);
    else
        ln__pg_stop_local(J, id);
    free(next);
    return LN_OK;
}

int ln__pg_delete(struct ln_jobs *J, const char *id, struct ln_error *err)
{
    if (!ln_job_id_valid(id))
        return ln_error_set(err, LN_ENOTFOUND, "no job with id %.40s", id ? id : "");
    pthread_mutex_lock(&J->pg->rmu);
    int rc = ln_pg_delete(J->pg->req, id, err);
    if (rc == LN_EIO)
        rc = ln_pg_delete(J->pg->req, id, err);
    pthread_mutex_unlock(&J->pg->rmu);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&J->mu);
    ln__pg_forget(J, id);
    pthread_mutex_unlock(&J->mu);
    ln__remove_doomed(J);
    ln__pg_stop_local(J, id);
    ln_log_info("job %s deleted", id);
    return LN_OK;
}

void ln__pg_fetch(struct ln_jobs *J, const char *id, const char *name)
{
    if (strcmp(name, "model.glb") != 0 && strcmp(name, "preview.png") != 0 &&
        !ln_job_input_name_valid(name))
        return;
    char path[4096], dir[4096];
    struct ln_path_info info;
    if (ln__job_file(J, id, name, path, sizeof path) < 0 ||
        ln_path_stat(path, 0, &info, NULL) == LN_OK ||
        snprintf(dir, sizeof dir, "%s/%s", J->outputs, id) >= (int)sizeof dir)
        return;
    pthread_mutex_lock(&J->mu);
    int known = ln__find(J, id) != NULL;
    pthread_mutex_unlock(&J->mu);
    if (!known)
        return;
    void *data = NULL;
    size_t size = 0;
    struct ln_error err = {0};
    pthread_mutex_lock(&J->pg->rmu);
    int rc = ln_pg_file_get(J->pg->req, id, name, &data, &size, NULL, &err);
    if (rc == LN_EIO)
        rc = ln_pg_file_get(J->pg->req, id, name, &data, &size, NULL, &err);
    pthread_mutex_unlock(&J->pg->rmu);
    if (rc == LN_OK && (rc = ln_file_mkdirs(dir, &err)) == LN_OK)
        rc = ln_file_write_atomic(path, data, size, &err);
    if (rc < 0 && rc != LN_ENOTFOUND)
        ln_log_warn("job %s: %s", id, err.message);
    free(data);
}
