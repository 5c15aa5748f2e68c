/*
 * The PostgreSQL store's worker (see ln_pg_worker.h for the threads).
 */
#include "ln_pg_worker.h"

#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_file.h"
#include "ln_fs.h"
#include "ln_job.h"
#include "ln_log.h"
#include "ln_pg.h"
#include "ln_sys.h"
#include "ln_time.h"

/* The largest result read back from the scratch folder for the database. */
#define LN__RESULT_MAX ((size_t)1 << 30)

struct ln_pg_worker {
    struct ln_pg *pg;    /* the stepping thread's */
    struct ln_pg *renew; /* the renewer's */
    struct ln_job_run_env env;
    char name[128];
    char *scratch;
    double lease_s;
    atomic_int cancel;  /* polled by the engine */
    atomic_int stop;    /* ln_pg_worker_stop was called */
    pthread_mutex_t mu; /* guards the fields below */
    pthread_cond_t cv;
    int running;            /* a run is under way: the renewer renews */
    int lost, user_cancel;  /* what the renewals found */
    struct ln_pg_lease lease;
    struct ln_job job;      /* the running job, stage and progress updated */
};

int ln_pg_worker_new(const char *conninfo, const struct ln_pg_worker_options *opt,
                     const struct ln_job_run_env *env, struct ln_pg_worker **out,
                     struct ln_error *err)
{
    *out = NULL;
    struct ln_pg_worker *w = ln_xcalloc(1, sizeof *w);
    int rc = ln_pg_open(conninfo, &w->pg, err);
    if (rc == LN_OK)
        rc = ln_pg_open(conninfo, &w->renew, err);
    int version = 0;
    if (rc == LN_OK && (rc = ln_pg_schema_version(w->pg, &version, err)) == LN_OK &&
        version != LN_PG_SCHEMA_VERSION)
        rc = ln_error_set(err, LN_EINVAL,
                          "the database's job store is at schema version %d, this program's "
                          "is %d: %s",
                          version, LN_PG_SCHEMA_VERSION,
                          version < LN_PG_SCHEMA_VERSION
                              ? "`lunar-nova store migrate` creates or migrates it"
                              : "upgrade lunar-nova");
    if (rc == LN_OK && (rc = ln_file_mkdirs(opt->scratch, err)) < 0)
        ln_error_prefix(err, "the worker's scratch folder");
    if (rc < 0) {
        ln_pg_close(w->renew);
        ln_pg_close(w->pg);
        free(w);
        return rc;
    }
    w->env = *env;
    w->scratch = ln_xstrdup(opt->scratch);
    w->lease_s = opt->lease_s > 0 ? opt->lease_s : 30.0;
    if (opt->name && *opt->name)
        snprintf(w->name, sizeof w->name, "%s", opt->name);
    else
        snprintf(w->name, sizeof w->name, "worker-%lu", ln_sys_pid());
    pthread_mutex_init(&w->mu, NULL);
    ln_cond_init(&w->cv);
    atomic_init(&w->cancel, 0);
    atomic_init(&w->stop, 0);
    *out = w;
    return LN_OK;
}

void ln_pg_worker_stop(struct ln_pg_worker *w)
{
    atomic_store(&w->stop, 1);
    atomic_store(&w->cancel, 1);
}

void ln_pg_worker_cancel(struct ln_pg_worker *w, const char *id)
{
    pthread_mutex_lock(&w->mu);
    if (w->running && strcmp(w->lease.id, id) == 0) {
        w->user_cancel = 1;
        atomic_store(&w->cancel, 1);
    }
    pthread_mutex_unlock(&w->mu);
}

void ln_pg_worker_free(struct ln_pg_worker *w)
{
    if (!w)
        return;
    ln_pg_close(w->renew);
    ln_pg_close(w->pg);
    pthread_mutex_destroy(&w->mu);
    pthread_cond_destroy(&w->cv);
    free(w->scratch);
    free(w);
}

/* The run's progress, for the next renewal (the run's own thread). */
static void ln__on_progress(void *user, const char *stage, double fraction)
{
    struct ln_pg_worker *w = user;
    pthread_mutex_lock(&w->mu);
    snprintf(w->job.stage, sizeof w->job.stage, "%s", stage);
    w->job.progress = fraction;
    pthread_mutex_unlock(&w->mu);
}

static char *ln__record(const struct ln_job *job)
{
    json_t *obj = ln_job_to_json(job);
    char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    json_decref(obj);
    return text;
}

/* The renewer: every third of the lease, the lease extended and the stage
 * and progress stored, until the run ends. */
static void *ln__renewer(void *arg)
{
    struct ln_pg_worker *w = arg;
    /* The first renewal at once (the record then shows the run started),
     * then every second, or every third of a shorter lease: a server
     * streams the stage and progress from here, and a cancel asked for
     * through the database is seen within that time. */
    double period = w->lease_s / 3.0 < 1.0 ? w->lease_s / 3.0 : 1.0;
    pthread_mutex_lock(&w->mu);
    for (int first = 1; w->running; first = 0) {
        double deadline = ln_time_now() + (first ? 0.0 : period);
        while (w->running && ln_time_now() < deadline)
            ln_cond_wait_until(&w->cv, &w->mu, deadline);
        if (!w->running)
            break;
        char *record = ln__record(&w->job);
        struct ln_pg_lease lease = w->lease;
        pthread_mutex_unlock(&w->mu);

        struct ln_error err = {0};
        int cancel = 0;
        int rc = ln_pg_renew(w->renew, &lease, w->lease_s, record, &cancel, &err);
        free(record);
        pthread_mutex_lock(&w->mu);
        if (rc == LN_ECANCELED) {
            w->lost = 1;
            atomic_store(&w->cancel, 1);
            ln_log_warn("job %s: %s; stopping it", lease.id, err.message);
            break;
        }
        if (rc < 0)
            ln_log_warn("job %s: the lease could not be renewed (will try again): %s", lease.id,
                        err.message);
        else if (cancel && !w->user_cancel) {
            w->user_cancel = 1;
            atomic_store(&w->cancel, 1);
            ln_log_info("job %s: cancel asked for", lease.id);
        }
    }
    pthread_mutex_unlock(&w->mu);
    return NULL;
}

/* Before another try of a statement the database could not take (it
 * restarted, the network dropped): waits a second, or until the worker is
 * woken; 0 without waiting once `until` has passed. */
static int ln__pause_before_retry(struct ln_pg_worker *w, double until)
{
    if (ln_time_now() >= until)
        return 0;
    pthread_mutex_lock(&w->mu);
    ln_cond_wait_until(&w->cv, &w->mu, ln_time_now() + 1.0);
    pthread_mutex_unlock(&w->mu);
    return 1;
}

/* The job's inputs from the database into its scratch folder. */
static int ln__fetch_inputs(struct ln_pg_worker *w, const struct ln_job *job, const char *folder,
                            struct ln_error *err)
{
    for (int i = 0; i < job->n_inputs; i++) {
        void *data;
        size_t size;
        int rc = ln_pg_file_get(w->pg, job->id, job->inputs[i].file, &data, &size, NULL, err);
        /* The database restarted or the network dropped between the claim
         * and this read (libpq learns of a closed connection only when a
         * statement fails): a read, so it is made again, every second for
         * a third of the lease as the finish is, rather than failing the
         * job for it. */
        for (double until = ln_time_now() + w->lease_s / 3.0;
             rc == LN_EIO && !atomic_load(&w->stop) && ln__pause_before_retry(w, until);) {
            ln_log_warn("job %s: %s (trying again)", job->id, err->message);
            rc = ln_pg_file_get(w->pg, job->id, job->inputs[i].file, &data, &size, NULL, err);
        }
        if (rc < 0)
            return rc;
        char path[4200];
        if (snprintf(path, sizeof path, "%s/%s", folder, job->inputs[i].file) >=
            (int)sizeof path)
            rc = ln_error_set(err, LN_EINVAL, "the scratch path is too long");
        else
            rc = ln_file_write_atomic(path, data, size, err);
        free(data);
        if (rc < 0)
            return rc;
    }
    return LN_OK;
}

/* model.glb and preview.png of a finished run, read back for the store. */
static size_t ln__results(const char *folder, struct ln_pg_file files[2], uint8_t *data[2])
{
    static const char *const names[2][2] = {{"model.glb", "model/gltf-binary"},
                                            {"preview.png", "image/png"}};
    size_t n = 0;
    for (int i = 0; i < 2; i++) {
        char path[4200];
        size_t len;
        if (snprintf(path, sizeof path, "%s/%s", folder, names[i][0]) >= (int)sizeof path)
            continue;
        if (ln_file_read(path, LN__RESULT_MAX, &data[n], &len, NULL) == LN_OK) {
            files[n] = (struct ln_pg_file){names[i][0], names[i][1], data[n], len};
            n++;
        }
    }
    return n;
}

int ln_pg_worker_step(struct ln_pg_worker *w, int *ran, struct ln_error *err)
{
    *ran = 0;
    struct ln_pg_lease lease;
    int rc = ln_pg_claim(w->pg, w->name, w->lease_s, &lease, err);
    if (rc == LN_ENOTFOUND)
        return LN_OK;
    if (rc < 0)
        return rc;
    *ran = 1;

    struct ln_job *job = ln_xcalloc(1, sizeof *job);
    json_error_t je;
    json_t *obj = json_loads(lease.record, 0, &je);
    struct ln_error jerr = {0};
    if (!obj || ln_job_from_json(obj, job, &jerr) < 0 || strcmp(job->id, lease.id) != 0) {
        /* Not a job this program can run: failed, with the reason. */
        json_decref(obj);
        ln_log_error("job %s: its record is unusable: %s", lease.id,
                     jerr.message[0] ? jerr.message : je.text);
        rc = ln_pg_finish(w->pg, &lease, "failed", lease.record, NULL, 0, err);
        ln_pg_lease_free(&lease);
        free(job);
        return rc;
    }
    json_decref(obj);
    ln_job_set_started(job, lease.attempts, ln_time_wall());
    ln_log_info("job %s: running (attempt %d)", job->id, job->attempts);

    char folder[4096];
    if (snprintf(folder, sizeof folder, "%s/%s", w->scratch, job->id) >= (int)sizeof folder) {
        folder[0] = 0; /* never a truncated path to remove */
        rc = ln_error_set(&jerr, LN_EINVAL, "the scratch path is too long");
    } else if (ln_dir_remove_tree(folder, NULL), (rc = ln_file_mkdirs(folder, &jerr)) == LN_OK)
        rc = ln__fetch_inputs(w, job, folder, &jerr);

    pthread_mutex_lock(&w->mu);
    w->job = *job;
    w->lease = lease;
    w->lost = w->user_cancel = 0;
    w->running = 1;
    atomic_store(&w->cancel, atomic_load(&w->stop));
    pthread_mutex_unlock(&w->mu);
    pthread_t renewer;
    int renewing = pthread_create(&renewer, NULL, ln__renewer, w) == 0;

    if (rc == LN_OK) {
        struct ln_progress progress = {
            .report = ln__on_progress, .user = w, .cancel = &w->cancel};
        rc = ln_job_run(&w->env, folder, job, &progress, &jerr);
    }

    pthread_mutex_lock(&w->mu);
    w->running = 0;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
    if (renewing)
        pthread_join(renewer, NULL);

    int stored = LN_OK;
    if (w->lost) {
        ln_log_warn("job %s: its lease was lost, the result is not stored", job->id);
    } else if (rc == LN_ECANCELED && !w->user_cancel && atomic_load(&w->stop)) {
        stored = ln_pg_release(w->pg, &lease, err);
        if (stored == LN_OK)
            ln_log_info("job %s: given back for another worker", job->id);
    } else {
        ln_job_set_outcome(job, rc, jerr.message, ln_time_wall());
        struct ln_pg_file files[2];
        uint8_t *data[2] = {NULL, NULL};
        size_t n = rc == LN_OK && folder[0] ? ln__results(folder, files, data) : 0;
        char *record = ln__record(job);
        if (!record)
            stored = ln_error_set(err, LN_ENOMEM, "out of memory recording job %s", job->id);
        else
            stored = ln_pg_finish(w->pg, &lease, ln_job_status_name(job->status), record, files,
                                  n, err);
        /* The database restarted or the network dropped: the lease still
         * holds for a while, so the finish is tried again (every second, for a
         * third of the lease) before the job is left to be run again
         * elsewhere. A first try that did commit makes the next find no
         * lease: LN_ECANCELED, taken as done below. */
        for (double until = ln_time_now() + w->lease_s / 3.0;
             record && stored == LN_EIO && ln__pause_before_retry(w, until);) {
            ln_log_warn("job %s: %s (trying again)", job->id, err->message);
            stored = ln_pg_finish(w->pg, &lease, ln_job_status_name(job->status), record, files,
                                  n, err);
        }
        free(record);
        free(data[0]);
        free(data[1]);
        if (stored == LN_OK)
            ln_log_info("job %s %s%s%s", job->id, ln_job_status_name(job->status),
                        rc == LN_OK || rc == LN_ECANCELED ? "" : ": ",
                        rc == LN_OK || rc == LN_ECANCELED ? "" : job->error);
        else if (stored == LN_ECANCELED)
            stored = LN_OK; /* lost at the last moment: another worker has it */
    }
    if (folder[0])
        ln_dir_remove_tree(folder, NULL);
    ln_pg_lease_free(&lease);
    free(job);
    return stored;
}
