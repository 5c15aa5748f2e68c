/*
 * The job manager: the in-memory job table, the FIFO of queued jobs, the
 * worker threads that run the engine, and the bridge to outputs/jobs.json.
 * Every status change is written to the job's folder record and then to the
 * history before anyone can see it, so an acknowledged or finished job
 * survives a crash, and even the loss of jobs.json; progress is kept in
 * memory only, because writing the file for every percent would cost more
 * than the generation.
 *
 * DESIGN: how the threads meet. One mutex (mu) guards everything below the
 * "under mu" line of struct ln_jobs and struct ln__worker, and two
 * condition variables hang off it:
 *   - `work`: workers sleep on it while the queue is empty; ln_jobs_submit
 *     signals it after a job is durably queued, shutdown broadcasts it.
 *   - `changed`: broadcast whenever any job changes (status, stage,
 *     progress, removal) and whenever a worker goes idle, each time with
 *     `changes` counted up. Waiters sleep on it with a timeout: ln_jobs_wait
 *     compares one job's version, ln_jobs_wait_any the count (the HTTP
 *     server's one event-stream notifier); shutdown sleeps on it until the
 *     workers are idle.
 * HTTP threads only validate, take mu briefly to change the table (a
 * submission or a cancel writes the history under it, so saves are ordered
 * like the changes they record; a deletion writes it after releasing mu, a
 * numbered snapshot keeping the order: ln_store.c, ln_jobs_delete) and
 * return snapshots. A worker takes mu to pop a job and mark it
 * running, releases it for the whole generation (decode, engine, export,
 * preview), and takes it again to record the result. Cancellation crosses
 * without the lock: each worker has an atomic flag that the engine polls
 * between stages. A job deleted while it runs is removed from the table at
 * once; its worker removes the folder when the engine returns.
 */
#define _GNU_SOURCE /* SCHED_IDLE */
#include "ln_jobs.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "ln_alloc.h"
#include "ln_file.h"
#include "ln_folder.h"
#include "ln_log.h"
#include "ln_render.h"
#include "ln_store.h"
#include "ln_time.h"

#define LN__PREVIEW_SIZE 256
#define LN__STAGING_PREFIX ".staging-"

static const double ln__bucket_bounds[LN_JOBS_DURATION_BUCKETS] = {
    0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600,
};

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
    struct ln_engine_set engines; /* a copy; the engines are borrowed */
    int n_workers;
    size_t max_queue;
    size_t keep_jobs;
    double keep_seconds;
    pthread_mutex_t mu;
    pthread_cond_t work;
    pthread_cond_t changed;
    struct ln__worker *workers;
    /* under mu */
    struct ln_store *store;
    json_t *doc;   /* id -> job object: what jobs.json holds */
    int dirty;     /* a save failed; the next save or shutdown retries */
    struct ln_job *table; /* oldest first */
    size_t n_table, cap_table;
    json_t *index; /* id -> position in table */
    json_t *keys;  /* idempotency key -> id */
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
    uint64_t bucket_counts[LN_JOBS_DURATION_BUCKETS];
    uint64_t duration_count;
    double duration_sum;
};

void ln_jobs_config_default(struct ln_jobs_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->outputs_dir = "outputs";
    cfg->workers = 1;
    cfg->max_queue = 64;
    cfg->keep_jobs = 1000;
    cfg->keep_seconds = 0;
}

/* ---- folders ---- */

/* Removes outputs/<name> and everything in it (see ln_folder_remove). */
static int ln__remove_folder(const struct ln_jobs *J, const char *name)
{
    return ln_folder_remove(J->outputs, name);
}

/* DESIGN: folders of jobs out of the history (retention, a job deleted
 * while it ran) are not removed under mu, where the unlinking would hold up
 * every reader: under mu their ids go to `doomed`, and the thread that
 * released mu removes them (ln__remove_doomed). The removal still follows
 * the history save that dropped the jobs, and a crash in between leaves
 * deletion marks that the next start finishes. */
static void ln__doom(struct ln_jobs *J, const char *id)
{
    json_array_append_new(J->doomed, json_string(id));
}

/* Removes the doomed folders; called without mu. */
static void ln__remove_doomed(struct ln_jobs *J)
{
    pthread_mutex_lock(&J->mu);
    json_t *ids = J->doomed;
    J->doomed = json_array();
    pthread_mutex_unlock(&J->mu);
    size_t i;
    json_t *v;
    json_array_foreach(ids, i, v) ln__remove_folder(J, json_string_value(v));
    json_decref(ids);
}

static void ln__clear_staging(const struct ln_jobs *J)
{
    DIR *d = opendir(J->outputs);
    if (!d)
        return;
    /* Collect first: removing while reading a folder may skip entries. */
    char **names = NULL;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strncmp(e->d_name, LN__STAGING_PREFIX, strlen(LN__STAGING_PREFIX)) == 0) {
            names = ln_xrealloc(names, (n + 1) * sizeof *names);
            names[n++] = ln_xstrdup(e->d_name);
        }
    }
    closedir(d);
    for (size_t i = 0; i < n; i++) {
        ln__remove_folder(J, names[i]);
        free(names[i]);
    }
    if (n)
        ln_log_info("removed %zu unfinished upload folder%s from %s", n, n == 1 ? "" : "s",
                    J->outputs);
    free(names);
}

static int ln__job_file(const struct ln_jobs *J, const char *id, const char *name, char *buf,
                        size_t n)
{
    int w = snprintf(buf, n, "%s/%s/%s", J->outputs, id, name);
    return w < 0 || (size_t)w >= n ? -1 : 0;
}

/* A file written atomically is NAME.tmp-XXXXXX until its rename (see
 * ln_file_write_atomic): a model, preview or conversion cut short by a
 * crash leaves one behind in the job's folder. Nothing reads them, so each
 * start removes them before they pile up. Returns how many went. */
static size_t ln__clear_temporaries(const struct ln_jobs *J, const char *id)
{
    char dir[4096], path[4096];
    if (snprintf(dir, sizeof dir, "%s/%s", J->outputs, id) >= (int)sizeof dir)
        return 0;
    DIR *d = opendir(dir);
    if (!d)
        return 0;
    size_t n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        const char *t = strstr(e->d_name, ".tmp-");
        if (!t || t == e->d_name || strlen(t) != 5 + 6 ||
            ln__job_file(J, id, e->d_name, path, sizeof path) < 0)
            continue;
        if (unlink(path) == 0)
            n++;
        else if (errno != ENOENT)
            ln_log_warn("cannot remove %s: %s", path, strerror(errno));
    }
    closedir(d);
    return n;
}

/* ---- the table (under mu) ---- */

static struct ln_job *ln__find(struct ln_jobs *J, const char *id)
{
    if (!ln_job_id_valid(id))
        return NULL;
    json_t *pos = json_object_get(J->index, id);
    if (!pos)
        return NULL;
    return &J->table[json_integer_value(pos)];
}

static void ln__reindex(struct ln_jobs *J)
{
    json_object_clear(J->index);
    for (size_t i = 0; i < J->n_table; i++)
        json_object_set_new(J->index, J->table[i].id, json_integer((json_int_t)i));
}

static void ln__append(struct ln_jobs *J, const struct ln_job *job)
{
    if (J->n_table == J->cap_table) {
        J->cap_table = J->cap_table ? 2 * J->cap_table : 64;
        J->table = ln_xrealloc(J->table, J->cap_table * sizeof *J->table);
    }
    J->table[J->n_table] = *job;
    J->table[J->n_table].version = ++J->version;
    json_object_set_new(J->index, job->id, json_integer((json_int_t)J->n_table));
    if (job->idempotency_key[0])
        json_object_set_new(J->keys, job->idempotency_key, json_string(job->id));
    J->n_table++;
}

/* Drops the job at position i (the caller reindexes). */
static void ln__drop(struct ln_jobs *J, size_t i)
{
    const struct ln_job *job = &J->table[i];
    if (job->idempotency_key[0]) {
        json_t *owner = json_object_get(J->keys, job->idempotency_key);
        if (owner && strcmp(json_string_value(owner), job->id) == 0)
            json_object_del(J->keys, job->idempotency_key);
    }
    memmove(&J->table[i], &J->table[i + 1], (J->n_table - i - 1) * sizeof *J->table);
    J->n_table--;
}

/* Wakes everyone who waits for changes (under mu). */
static void ln__changed(struct ln_jobs *J)
{
    J->changes++;
    pthread_cond_broadcast(&J->changed);
}

/* Makes a change visible: copies next over the stored job with a new
 * version and wakes everyone who waits for changes. */
static void ln__commit(struct ln_jobs *J, struct ln_job *slot, const struct ln_job *next)
{
    *slot = *next;
    slot->version = ++J->version;
    ln__changed(J);
}

static void ln__queue_push(struct ln_jobs *J, const char *id, int front)
{
    if (J->n_queue == J->cap_queue) {
        J->cap_queue = J->cap_queue ? 2 * J->cap_queue : 16;
        J->queue = ln_xrealloc(J->queue, J->cap_queue * sizeof *J->queue);
    }
    if (front) {
        memmove(&J->queue[1], &J->queue[0], J->n_queue * sizeof *J->queue);
        memcpy(J->queue[0], id, LN_JOB_ID_LEN + 1);
    } else {
        memcpy(J->queue[J->n_queue], id, LN_JOB_ID_LEN + 1);
    }
    J->n_queue++;
    atomic_store(&J->pub_depth, J->n_queue);
}

static void ln__queue_remove(struct ln_jobs *J, const char *id)
{
    for (size_t i = 0; i < J->n_queue; i++) {
        if (strcmp(J->queue[i], id) == 0) {
            memmove(&J->queue[i], &J->queue[i + 1], (J->n_queue - i - 1) * sizeof *J->queue);
            J->n_queue--;
            atomic_store(&J->pub_depth, J->n_queue);
            return;
        }
    }
}

static struct ln__worker *ln__worker_of(struct ln_jobs *J, const char *id)
{
    for (int i = 0; i < J->n_workers; i++)
        if (J->workers[i].busy && strcmp(J->workers[i].id, id) == 0)
            return &J->workers[i];
    return NULL;
}

/* ---- persistence (under mu) ---- */

/* Writes the job's folder record (ln_folder.h) with `next`, or drops it for
 * the job `removed_id`, then the history with the same change. The record
 * goes first: whatever instant a crash picks, the record is never behind
 * jobs.json, so the next start can tell a finished job from its record even
 * when jobs.json is lost or one save behind. With `strict` a record that
 * cannot be written refuses the change (a submission is not acknowledged
 * without its record); otherwise the failure is logged and the history
 * still saved. On failure the document, the history file and the record are
 * as before. */
static int ln__persist(struct ln_jobs *J, const struct ln_job *next, const char *removed_id,
                       int strict, struct ln_error *err)
{
    const char *id = next ? next->id : removed_id;
    json_t *old = json_incref(json_object_get(J->doc, id));
    json_t *now = next ? ln_job_to_json(next) : NULL;
    struct ln_error rerr = {0};
    /* A job being deleted keeps its deletion mark: writing its record would
     * take the mark away (ln_jobs_delete). */
    int marked = now && json_object_get(J->deleting, id) != NULL;
    int rc = marked ? LN_OK
             : now  ? ln_folder_record_write(J->outputs, id, now, &rerr)
                    : ln_folder_record_drop(J->outputs, id, &rerr);
    int recorded = rc == LN_OK && !marked;
    if (rc < 0) {
        if (strict || !now) {
            if (err)
                *err = rerr;
            goto done;
        }
        ln_log_error("job %s: %s", id, rerr.message);
    }
    if (marked && !json_object_get(J->doc, id)) {
        /* Past step 3 of ln_jobs_delete: the table keeps the change. */
        rc = LN_OK;
        goto done;
    }
    if (now)
        json_object_set(J->doc, id, now);
    else
        json_object_del(J->doc, id);
    rc = ln_store_save(J->store, J->doc, err);
    if (rc < 0) {
        if (old)
            json_object_set(J->doc, id, old);
        else
            json_object_del(J->doc, id);
        /* The record follows the history back (best effort: a record left
         * ahead would let the next start apply a change that was refused). */
        struct ln_error berr = {0};
        if (recorded && (old ? ln_folder_record_write(J->outputs, id, old, &berr)
                             : ln_folder_record_drop(J->outputs, id, &berr)) < 0)
            ln_log_error("job %s: %s", id, berr.message);
    } else {
        J->dirty = 0;
    }
done:
    json_decref(now);
    json_decref(old);
    return rc;
}

/* For changes made by workers, which cannot be refused: the change stands
 * in memory and in the job's record, the failure is logged, and the next
 * save carries it. */
static void ln__persist_or_log(struct ln_jobs *J, const struct ln_job *next)
{
    struct ln_error err = {0};
    if (ln__persist(J, next, NULL, 0, &err) < 0) {
        json_t *now = ln_job_to_json(next);
        struct ln_error rerr = {0};
        int marked = json_object_get(J->deleting, next->id) != NULL;
        if (!marked && ln_folder_record_write(J->outputs, next->id, now, &rerr) < 0)
            ln_log_error("job %s: %s", next->id, rerr.message);
        if (!marked || json_object_get(J->doc, next->id))
            json_object_set(J->doc, next->id, now);
        json_decref(now);
        J->dirty = 1;
        ln_log_error("job %s is %s but %s", next->id, ln_job_status_name(next->status),
                     err.message);
    }
}

/* ---- retention (under mu) ---- */

static void ln__retain(struct ln_jobs *J, int save)
{
    if (J->keep_jobs == 0 && J->keep_seconds <= 0)
        return;
    double now = ln_time_wall();
    size_t n_final = 0;
    for (size_t i = 0; i < J->n_table; i++)
        n_final += ln_job_status_is_final(J->table[i].status) != 0;
    size_t over = J->keep_jobs && n_final > J->keep_jobs ? n_final - J->keep_jobs : 0;

    char *victim = ln_xcalloc(J->n_table ? J->n_table : 1, 1);
    size_t n_victims = 0;
    for (size_t i = 0; i < J->n_table; i++) {
        const struct ln_job *job = &J->table[i];
        if (!ln_job_status_is_final(job->status) || json_object_get(J->deleting, job->id))
            continue;
        double done_at = job->finished_at > 0 ? job->finished_at : job->created_at;
        if (n_victims < over ||
            (J->keep_seconds > 0 && now - done_at > J->keep_seconds)) {
            victim[i] = 1;
            n_victims++;
        }
    }
    if (n_victims == 0) {
        free(victim);
        return;
    }

    /* Each record goes before the history, as in ln__persist, so that a
     * crash in between cannot bring a removed job back from its folder; a
     * job whose record cannot be removed stays until the next try. */
    json_t *saved = json_object();
    struct ln_error err = {0};
    for (size_t i = 0; i < J->n_table; i++) {
        if (!victim[i])
            continue;
        const char *id = J->table[i].id;
        if (save && ln_folder_record_drop(J->outputs, id, &err) < 0) {
            ln_log_error("job %s kept for now: %s", id, err.message);
            victim[i] = 0;
            n_victims--;
            continue;
        }
        json_object_set(saved, id, json_object_get(J->doc, id));
        json_object_del(J->doc, id);
    }
    if (n_victims == 0) {
        json_decref(saved);
        free(victim);
        return;
    }
    if (save && ln_store_save(J->store, J->doc, &err) < 0) {
        ln_log_error("old jobs kept: %s", err.message);
        const char *id;
        json_t *job;
        json_object_foreach(saved, id, job)
        {
            struct ln_error rerr = {0};
            if (ln_folder_record_write(J->outputs, id, job, &rerr) < 0)
                ln_log_error("job %s: %s", id, rerr.message);
        }
        json_object_update(J->doc, saved);
        json_decref(saved);
        free(victim);
        return;
    }
    json_decref(saved);

    size_t kept = 0;
    for (size_t i = 0; i < J->n_table; i++) {
        struct ln_job *job = &J->table[i];
        if (!victim[i]) {
            if (kept != i)
                J->table[kept] = *job;
            kept++;
            continue;
        }
        ln_log_info("job %s (%s) removed with its files: retention keeps %s", job->id,
                    ln_job_status_name(job->status),
                    J->keep_seconds > 0 && now - job->finished_at > J->keep_seconds
                        ? "finished jobs for a limited time"
                        : "a limited number of finished jobs");
        ln__doom(J, job->id);
        if (job->idempotency_key[0])
            json_object_del(J->keys, job->idempotency_key);
    }
    J->n_table = kept;
    ln__reindex(J);
    ln__changed(J);
    free(victim);
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

static void ln__add_timing(struct ln_job *job, const char *name, double seconds, int first)
{
    if (job->n_timings >= LN_JOB_MAX_TIMINGS)
        return;
    int at = first ? 0 : job->n_timings;
    /* "total" stays last */
    if (!first && at > 0 && strcmp(job->timings[at - 1].name, "total") == 0)
        at--;
    memmove(&job->timings[at + 1], &job->timings[at],
            (size_t)(job->n_timings - at) * sizeof job->timings[0]);
    snprintf(job->timings[at].name, sizeof job->timings[at].name, "%s", name);
    job->timings[at].seconds = seconds;
    job->n_timings++;
}

/* Runs one job outside the lock: inputs from the job folder, the engine,
 * model.glb, preview.png. Fills the report fields of *job. */
static int ln__run(struct ln_jobs *J, struct ln__worker *w, struct ln_job *job,
                   struct ln_error *err)
{
    struct ln_image images[LN_MAX_VIEWS];
    struct ln_mesh mesh = {0};
    struct ln_image preview = {0};
    struct ln_generate_report rep;
    char path[4096];
    int n_loaded = 0, rc;
    double t0 = ln_time_now();
    memset(images, 0, sizeof images);
    w->last_stage[0] = 0;
    w->last_fraction = -1.0;
    struct ln_progress progress = {
        .report = ln__on_progress, .user = w, .cancel = &w->cancel};

    ln_progress_report(&progress, "decoding", 0.0);
    for (int i = 0; i < job->n_inputs; i++) {
        if (ln__job_file(J, job->id, job->inputs[i].file, path, sizeof path) < 0) {
            rc = ln_error_set(err, LN_EINTERNAL, "the outputs path is too long");
            goto done;
        }
        rc = ln_image_load(path, NULL, &images[i], err);
        if (rc < 0) {
            /* The message starts with our path; the client knows its name. */
            size_t pl = strlen(path);
            char msg[LN_ERROR_MESSAGE_MAX];
            const char *m = err->message;
            if (strncmp(m, path, pl) == 0 && strncmp(m + pl, ": ", 2) == 0)
                m += pl + 2;
            snprintf(msg, sizeof msg, "%s", m);
            ln_error_set(err, rc, "image %d (%s): %s", i + 1, job->inputs[i].name, msg);
            goto done;
        }
        n_loaded++;
    }
    double t_decode = ln_time_now() - t0;
    if (ln_progress_canceled(&progress)) {
        rc = ln_error_set(err, LN_ECANCELED, "canceled");
        goto done;
    }

    struct ln_engine_input in = {
        .images = images,
        .n_images = (size_t)job->n_inputs,
        .views = job->has_views ? job->views : NULL,
    };
    /* The engine chosen at submit may be gone after a restart (its weights
     * removed): the job then runs on the default engine for its image
     * count, and says so, rather than failing a request that was valid. */
    char fallback[LN_ERROR_MESSAGE_MAX] = "";
    const struct ln_engine *engine = ln_engine_set_find(&J->engines, job->engine);
    if (!engine || !ln_engine_accepts(engine, (size_t)job->n_inputs)) {
        engine = ln_engine_set_pick(&J->engines, NULL, (size_t)job->n_inputs, err);
        if (!engine) {
            rc = LN_EINVAL;
            goto done;
        }
        snprintf(fallback, sizeof fallback,
                 "the %.16s engine is not loaded on this server: generated with %s",
                 job->engine[0] ? job->engine : "chosen", ln_engine_name(engine));
        ln_log_warn("job %s: %s", job->id, fallback);
    }
    struct ln_progress gen = ln_progress_span(&progress, 0.05, 0.95);
    rc = ln_generate(engine, &in, &job->options, &gen, &mesh, &rep, err);
    if (rc < 0)
        goto done;
    for (int i = 0; i < n_loaded; i++)
        ln_image_free(&images[i]);
    n_loaded = 0;

    ln_progress_report(&progress, "saving", 0.95);
    double t_save = ln_time_now();
    if (ln__job_file(J, job->id, "model.glb", path, sizeof path) < 0) {
        rc = ln_error_set(err, LN_EINTERNAL, "the outputs path is too long");
        goto done;
    }
    rc = ln_mesh_save(&mesh, path, LN_MESH_FORMAT_GLB, err);
    if (rc < 0)
        goto done;
    ln_job_set_report(job, &rep);
    if (fallback[0] && job->n_warnings < LN_REPORT_MAX_WARNINGS)
        snprintf(job->warnings[job->n_warnings++], sizeof job->warnings[0], "%s", fallback);

    /* The model is what was asked for; a missing thumbnail is a warning. */
    struct ln_error perr = {0};
    if (ln__job_file(J, job->id, "preview.png", path, sizeof path) < 0 ||
        ln_render_preview(&mesh, LN__PREVIEW_SIZE, &preview, &perr) < 0 ||
        ln_image_save_png(&preview, path, &perr) < 0) {
        ln_log_warn("job %s: no preview: %s", job->id, perr.message);
        if (job->n_warnings < LN_REPORT_MAX_WARNINGS)
            snprintf(job->warnings[job->n_warnings++], sizeof job->warnings[0],
                     "no preview image: %.200s", perr.message);
    }
    ln__add_timing(job, "decode", t_decode, 1);
    ln__add_timing(job, "save", ln_time_now() - t_save, 0);
    if (job->n_timings > 0 && strcmp(job->timings[job->n_timings - 1].name, "total") == 0)
        job->timings[job->n_timings - 1].seconds = ln_time_now() - t0;
    rc = LN_OK;

done:
    ln_image_free(&preview);
    ln_mesh_free(&mesh);
    for (int i = 0; i < n_loaded; i++)
        ln_image_free(&images[i]);
    return rc;
}

/* Records what a run ended with (under mu). */
static void ln__finish(struct ln_jobs *J, struct ln__worker *w, const struct ln_job *result,
                       int rc, const struct ln_error *err)
{
    struct ln_job *job = w->deleted ? NULL : ln__find(J, w->id);
    if (!job) {
        ln__doom(J, w->id);
        return;
    }
    struct ln_job next = *job;
    double now = ln_time_wall();
    if (rc == LN_OK) {
        next.status = LN_JOB_STATUS_SUCCEEDED;
        snprintf(next.engine, sizeof next.engine, "%s", result->engine);
        next.n_timings = result->n_timings;
        memcpy(next.timings, result->timings, sizeof next.timings);
        next.has_mesh = result->has_mesh;
        next.mesh = result->mesh;
        next.n_warnings = result->n_warnings;
        memcpy(next.warnings, result->warnings, sizeof next.warnings);
        memcpy(next.background, result->background, sizeof next.background);
        snprintf(next.stage, sizeof next.stage, "done");
        next.progress = 1.0;
        next.finished_at = now;
    } else if (rc == LN_ECANCELED && w->requeue && !w->user_canceled) {
        next.status = LN_JOB_STATUS_QUEUED;
        snprintf(next.stage, sizeof next.stage, "queued");
        next.progress = 0.0;
        next.started_at = 0.0;
    } else if (rc == LN_ECANCELED) {
        next.status = LN_JOB_STATUS_CANCELED;
        snprintf(next.stage, sizeof next.stage, "canceled");
        next.finished_at = now;
    } else {
        next.status = LN_JOB_STATUS_FAILED;
        snprintf(next.stage, sizeof next.stage, "failed");
        next.error_code = rc;
        snprintf(next.error, sizeof next.error, "%s",
                 err->message[0] ? err->message : ln_status_string(rc));
        next.finished_at = now;
    }
    ln__persist_or_log(J, &next);
    ln__commit(J, job, &next);

    if (next.status == LN_JOB_STATUS_QUEUED) {
        ln__queue_push(J, next.id, 1);
        ln_log_info("job %s stopped by the shutdown: queued again", next.id);
        return;
    }
    if (next.status == LN_JOB_STATUS_SUCCEEDED)
        ln_log_info("job %s succeeded: %zu faces in %.2f s", next.id, next.mesh.n_faces,
                    next.finished_at - next.started_at);
    else if (next.status == LN_JOB_STATUS_FAILED)
        ln_log_info("job %s failed: %s", next.id, next.error);
    else
        ln_log_info("job %s canceled", next.id);

    double d = next.finished_at - next.started_at;
    if (d < 0)
        d = 0;
    for (int b = 0; b < LN_JOBS_DURATION_BUCKETS; b++)
        if (d <= ln__bucket_bounds[b])
            J->bucket_counts[b]++;
    J->duration_count++;
    J->duration_sum += d;
    ln__retain(J, 1);
}

static void *ln__worker_main(void *arg)
{
    struct ln__worker *w = arg;
    struct ln_jobs *J = w->jobs;
    /* Generation runs in the background scheduling class (SCHED_IDLE: it
     * gets the CPU whenever the HTTP threads do not want it, which keeps
     * the answers to /health and the API prompt while a job computes); the
     * threads a job starts inherit the policy. Where that is refused, a
     * lower nice value does most of the same. */
    struct sched_param sp = {0};
    if (pthread_setschedparam(pthread_self(), SCHED_IDLE, &sp) != 0 &&
        setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), 10) < 0)
        ln_log_debug("could not lower the worker's priority: %s", strerror(errno));
    pthread_mutex_lock(&J->mu);
    for (;;) {
        while (!J->stopping && J->n_queue == 0)
            pthread_cond_wait(&J->work, &J->mu);
        if (J->stopping)
            break;
        char id[LN_JOB_ID_LEN + 1];
        memcpy(id, J->queue[0], sizeof id);
        ln__queue_remove(J, id);
        struct ln_job *job = ln__find(J, id);
        if (!job || job->status != LN_JOB_STATUS_QUEUED)
            continue;

        struct ln_job next = *job;
        next.status = LN_JOB_STATUS_RUNNING;
        next.attempts++;
        next.started_at = ln_time_wall();
        next.finished_at = 0.0;
        snprintf(next.stage, sizeof next.stage, "starting");
        next.progress = 0.0;
        next.error_code = LN_OK;
        next.error[0] = 0;
        ln__persist_or_log(J, &next);
        ln__commit(J, job, &next);

        w->busy = 1;
        atomic_fetch_add(&J->pub_running, 1);
        memcpy(w->id, id, sizeof id);
        w->user_canceled = 0;
        w->deleted = 0;
        w->requeue = 0;
        atomic_store(&w->cancel, 0);
        pthread_mutex_unlock(&J->mu);

        struct ln_job *result = ln_xmalloc(sizeof *result);
        *result = next;
        struct ln_error err = {0};
        int rc = ln__run(J, w, result, &err);

        pthread_mutex_lock(&J->mu);
        ln__finish(J, w, result, rc, &err);
        free(result);
        w->busy = 0;
        atomic_fetch_sub(&J->pub_running, 1);
        w->id[0] = 0;
        ln__changed(J);
        if (json_array_size(J->doomed)) {
            pthread_mutex_unlock(&J->mu);
            ln__remove_doomed(J);
            pthread_mutex_lock(&J->mu);
        }
    }
    pthread_mutex_unlock(&J->mu);
    return NULL;
}

/* ---- opening ---- */

static int ln__by_created(const void *a, const void *b)
{
    const struct ln_job *x = a, *y = b;
    if (x->created_at != y->created_at)
        return x->created_at < y->created_at ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* Fills the table from the loaded history and queues unfinished jobs
 * again. Returns whether anything changed that must be saved. */
static int ln__load(struct ln_jobs *J)
{
    json_t *stored = ln_store_jobs(J->store);
    const char *key;
    json_t *val;
    struct ln_job *job = ln_xmalloc(sizeof *job);
    json_object_foreach(stored, key, val)
    {
        struct ln_error err = {0};
        if (ln_job_from_json(val, job, &err) < 0 || strcmp(job->id, key) != 0) {
            /* The store validated every entry; this is only a safety net. */
            ln_log_warn("job %s dropped from the history: %s", key, err.message);
            continue;
        }
        ln__append(J, job);
    }
    free(job);
    if (J->n_table > 1)
        qsort(J->table, J->n_table, sizeof *J->table, ln__by_created);
    ln__reindex(J);

    int changed = 0;
    size_t n_temporaries = 0;
    char path[4096];
    for (size_t i = 0; i < J->n_table; i++) {
        struct ln_job *j = &J->table[i];
        n_temporaries += ln__clear_temporaries(J, j->id);
        if (j->status == LN_JOB_STATUS_RUNNING) {
            ln_log_info("job %s was running when the server stopped: queued again", j->id);
            j->status = LN_JOB_STATUS_QUEUED;
            snprintf(j->stage, sizeof j->stage, "queued");
            j->progress = 0.0;
            j->started_at = 0.0;
            changed = 1;
            json_t *rec = ln_job_to_json(j);
            struct ln_error rerr = {0};
            if (ln_folder_record_write(J->outputs, j->id, rec, &rerr) < 0)
                ln_log_warn("job %s: %s", j->id, rerr.message);
            json_decref(rec);
        }
        if (j->status == LN_JOB_STATUS_QUEUED)
            ln__queue_push(J, j->id, 0);
        if (j->status == LN_JOB_STATUS_SUCCEEDED &&
            (ln__job_file(J, j->id, "model.glb", path, sizeof path) < 0 ||
             access(path, F_OK) != 0))
            ln_log_warn("job %s succeeded but its model %s is missing", j->id, path);
        json_object_set_new(J->doc, j->id, ln_job_to_json(j));
    }
    if (n_temporaries)
        ln_log_info("removed %zu unfinished file write%s from job folders", n_temporaries,
                    n_temporaries == 1 ? "" : "s");
    if (J->n_queue)
        ln_log_info("%zu job%s waiting in the queue", J->n_queue, J->n_queue == 1 ? "" : "s");
    return changed;
}

/* The one summary line of what the folders gave back or lost at start-up
 * (nothing when the history and the folders agreed). */
static void ln__log_census(const struct ln_jobs *J, const struct ln_folder_census *c)
{
    struct ln_buf b = {0};
    const struct {
        size_t n;
        const char *one, *many;
    } parts[] = {
        {c->adopted, "job adopted from its folder", "jobs adopted from their folders"},
        {c->advanced, "job brought forward to its folder record",
         "jobs brought forward to their folder records"},
        {c->removed, "unacknowledged folder removed", "unacknowledged folders removed"},
        {c->deleted, "deleted job's folder removed", "deleted jobs' folders removed"},
        {c->kept, "folder outside the history left as it is",
         "folders outside the history left as they are"},
        {c->written, "job record written from the history", "job records written from the history"},
    };
    for (size_t i = 0; i < sizeof parts / sizeof parts[0]; i++) {
        if (!parts[i].n)
            continue;
        ln_buf_printf(&b, "%s%zu %s", b.len ? ", " : "", parts[i].n,
                      parts[i].n == 1 ? parts[i].one : parts[i].many);
    }
    if (b.len)
        ln_buf_append(&b, "", 1);
    if (b.len && !b.failed)
        ln_log_info("job history: %s (%s)", (const char *)b.data, J->outputs);
    ln_buf_free(&b);
}

int ln_jobs_open(const struct ln_jobs_config *cfg, const struct ln_engine_set *engines,
                 struct ln_jobs **out, struct ln_error *err)
{
    struct ln_jobs_config def;
    ln_jobs_config_default(&def);
    if (!cfg)
        cfg = &def;
    *out = NULL;
    struct ln_jobs *J = ln_xcalloc(1, sizeof *J);
    int rc;
    J->outputs = ln_xstrdup(cfg->outputs_dir && cfg->outputs_dir[0] ? cfg->outputs_dir
                                                                     : def.outputs_dir);
    J->engines = *engines;
    J->n_workers = cfg->workers > 0 ? cfg->workers : 1;
    J->max_queue = cfg->max_queue > 0 ? cfg->max_queue : def.max_queue;
    J->keep_jobs = cfg->keep_jobs;
    J->keep_seconds = cfg->keep_seconds;
    J->doc = json_object();
    J->index = json_object();
    J->keys = json_object();
    J->deleting = json_object();
    J->doomed = json_array();
    J->workers = ln_xcalloc((size_t)J->n_workers, sizeof *J->workers);
    for (int i = 0; i < J->n_workers; i++) {
        J->workers[i].jobs = J;
        atomic_init(&J->workers[i].cancel, 0);
    }
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&J->mu, NULL);
    pthread_cond_init(&J->work, NULL);
    pthread_cond_init(&J->changed, &ca);
    pthread_condattr_destroy(&ca);

    struct stat st;
    if (stat(J->outputs, &st) == 0 && !S_ISDIR(st.st_mode)) {
        rc = ln_error_set(err, LN_EIO, "%s is not a folder", J->outputs);
        goto fail;
    }
    if ((rc = ln_file_mkdirs(J->outputs, err)) < 0)
        goto fail;
    ln__clear_staging(J);
    if ((rc = ln_store_open(J->outputs, &J->store, err)) < 0)
        goto fail;
    struct ln_folder_census census;
    if ((rc = ln_folder_reconcile(J->outputs, ln_store_jobs(J->store), &census, err)) < 0)
        goto fail;
    ln__log_census(J, &census);
    int changed = ln__load(J);
    if (changed || census.adopted || census.advanced || ln_store_recovered(J->store) ||
        json_object_size(J->doc) != json_object_size(ln_store_jobs(J->store))) {
        if ((rc = ln_store_save(J->store, J->doc, err)) < 0)
            goto fail;
    }
    ln__retain(J, 1);
    ln__remove_doomed(J);
    *out = J;
    return LN_OK;

fail:
    J->shut_down = 1;
    ln_jobs_free(J);
    return rc;
}

int ln_jobs_start(struct ln_jobs *J, struct ln_error *err)
{
    int rc = LN_OK;
    pthread_mutex_lock(&J->mu);
    if (J->started || J->stopping) {
        pthread_mutex_unlock(&J->mu);
        return LN_OK;
    }
    J->started = 1;
    pthread_mutex_unlock(&J->mu);
    for (int i = 0; i < J->n_workers; i++) {
        int e = pthread_create(&J->workers[i].thread, NULL, ln__worker_main, &J->workers[i]);
        if (e != 0) {
            rc = ln_error_set(err, LN_EINTERNAL, "cannot start worker %d: %s", i + 1,
                              strerror(e));
            break;
        }
        J->workers[i].started = 1;
    }
    return rc;
}

/* ---- requests ---- */

static const char *ln__ext_for(const char *content_type)
{
    if (strcmp(content_type, "image/png") == 0)
        return "png";
    if (strcmp(content_type, "image/jpeg") == 0)
        return "jpg";
    if (strcmp(content_type, "image/webp") == 0)
        return "webp";
    return NULL;
}

static void ln__unlink_staged(const struct ln_job_request *req)
{
    for (int i = 0; i < req->n_inputs && i < LN_MAX_VIEWS; i++)
        if (req->staged_paths[i])
            unlink(req->staged_paths[i]);
}

int ln_jobs_submit(struct ln_jobs *J, const struct ln_job_request *req, struct ln_job *out,
                   int *existed, struct ln_error *err)
{
    int rc;
    char dir[4096], path[4096];
    int made_dir = 0;
    struct ln_job *job = NULL;
    if (existed)
        *existed = 0;
    if (req->n_inputs < 1 || req->n_inputs > LN_MAX_VIEWS)
        return ln_error_set(err, LN_EINVAL, "between 1 and %d images are needed (got %d)",
                            LN_MAX_VIEWS, req->n_inputs);
    for (int i = 0; i < req->n_inputs; i++) {
        if (!req->staged_paths[i] || !ln__ext_for(req->inputs[i].content_type))
            return ln_error_set(err, LN_EINVAL, "image %d is not a staged PNG, JPEG or WebP file",
                                i + 1);
    }
    const char *key = req->idempotency_key ? req->idempotency_key : "";
    if (strlen(key) >= LN_JOB_KEY_MAX)
        return ln_error_set(err, LN_EINVAL, "the idempotency key is longer than %d characters",
                            LN_JOB_KEY_MAX - 1);
    const struct ln_engine *engine =
        ln_engine_set_pick(&J->engines, req->engine, (size_t)req->n_inputs, err);
    if (!engine)
        return LN_EINVAL;

    pthread_mutex_lock(&J->mu);
    if (key[0]) {
        json_t *owner = json_object_get(J->keys, key);
        struct ln_job *prev = owner ? ln__find(J, json_string_value(owner)) : NULL;
        if (prev) {
            *out = *prev;
            if (existed)
                *existed = 1;
            pthread_mutex_unlock(&J->mu);
            ln__unlink_staged(req);
            return LN_OK;
        }
    }
    if (J->stopping) {
        rc = ln_error_set(err, LN_EBUSY, "the server is shutting down");
        goto fail;
    }
    if (J->n_queue >= J->max_queue) {
        rc = ln_error_set(err, LN_EBUSY, "the queue is full (%zu jobs waiting)", J->n_queue);
        goto fail;
    }

    job = ln_xcalloc(1, sizeof *job);
    do
        ln_job_id_new(job->id);
    while (ln__find(J, job->id));
    if (snprintf(dir, sizeof dir, "%s/%s", J->outputs, job->id) >= (int)sizeof dir) {
        rc = ln_error_set(err, LN_EINTERNAL, "the outputs path is too long");
        goto fail;
    }
    if (mkdir(dir, 0755) < 0) {
        rc = ln_error_set(err, LN_EIO, "cannot create the job folder %s: %s", dir,
                          strerror(errno));
        goto fail;
    }
    made_dir = 1;
    job->n_inputs = req->n_inputs;
    for (int i = 0; i < req->n_inputs; i++) {
        struct ln_job_input *in = &job->inputs[i];
        *in = req->inputs[i];
        in->name[sizeof in->name - 1] = 0;
        in->content_type[sizeof in->content_type - 1] = 0;
        snprintf(in->file, sizeof in->file, "input-%d.%s", i, ln__ext_for(in->content_type));
        if (ln__job_file(J, job->id, in->file, path, sizeof path) < 0 ||
            rename(req->staged_paths[i], path) < 0) {
            rc = ln_error_set(err, LN_EIO, "cannot move the upload %s into %s: %s",
                              req->staged_paths[i], dir, strerror(errno));
            goto fail;
        }
    }
    job->status = LN_JOB_STATUS_QUEUED;
    snprintf(job->stage, sizeof job->stage, "queued");
    job->created_at = ln_time_wall();
    snprintf(job->engine, sizeof job->engine, "%s", ln_engine_name(engine));
    job->options = req->options;
    job->has_views = req->has_views;
    if (req->has_views)
        memcpy(job->views, req->views, sizeof job->views);
    snprintf(job->idempotency_key, sizeof job->idempotency_key, "%s", key);

    /* Record and history are durable before the caller can answer 202. */
    if ((rc = ln__persist(J, job, NULL, 1, err)) < 0)
        goto fail;
    ln__append(J, job);
    ln__queue_push(J, job->id, 0);
    *out = J->table[J->n_table - 1];
    size_t waiting = J->n_queue;
    pthread_cond_signal(&J->work);
    ln__changed(J);
    pthread_mutex_unlock(&J->mu);
    ln_log_info("job %s queued (%d image%s, %zu waiting)", job->id, job->n_inputs,
                job->n_inputs == 1 ? "" : "s", waiting);
    free(job);
    return LN_OK;

fail:
    if (made_dir)
        ln__remove_folder(J, job->id);
    pthread_mutex_unlock(&J->mu);
    free(job);
    return rc;
}

int ln_jobs_get(struct ln_jobs *J, const char *id, struct ln_job *out, struct ln_error *err)
{
    int rc = LN_OK;
    pthread_mutex_lock(&J->mu);
    const struct ln_job *job = ln__find(J, id);
    if (job)
        *out = *job;
    else
        rc = ln_error_set(err, LN_ENOTFOUND, "no job with id %.40s", id ? id : "");
    pthread_mutex_unlock(&J->mu);
    return rc;
}

/* limit 0 lists every matching job from offset on. */
int ln_jobs_list(struct ln_jobs *J, int status, size_t offset, size_t limit,
                 struct ln_job **out, size_t *n, size_t *total, struct ln_error *err)
{
    if (status < -1 || status >= LN_JOB_STATUS_COUNT)
        return ln_error_set(err, LN_EINVAL, "unknown job status %d", status);
    pthread_mutex_lock(&J->mu);
    size_t matching = 0;
    for (size_t i = 0; i < J->n_table; i++)
        matching += status < 0 || (int)J->table[i].status == status;
    size_t avail = matching > offset ? matching - offset : 0;
    size_t want = limit && limit < avail ? limit : avail;
    struct ln_job *list = ln_xmalloc((want ? want : 1) * sizeof *list);
    size_t seen = 0, got = 0;
    for (size_t i = J->n_table; i-- > 0 && got < want;) {
        const struct ln_job *job = &J->table[i];
        if (status >= 0 && (int)job->status != status)
            continue;
        if (seen++ < offset)
            continue;
        list[got++] = *job;
    }
    pthread_mutex_unlock(&J->mu);
    *out = list;
    *n = got;
    if (total)
        *total = matching;
    return LN_OK;
}

int ln_jobs_cancel(struct ln_jobs *J, const char *id, struct ln_job *out, struct ln_error *err)
{
    int rc = LN_OK;
    pthread_mutex_lock(&J->mu);
    struct ln_job *job = ln__find(J, id);
    if (!job) {
        rc = ln_error_set(err, LN_ENOTFOUND, "no job with id %.40s", id ? id : "");
        goto done;
    }
    if (ln_job_status_is_final(job->status)) {
        rc = ln_error_set(err, LN_EINVAL, "job %s already %s", job->id,
                          ln_job_status_name(job->status));
        goto done;
    }
    if (job->status == LN_JOB_STATUS_QUEUED) {
        struct ln_job next = *job;
        next.status = LN_JOB_STATUS_CANCELED;
        snprintf(next.stage, sizeof next.stage, "canceled");
        next.finished_at = ln_time_wall();
        if ((rc = ln__persist(J, &next, NULL, 0, err)) < 0)
            goto done;
        ln__queue_remove(J, job->id);
        ln__commit(J, job, &next);
        *out = *job;
        ln_log_info("job %s canceled before it started", job->id);
        ln__retain(J, 1);
        goto done;
    }
    /* Running: the engine stops at its next stage boundary and the worker
     * records the job as canceled. */
    struct ln__worker *w = ln__worker_of(J, job->id);
    if (w) {
        w->user_canceled = 1;
        atomic_store(&w->cancel, 1);
    }
    snprintf(job->stage, sizeof job->stage, "canceling");
    job->version = ++J->version;
    ln__changed(J);
    *out = *job;
done:
    pthread_mutex_unlock(&J->mu);
    ln__remove_doomed(J); /* retention's, after a cancel */
    return rc;
}


/* A deletion refused after its mark: the job's record is written again as
 * the table has it (now, which this takes), outside the lock, and the job
 * is no longer being deleted. */
static void ln__delete_refused(struct ln_jobs *J, const char *jid, json_t *now)
{
    struct ln_error rerr = {0};
    if (ln_folder_record_write(J->outputs, jid, now, &rerr) < 0)
        ln_log_error("job %s: %s", jid, rerr.message);
    json_decref(now);
    pthread_mutex_lock(&J->mu);
    json_object_del(J->deleting, jid);
    pthread_mutex_unlock(&J->mu);
}
/* DESIGN: a deletion in steps, the lock held only in between.
 *   1. Under mu: the job is put in `deleting`; from then on nothing writes
 *      its record (ln__persist skips it) and retention leaves it alone, so
 *      the mark of step 2 stays, and a second delete of it answers 404.
 *   2. Without mu: its record becomes the deletion mark (two fsyncs).
 *   3. Under mu: it leaves the history document (changes to it are now
 *      kept in the table only), and the history is serialised
 *      (ln_store_snapshot numbers it). Without mu, the snapshot is written
 *      unless a newer one already was (it lacks the job too).
 *   4. Under mu: the job leaves the table (GET answers 404 from here on),
 *      its worker is told; then, without mu, the folder is removed.
 * The mark is durable before any snapshot without the job exists, and the
 * folder goes only after one is on disk, so a crash at any instant either
 * leaves the job whole (its mark is dropped at start-up: the delete never
 * happened) or finishes the deletion at start-up (ln_folder_reconcile).
 * When the history cannot be written the deletion is refused: the job goes
 * back into the document as the table has it and its record is rewritten.
 * GET /jobs/{id} and the event notifier wait only for the in-memory parts.
 * The HTTP server calls this on a helper thread (ln_server_slow.c). */
int ln_jobs_delete(struct ln_jobs *J, const char *id, struct ln_error *err)
{
    char jid[LN_JOB_ID_LEN + 1];
    pthread_mutex_lock(&J->mu);
    struct ln_job *job = ln__find(J, id);
    if (!job || json_object_get(J->deleting, job->id)) {
        pthread_mutex_unlock(&J->mu);
        return ln_error_set(err, LN_ENOTFOUND, "no job with id %.40s", id ? id : "");
    }
    memcpy(jid, job->id, sizeof jid);
    json_object_set_new(J->deleting, jid, json_true());
    pthread_mutex_unlock(&J->mu);

    /* 2 */
    int rc = ln_folder_record_drop(J->outputs, jid, err);
    if (rc < 0) {
        /* Refused: the record, mark or not, and skipped by changes made
         * meanwhile, is written again as the table has the job. */
        pthread_mutex_lock(&J->mu);
        json_t *now = ln_job_to_json(ln__find(J, jid));
        pthread_mutex_unlock(&J->mu);
        ln__delete_refused(J, jid, now);
        return rc;
    }

    /* 3 */
    pthread_mutex_lock(&J->mu);
    json_object_del(J->doc, jid);
    uint64_t seq;
    char *text = ln_store_snapshot(J->store, J->doc, &seq);
    pthread_mutex_unlock(&J->mu);
    rc = ln_store_write(J->store, text, seq, err);

    /* 4 */
    pthread_mutex_lock(&J->mu);
    job = ln__find(J, jid); /* still there: only this call removes it now */
    if (rc < 0) {
        json_t *now = ln_job_to_json(job);
        json_object_set(J->doc, jid, now);
        J->dirty = 1; /* a newer snapshot without it may be on disk */
        pthread_mutex_unlock(&J->mu);
        ln__delete_refused(J, jid, now);
        return rc;
    }
    struct ln__worker *w = job->status == LN_JOB_STATUS_RUNNING ? ln__worker_of(J, jid) : NULL;
    if (w) {
        w->deleted = 1;
        w->user_canceled = 1;
        atomic_store(&w->cancel, 1);
    }
    ln__queue_remove(J, jid);
    ln__drop(J, (size_t)(job - J->table));
    ln__reindex(J);
    json_object_del(J->deleting, jid);
    ln__changed(J);
    pthread_mutex_unlock(&J->mu);

    /* A running job's worker removes the folder when the engine returns. */
    if (!w)
        ln__remove_folder(J, jid);
    ln_log_info("job %s deleted", jid);
    return LN_OK;
}

/* The CLOCK_MONOTONIC instant timeout_s from now (clamped to 0..1 day), for
 * pthread_cond_timedwait on the manager's condition variables. */
static void ln__deadline(double timeout_s, struct timespec *deadline)
{
    clock_gettime(CLOCK_MONOTONIC, deadline);
    if (timeout_s < 0)
        timeout_s = 0;
    if (timeout_s > 86400)
        timeout_s = 86400;
    long long ns = deadline->tv_nsec + (long long)((timeout_s - (long long)timeout_s) * 1e9);
    deadline->tv_sec += (time_t)timeout_s + (time_t)(ns / 1000000000LL);
    deadline->tv_nsec = (long)(ns % 1000000000LL);
}

int ln_jobs_wait(struct ln_jobs *J, const char *id, uint64_t seen_version, double timeout_s,
                 struct ln_job *out, struct ln_error *err)
{
    struct timespec deadline;
    ln__deadline(timeout_s, &deadline);

    int rc = LN_OK;
    pthread_mutex_lock(&J->mu);
    for (;;) {
        const struct ln_job *job = ln__find(J, id);
        if (!job) {
            rc = ln_error_set(err, LN_ENOTFOUND, "no job with id %.40s", id ? id : "");
            break;
        }
        if (job->version != seen_version ||
            pthread_cond_timedwait(&J->changed, &J->mu, &deadline) == ETIMEDOUT) {
            job = ln__find(J, id);
            if (!job) {
                rc = ln_error_set(err, LN_ENOTFOUND, "no job with id %.40s", id ? id : "");
                break;
            }
            *out = *job;
            break;
        }
    }
    pthread_mutex_unlock(&J->mu);
    return rc;
}

uint64_t ln_jobs_wait_any(struct ln_jobs *J, uint64_t seen_changes, double timeout_s)
{
    struct timespec deadline;
    ln__deadline(timeout_s, &deadline);

    pthread_mutex_lock(&J->mu);
    while (J->changes == seen_changes)
        if (pthread_cond_timedwait(&J->changed, &J->mu, &deadline) == ETIMEDOUT)
            break;
    uint64_t now = J->changes;
    pthread_mutex_unlock(&J->mu);
    return now;
}

int ln_jobs_path(struct ln_jobs *J, const char *id, const char *name, char *buf, size_t n,
                 struct ln_error *err)
{
    if (!ln_job_id_valid(id))
        return ln_error_set(err, LN_ENOTFOUND, "no job with id %.40s", id ? id : "");
    if (!name || !name[0] || strchr(name, '/') || strcmp(name, ".") == 0 ||
        strcmp(name, "..") == 0)
        return ln_error_set(err, LN_EINVAL, "\"%.40s\" is not a file name", name ? name : "");
    if (ln__job_file(J, id, name, buf, n) < 0)
        return ln_error_set(err, LN_EINVAL, "the path of %s in job %s is too long", name, id);
    return LN_OK;
}

int ln_jobs_model(struct ln_jobs *J, const char *id, enum ln_mesh_format fmt, char *buf,
                  size_t n, struct ln_error *err)
{
    char glb[4096], name[16];
    if ((int)fmt < 0 || fmt >= LN_MESH_FORMAT_COUNT)
        return ln_error_set(err, LN_EINVAL, "unknown model format");
    pthread_mutex_lock(&J->mu);
    const struct ln_job *job = ln__find(J, id);
    int rc = LN_OK;
    if (!job)
        rc = ln_error_set(err, LN_ENOTFOUND, "no job with id %.40s", id ? id : "");
    else if (job->status != LN_JOB_STATUS_SUCCEEDED)
        rc = ln_error_set(err, LN_ENOTFOUND, "job %s has no model (it is %s)", job->id,
                          ln_job_status_name(job->status));
    pthread_mutex_unlock(&J->mu);
    if (rc < 0)
        return rc;

    snprintf(name, sizeof name, "model.%s", ln_mesh_format_ext(fmt));
    if ((rc = ln_jobs_path(J, id, name, buf, n, err)) < 0 ||
        (rc = ln_jobs_path(J, id, "model.glb", glb, sizeof glb, err)) < 0)
        return rc;
    if (access(glb, F_OK) != 0)
        return ln_error_set(err, LN_ENOTFOUND, "the model of job %s is missing", id);
    if (fmt == LN_MESH_FORMAT_GLB || access(buf, F_OK) == 0)
        return LN_OK;

    /* Converted outside the lock; two requests racing both write the same
     * bytes atomically, so either file is whole. */
    struct ln_mesh mesh = {0};
    rc = ln_mesh_load(glb, &mesh, err);
    if (rc == LN_OK)
        rc = ln_mesh_save(&mesh, buf, fmt, err);
    ln_mesh_free(&mesh);
    if (rc < 0)
        return ln_error_prefix(err, "converting the model of job %s", id);
    return LN_OK;
}

int ln_jobs_staging_dir(struct ln_jobs *J, char *buf, size_t n, struct ln_error *err)
{
    int w = snprintf(buf, n, "%s/" LN__STAGING_PREFIX "XXXXXX", J->outputs);
    if (w < 0 || (size_t)w >= n)
        return ln_error_set(err, LN_EINVAL, "the staging path is too long");
    if (!mkdtemp(buf))
        return ln_error_set(err, LN_EIO, "cannot create an upload folder in %s: %s",
                            J->outputs, strerror(errno));
    return LN_OK;
}

void ln_jobs_queue_stats(struct ln_jobs *J, struct ln_jobs_queue_stats *q)
{
    q->depth = atomic_load(&J->pub_depth);
    q->capacity = J->max_queue;
    q->running = atomic_load(&J->pub_running);
    q->workers = J->n_workers;
}

void ln_jobs_metrics(struct ln_jobs *J, struct ln_jobs_metrics *m)
{
    memset(m, 0, sizeof *m);
    pthread_mutex_lock(&J->mu);
    for (size_t i = 0; i < J->n_table; i++)
        m->by_status[J->table[i].status]++;
    m->queue_depth = J->n_queue;
    m->queue_capacity = J->max_queue;
    m->workers = J->n_workers;
    memcpy(m->bucket_bounds, ln__bucket_bounds, sizeof m->bucket_bounds);
    memcpy(m->bucket_counts, J->bucket_counts, sizeof m->bucket_counts);
    m->duration_count = J->duration_count;
    m->duration_sum = J->duration_sum;
    pthread_mutex_unlock(&J->mu);
}

/* ---- shutdown ---- */

static int ln__any_busy(const struct ln_jobs *J)
{
    for (int i = 0; i < J->n_workers; i++)
        if (J->workers[i].busy)
            return 1;
    return 0;
}

void ln_jobs_shutdown(struct ln_jobs *J, double grace_s)
{
    pthread_mutex_lock(&J->mu);
    if (J->shut_down) {
        pthread_mutex_unlock(&J->mu);
        return;
    }
    J->stopping = 1;
    pthread_cond_broadcast(&J->work);

    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    if (grace_s < 0)
        grace_s = 0;
    if (grace_s > 86400)
        grace_s = 86400;
    long long ns = deadline.tv_nsec + (long long)((grace_s - (long long)grace_s) * 1e9);
    deadline.tv_sec += (time_t)grace_s + (time_t)(ns / 1000000000LL);
    deadline.tv_nsec = (long)(ns % 1000000000LL);
    while (ln__any_busy(J))
        if (pthread_cond_timedwait(&J->changed, &J->mu, &deadline) == ETIMEDOUT)
            break;
    for (int i = 0; i < J->n_workers; i++) {
        struct ln__worker *w = &J->workers[i];
        if (w->busy) {
            ln_log_info("job %s is still running after %.1f s: stopping it to run again at "
                        "the next start",
                        w->id, grace_s);
            w->requeue = 1;
            atomic_store(&w->cancel, 1);
        }
    }
    pthread_mutex_unlock(&J->mu);

    for (int i = 0; i < J->n_workers; i++) {
        if (J->workers[i].started) {
            pthread_join(J->workers[i].thread, NULL);
            J->workers[i].started = 0;
        }
    }

    pthread_mutex_lock(&J->mu);
    if (J->dirty) {
        struct ln_error err = {0};
        if (ln_store_save(J->store, J->doc, &err) < 0)
            ln_log_error("the job history could not be saved at shutdown: %s", err.message);
        else
            J->dirty = 0;
    }
    J->shut_down = 1;
    ln__changed(J);
    pthread_mutex_unlock(&J->mu);    ln__remove_doomed(J);
}

void ln_jobs_free(struct ln_jobs *J)
{
    if (!J)
        return;
    ln_jobs_shutdown(J, 0);
    pthread_cond_destroy(&J->changed);
    pthread_cond_destroy(&J->work);
    pthread_mutex_destroy(&J->mu);
    ln_store_free(J->store);
    json_decref(J->doc);
    json_decref(J->index);
    json_decref(J->keys);
    json_decref(J->deleting);
    json_decref(J->doomed);
    free(J->table);
    free(J->queue);
    free(J->workers);
    free(J->outputs);
    free(J);
}
