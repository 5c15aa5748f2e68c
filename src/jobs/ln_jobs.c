/*
 * The job manager: the in-memory job table, the FIFO of queued jobs, the
 * worker threads that run the engine, and the bridge to outputs/jobs.json.
 * Every status change is written to the job's folder record and then to the
 * history before anyone can see it, so an acknowledged or finished job
 * survives a crash, and even the loss of jobs.json; progress is kept in
 * memory only, because writing the file for every percent would cost more
 * than the generation.
 *
 *
 * The manager's files: ln_jobs.c (opening, requests, waiting, metrics,
 * shutdown), ln_jobs_table.c (the table and the queue), ln_jobs_save.c
 * (records, history, retention), ln_jobs_worker.c (the workers),
 * ln_jobs_files.c (paths, staging, format conversion); ln_jobs_int.h holds
 * the state they share and the DESIGN of its locking.
 */
#include "ln_jobs_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "ln_alloc.h"
#include "ln_file.h"
#include "ln_folder.h"
#include "ln_fs.h"
#include "ln_log.h"
#include "ln_sys.h"
#include "ln_time.h"

void ln_jobs_config_default(struct ln_jobs_config *cfg)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->outputs_dir = "outputs";
    cfg->workers = 1;
    cfg->max_queue = 64;
    cfg->keep_jobs = 1000;
    cfg->keep_seconds = 0;
    cfg->image_limits = ln_image_limits_default();
}

/* ---- opening ---- */

static void ln__clear_staging(const struct ln_jobs *J)
{
    struct ln_dir *d;
    if (ln_dir_open(&d, J->outputs, NULL) < 0)
        return;
    /* Collect first: removing while reading a folder may skip entries. */
    char **names = NULL;
    size_t n = 0;
    struct ln_dir_entry e;
    while (ln_dir_next(d, &e, NULL) > 0) {
        if (strncmp(e.name, LN__STAGING_PREFIX, strlen(LN__STAGING_PREFIX)) == 0) {
            names = ln_xrealloc(names, (n + 1) * sizeof *names);
            names[n++] = ln_xstrdup(e.name);
        }
    }
    ln_dir_close(d);
    for (size_t i = 0; i < n; i++) {
        ln__remove_folder(J, names[i]);
        free(names[i]);
    }
    if (n)
        ln_log_info("removed %zu unfinished upload folder%s from %s", n, n == 1 ? "" : "s",
                    J->outputs);
    free(names);
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
    struct ln_dir *d;
    if (ln_dir_open(&d, dir, NULL) < 0)
        return 0;
    size_t n = 0;
    struct ln_dir_entry e;
    while (ln_dir_next(d, &e, NULL) > 0) {
        const char *t = strstr(e.name, ".tmp-");
        if (!t || t == e.name || strlen(t) != 5 + 6 ||
            ln__job_file(J, id, e.name, path, sizeof path) < 0)
            continue;
        struct ln_error err = {0};
        int rc = ln_path_remove(path, &err);
        if (rc == LN_OK)
            n++;
        else if (rc != LN_ENOTFOUND)
            ln_log_warn("%s", err.message);
    }
    ln_dir_close(d);
    return n;
}

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
             ln_path_stat(path, 0, &(struct ln_path_info){0}, NULL) < 0))
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
    const char *store = cfg->store && strcmp(cfg->store, "file") != 0 ? cfg->store : "";
    if (store[0] && !ln__pg_is_uri(store))
        return ln_error_set(err, LN_EINVAL,
                            "unknown job store \"%.40s\": file, or postgres://USER@HOST/DB",
                            store);
    struct ln_jobs *J = ln_xcalloc(1, sizeof *J);
    int rc;
    J->outputs =
        ln_xstrdup(cfg->outputs_dir && cfg->outputs_dir[0] ? cfg->outputs_dir : def.outputs_dir);
    J->engines = *engines;
    J->n_workers = cfg->workers > 0 || (store[0] && cfg->workers == 0) ? cfg->workers : 1;
    J->max_queue = cfg->max_queue > 0 ? cfg->max_queue : def.max_queue;
    J->keep_jobs = cfg->keep_jobs;
    J->keep_seconds = cfg->keep_seconds;
    J->image_limits = cfg->image_limits;
    J->doc = json_object();
    J->index = json_object();
    J->keys = json_object();
    J->deleting = json_object();
    J->doomed = json_array();
    J->workers = ln_xcalloc((size_t)(J->n_workers ? J->n_workers : 1), sizeof *J->workers);
    for (int i = 0; store[0] == 0 && i < J->n_workers; i++) {
        J->workers[i].jobs = J;
        atomic_init(&J->workers[i].cancel, 0);
    }
    pthread_mutex_init(&J->smu, NULL);
    pthread_mutex_init(&J->mu, NULL);
    pthread_cond_init(&J->work, NULL);
    ln_cond_init(&J->changed); /* deadlines on the monotonic clock */

    struct ln_path_info info;
    if (ln_path_stat(J->outputs, 0, &info, NULL) == LN_OK && info.kind != LN_PATH_DIR) {
        rc = ln_error_set(err, LN_EIO, "%s is not a folder", J->outputs);
        goto fail;
    }
    if ((rc = ln_file_mkdirs(J->outputs, err)) < 0)
        goto fail;
    if (store[0]) {
        /* outputs/pg-cache: uploads staged and files read from the database */
        char *cache = ln_xmalloc(strlen(J->outputs) + 16);
        sprintf(cache, "%s/pg-cache", J->outputs);
        free(J->outputs);
        J->outputs = cache;
        if ((rc = ln__pg_open(J, store, err)) < 0)
            goto fail;
        *out = J;
        return LN_OK;
    }
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
    ln__retain(J);
    ln__remove_doomed(J);
    *out = J;
    return LN_OK;

fail:
    J->shut_down = 1;
    ln_jobs_free(J);
    return rc;
}

void ln_jobs_engines(struct ln_jobs *J, struct ln_engine_set *out)
{
    pthread_mutex_lock(&J->mu);
    *out = J->engines;
    pthread_mutex_unlock(&J->mu);
}

void ln_jobs_set_engines(struct ln_jobs *J, const struct ln_engine_set *engines)
{
    pthread_mutex_lock(&J->mu);
    J->engines = *engines;
    ln__changed(J);
    pthread_mutex_unlock(&J->mu);
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
    if (J->pg)
        return ln__pg_start(J, err);
    for (int i = 0; i < J->n_workers; i++) {
        int e = pthread_create(&J->workers[i].thread, NULL, ln__worker_main, &J->workers[i]);
        if (e != 0) {
            rc = ln_error_set(err, LN_EINTERNAL, "cannot start worker %d: %s", i + 1, strerror(e));
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
            ln_path_remove(req->staged_paths[i], NULL);
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
    struct ln_engine_set engines;
    ln_jobs_engines(J, &engines);
    const struct ln_engine *engine =
        ln_engine_set_pick(&engines, req->engine, (size_t)req->n_inputs, err);
    if (!engine)
        return LN_EINVAL;

    /* Under smu from the checks to the table: no other submission can take
     * the key or fill the queue in between, and the job is durable before
     * any reader can see it. */
    pthread_mutex_lock(&J->smu);
    pthread_mutex_lock(&J->mu);
    if (key[0]) {
        json_t *owner = json_object_get(J->keys, key);
        struct ln_job *prev = owner ? ln__find(J, json_string_value(owner)) : NULL;
        if (prev) {
            *out = *prev;
            if (existed)
                *existed = 1;
            pthread_mutex_unlock(&J->mu);
            pthread_mutex_unlock(&J->smu);
            ln__unlink_staged(req);
            return LN_OK;
        }
    }
    if (J->stopping) {
        pthread_mutex_unlock(&J->mu);
        rc = ln_error_set(err, LN_EBUSY, "the server is shutting down");
        goto fail;
    }
    if (J->n_queue >= J->max_queue) {
        size_t n_queue = J->n_queue;
        pthread_mutex_unlock(&J->mu);
        rc = ln_error_set(err, LN_EBUSY, "the queue is full (%zu jobs waiting)", n_queue);
        goto fail;
    }
    job = ln_xcalloc(1, sizeof *job);
    do
        ln_job_id_new(job->id);
    while (ln__find(J, job->id));
    pthread_mutex_unlock(&J->mu);

    if (snprintf(dir, sizeof dir, "%s/%s", J->outputs, job->id) >= (int)sizeof dir) {
        rc = ln_error_set(err, LN_EINTERNAL, "the outputs path is too long");
        goto fail;
    }
    struct ln_error merr = {0};
    int made = ln_dir_make(dir, &merr);
    if (made != LN_OK) {
        rc = ln_error_set(err, LN_EIO, "cannot create the job folder %s: %s", dir,
                          made > 0 ? "it exists" : merr.message);
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
        struct ln_error rerr = {0};
        if (ln__job_file(J, job->id, in->file, path, sizeof path) < 0 ||
            ln_path_rename(req->staged_paths[i], path, &rerr) < 0) {
            rc = ln_error_set(err, LN_EIO, "cannot move the upload %s into %s: %s",
                              req->staged_paths[i], dir,
                              rerr.message[0] ? rerr.message : "the path is too long");
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
    char existing[LN_JOB_ID_LEN + 1] = "";
    if ((rc = J->pg ? ln__pg_submit(J, job, existing, err) : ln__persist(J, job, 1, err)) < 0)
        goto fail;
    if (existing[0]) { /* the key's job came through another server */
        pthread_mutex_unlock(&J->smu);
        ln__remove_folder(J, job->id);
        free(job);
        if ((rc = ln__pg_existing(J, existing, out, err)) == LN_OK && existed)
            *existed = 1;
        return rc;
    }
    pthread_mutex_lock(&J->mu);
    if (!ln__find(J, job->id)) { /* else the database's notice came first */
        ln__append(J, job);
        ln__queue_push(J, job->id, 0);
    }
    *out = *ln__find(J, job->id);
    size_t waiting = J->n_queue;
    pthread_cond_signal(&J->work);
    ln__changed(J);
    pthread_mutex_unlock(&J->mu);
    pthread_mutex_unlock(&J->smu);
    ln_log_info("job %s queued (%d image%s, %zu waiting)", job->id, job->n_inputs,
                job->n_inputs == 1 ? "" : "s", waiting);
    free(job);
    return LN_OK;

fail:
    pthread_mutex_unlock(&J->smu);
    if (made_dir)
        ln__remove_folder(J, job->id);
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
int ln_jobs_list(struct ln_jobs *J, int status, size_t offset, size_t limit, struct ln_job **out,
                 size_t *n, size_t *total, struct ln_error *err)
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

/* Checks a job can be canceled and, when it is running, asks its worker
 * to stop (memory only, under mu). Returns 1 when the job is queued: the
 * caller then records the cancel with smu held. */
static int ln__cancel_running(struct ln_jobs *J, const char *id, struct ln_job *out, int *rc,
                              struct ln_error *err)
{
    struct ln_job *job = ln__find(J, id);
    if (!job) {
        *rc = ln_error_set(err, LN_ENOTFOUND, "no job with id %.40s", id ? id : "");
        return 0;
    }
    if (ln_job_status_is_final(job->status)) {
        *rc = ln_error_set(err, LN_EINVAL, "job %s already %s", job->id,
                           ln_job_status_name(job->status));
        return 0;
    }
    if (job->status == LN_JOB_STATUS_QUEUED)
        return 1;
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
    *rc = LN_OK;
    return 0;
}

int ln_jobs_cancel(struct ln_jobs *J, const char *id, struct ln_job *out, struct ln_error *err)
{
    if (J->pg)
        return ln__pg_cancel(J, id, out, err);
    int rc = LN_OK;
    pthread_mutex_lock(&J->mu);
    int queued = ln__cancel_running(J, id, out, &rc, err);
    pthread_mutex_unlock(&J->mu);
    if (!queued)
        return rc;

    /* Queued: durable before the answer. Under smu no worker can start it;
     * checked again, as a worker may have started it meanwhile. */
    pthread_mutex_lock(&J->smu);
    pthread_mutex_lock(&J->mu);
    queued = ln__cancel_running(J, id, out, &rc, err);
    struct ln_job next;
    if (queued) {
        next = *ln__find(J, id);
        next.status = LN_JOB_STATUS_CANCELED;
        snprintf(next.stage, sizeof next.stage, "canceled");
        next.finished_at = ln_time_wall();
    }
    pthread_mutex_unlock(&J->mu);
    if (queued && (rc = ln__persist(J, &next, 0, err)) == LN_OK) {
        pthread_mutex_lock(&J->mu);
        struct ln_job *job = ln__find(J, next.id);
        if (job) { /* else deleted meanwhile: the deletion answered for it */
            ln__queue_remove(J, job->id);
            ln__commit(J, job, &next);
            *out = *job;
        } else {
            *out = next;
        }
        pthread_mutex_unlock(&J->mu);
        ln_log_info("job %s canceled before it started", next.id);
        ln__retain(J);
    }
    pthread_mutex_unlock(&J->smu);
    ln__remove_doomed(J); /* retention's, after a cancel */
    return rc;
}

/* A deletion refused after its mark (smu held): the job's record is
 * written again as the table has it, and the job is no longer being
 * deleted. */
static void ln__delete_refused(struct ln_jobs *J, const char *jid)
{
    pthread_mutex_lock(&J->mu);
    const struct ln_job *job = ln__find(J, jid);
    json_t *now = job ? ln_job_to_json(job) : NULL;
    pthread_mutex_unlock(&J->mu);
    struct ln_error rerr = {0};
    if (now && ln_folder_record_write(J->outputs, jid, now, &rerr) < 0)
        ln_log_error("job %s: %s", jid, rerr.message);
    json_decref(now);
    pthread_mutex_lock(&J->mu);
    json_object_del(J->deleting, jid);
    pthread_mutex_unlock(&J->mu);
}

/* DESIGN: a deletion in steps.
 *   1. Under mu: the job is put in `deleting`; from then on nothing writes
 *      its record (ln__persist skips it) and retention leaves it alone, so
 *      the mark of step 2 stays, and a second delete of it answers 404.
 *   2. With smu (mu not held): its record becomes the deletion mark (two
 *      fsyncs). A change whose record was written before the job was
 *      marked is already on disk: the mark goes over it.
 *   3. Still with smu: it leaves the history document (changes to it are
 *      now kept in the table only) and jobs.json is written without it.
 *   4. Under mu: the job leaves the table (GET answers 404 from here on),
 *      its worker is told; then, without any lock, the folder is removed.
 * The mark is durable before any history without the job exists, and the
 * folder goes only after one is on disk, so a crash at any instant either
 * leaves the job whole (its mark is dropped at start-up: the delete never
 * happened) or finishes the deletion at start-up (ln_folder_reconcile).
 * When the history cannot be written the deletion is refused: the job goes
 * back into the document as the table has it and its record is rewritten.
 * GET /jobs/{id} and the event notifier wait only for the in-memory parts.
 * The HTTP server calls this on a helper thread (ln_server_slow.c). */
int ln_jobs_delete(struct ln_jobs *J, const char *id, struct ln_error *err)
{
    if (J->pg)
        return ln__pg_delete(J, id, err);
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
    pthread_mutex_lock(&J->smu);
    pthread_mutex_lock(&J->mu);
    int gone = ln__find(J, jid) == NULL; /* retention took it before the mark */
    if (gone)
        json_object_del(J->deleting, jid);
    pthread_mutex_unlock(&J->mu);
    if (gone) {
        pthread_mutex_unlock(&J->smu);
        return ln_error_set(err, LN_ENOTFOUND, "no job with id %s", jid);
    }
    int rc = ln_folder_record_drop(J->outputs, jid, err);
    if (rc < 0) {
        /* Refused: the record, mark or not, and skipped by changes made
         * meanwhile, is written again as the table has the job. */
        ln__delete_refused(J, jid);
        pthread_mutex_unlock(&J->smu);
        return rc;
    }

    /* 3 */
    json_t *old = json_incref(json_object_get(J->doc, jid));
    json_object_del(J->doc, jid);
    rc = ln__save(J, err);
    if (rc < 0) {
        if (old)
            json_object_set(J->doc, jid, old);
        ln__delete_refused(J, jid);
        pthread_mutex_unlock(&J->smu);
        json_decref(old);
        return rc;
    }
    json_decref(old);
    pthread_mutex_unlock(&J->smu);

    /* 4 */
    pthread_mutex_lock(&J->mu);
    job = ln__find(J, jid); /* still there: only this call removes it now */
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

/* The ln_time_now instant timeout_s from now (clamped to 0..1 day), for
 * ln_cond_wait_until on the manager's condition variable `changed`. */
static double ln__deadline(double timeout_s)
{
    if (!(timeout_s > 0))
        timeout_s = 0;
    if (timeout_s > 86400)
        timeout_s = 86400;
    return ln_time_now() + timeout_s;
}

int ln_jobs_wait(struct ln_jobs *J, const char *id, uint64_t seen_version, double timeout_s,
                 struct ln_job *out, struct ln_error *err)
{
    double deadline = ln__deadline(timeout_s);

    int rc = LN_OK;
    pthread_mutex_lock(&J->mu);
    for (;;) {
        const struct ln_job *job = ln__find(J, id);
        if (!job) {
            rc = ln_error_set(err, LN_ENOTFOUND, "no job with id %.40s", id ? id : "");
            break;
        }
        if (job->version != seen_version || ln_cond_wait_until(&J->changed, &J->mu, deadline)) {
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
    double deadline = ln__deadline(timeout_s);

    pthread_mutex_lock(&J->mu);
    while (J->changes == seen_changes)
        if (ln_cond_wait_until(&J->changed, &J->mu, deadline))
            break;
    uint64_t now = J->changes;
    pthread_mutex_unlock(&J->mu);
    return now;
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
    if (J->pg) {
        pthread_mutex_unlock(&J->mu);
        ln__pg_shutdown(J, grace_s);
        return;
    }
    J->stopping = 1;
    pthread_cond_broadcast(&J->work);

    if (grace_s < 0)
        grace_s = 0;
    if (grace_s > 86400)
        grace_s = 86400;
    double deadline = ln__deadline(grace_s);
    while (ln__any_busy(J))
        if (ln_cond_wait_until(&J->changed, &J->mu, deadline))
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

    pthread_mutex_lock(&J->smu);
    if (J->dirty) {
        struct ln_error err = {0};
        if (ln__save(J, &err) < 0)
            ln_log_error("the job history could not be saved at shutdown: %s", err.message);
    }
    pthread_mutex_unlock(&J->smu);
    pthread_mutex_lock(&J->mu);
    J->shut_down = 1;
    ln__changed(J);
    pthread_mutex_unlock(&J->mu);
    ln__remove_doomed(J);
}

void ln_jobs_free(struct ln_jobs *J)
{
    if (!J)
        return;
    ln_jobs_shutdown(J, 0);
    ln__pg_free(J);
    pthread_cond_destroy(&J->changed);
    pthread_cond_destroy(&J->work);
    pthread_mutex_destroy(&J->mu);
    pthread_mutex_destroy(&J->smu);
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
