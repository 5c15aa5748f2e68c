/*
 * Moving a server's history from outputs/ into PostgreSQL (`lunar-nova
 * store import`): every job of jobs.json and of the job folders' records,
 * each as far along as either says (the rule start-up uses,
 * ln_folder_job_ahead), with the files of its folder, oldest first so the
 * database's submission order is the history's. A job being deleted (its
 * folder has the deletion mark) is left out; a queued or running one goes
 * in queued, for a worker to run; a job the database already has is left
 * as it is there, so an import cut short is simply run again.
 *
 * Nothing in outputs/ is changed, except what opening the history always
 * repairs (ln_store.h: leftover temporary files removed, a jobs.json that
 * does not parse moved aside for its .bak).
 */
#include "ln_pg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_file.h"
#include "ln_folder.h"
#include "ln_fs.h"
#include "ln_job.h"
#include "ln_store.h"

/* The largest file taken into the database (bytea holds up to 1 GB). */
#define LN__IMPORT_FILE_MAX ((size_t)1 << 30)

static const char *ln__content_type(const char *name)
{
    static const char *const map[][2] = {
        {".png", "image/png"},           {".jpg", "image/jpeg"},
        {".jpeg", "image/jpeg"},         {".webp", "image/webp"},
        {".glb", "model/gltf-binary"},   {".obj", "model/obj"},
        {".mtl", "model/mtl"},           {".ply", "application/x-ply"},
        {".stl", "model/stl"},           {".zip", "application/zip"},
    };
    const char *dot = strrchr(name, '.');
    for (size_t i = 0; dot && i < sizeof map / sizeof map[0]; i++)
        if (strcmp(dot, map[i][0]) == 0)
            return map[i][1];
    return "application/octet-stream";
}

struct ln__import_job {
    struct ln_job job;
};

static int ln__by_created(const void *a, const void *b)
{
    const struct ln_job *x = &((const struct ln__import_job *)a)->job;
    const struct ln_job *y = &((const struct ln__import_job *)b)->job;
    if (x->created_at != y->created_at)
        return x->created_at < y->created_at ? -1 : 1;
    return strcmp(x->id, y->id);
}

/* The files of one job folder, read whole; the record, the deletion mark
 * and unfinished temporary files are not the job's files. */
static int ln__read_files(const char *dir, struct ln_pg_file **files, size_t *n,
                          struct ln_error *err)
{
    *files = NULL;
    *n = 0;
    struct ln_dir *d;
    struct ln_dir_entry e;
    int rc = ln_dir_open(&d, dir, err);
    if (rc < 0)
        return rc;
    size_t cap = 0;
    while ((rc = ln_dir_next(d, &e, err)) > 0) {
        if (e.kind != LN_PATH_FILE || strcmp(e.name, LN_FOLDER_RECORD) == 0 ||
            strcmp(e.name, LN_FOLDER_DELETED) == 0 || strstr(e.name, ".tmp-"))
            continue;
        size_t plen = strlen(dir) + strlen(e.name) + 2;
        char *path = ln_xmalloc(plen);
        snprintf(path, plen, "%s/%s", dir, e.name);
        uint8_t *data = NULL;
        size_t len = 0;
        rc = ln_file_read(path, LN__IMPORT_FILE_MAX, &data, &len, err);
        free(path);
        if (rc < 0)
            break;
        if (*n == cap) {
            cap = cap ? 2 * cap : 8;
            *files = ln_xrealloc(*files, cap * sizeof **files);
        }
        (*files)[(*n)++] = (struct ln_pg_file){ln_xstrdup(e.name), ln__content_type(e.name),
                                               data, len};
    }
    ln_dir_close(d);
    return rc < 0 ? rc : LN_OK;
}

static void ln__free_files(struct ln_pg_file *files, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free((char *)files[i].name);
        free((void *)files[i].data);
    }
    free(files);
}

/* The jobs to import: the history's entries, each replaced by its folder's
 * record when that is ahead, and records of jobs the history lacks. */
static int ln__collect(const char *outputs, struct ln__import_job **out, size_t *n_out,
                       struct ln_error *err)
{
    *out = NULL;
    *n_out = 0;
    struct ln_store *st;
    int rc = ln_store_open(outputs, &st, err);
    if (rc < 0)
        return rc;
    json_t *history = ln_store_jobs(st);
    size_t cap = json_object_size(history) + 16, n = 0;
    struct ln__import_job *jobs = ln_xcalloc(cap, sizeof *jobs);
    const char *key;
    json_t *val;
    json_object_foreach(history, key, val)
    {
        if (ln_job_from_json(val, &jobs[n].job, NULL) == LN_OK)
            n++;
    }
    ln_store_free(st);

    struct ln_dir *d;
    struct ln_dir_entry e;
    if ((rc = ln_dir_open(&d, outputs, err)) < 0) {
        free(jobs);
        return rc;
    }
    while ((rc = ln_dir_next(d, &e, err)) > 0) {
        if (e.kind != LN_PATH_DIR || !ln_job_id_valid(e.name))
            continue;
        struct ln_job rec;
        if (ln_folder_record_read(outputs, e.name, &rec, NULL) != LN_OK)
            continue;
        size_t i = 0;
        while (i < n && strcmp(jobs[i].job.id, rec.id) != 0)
            i++;
        if (i == n) {
            if (n == cap) {
                cap *= 2;
                jobs = ln_xrealloc(jobs, cap * sizeof *jobs);
            }
            jobs[n++].job = rec;
        } else if (ln_folder_job_ahead(&rec, &jobs[i].job)) {
            jobs[i].job = rec;
        }
    }
    ln_dir_close(d);
    if (rc < 0) {
        free(jobs);
        return rc;
    }
    qsort(jobs, n, sizeof *jobs, ln__by_created);
    *out = jobs;
    *n_out = n;
    return LN_OK;
}

int ln_pg_import_outputs(struct ln_pg *pg, const char *outputs, struct ln_pg_import_report *rep,
                         struct ln_error *err)
{
    memset(rep, 0, sizeof *rep);
    struct ln__import_job *jobs;
    size_t n;
    int rc = ln__collect(outputs, &jobs, &n, err);
    if (rc < 0)
        return rc;
    for (size_t i = 0; i < n && rc == LN_OK; i++) {
        struct ln_job *job = &jobs[i].job;
        size_t dlen = strlen(outputs) + strlen(job->id) + 2;
        char *dir = ln_xmalloc(dlen);
        snprintf(dir, dlen, "%s/%s", outputs, job->id);
        size_t mlen = dlen + strlen(LN_FOLDER_DELETED) + 1;
        char *mark = ln_xmalloc(mlen);
        snprintf(mark, mlen, "%s/%s", dir, LN_FOLDER_DELETED);
        struct ln_path_info info;
        if (ln_path_stat(mark, 0, &info, NULL) == LN_OK) {
            rep->deleting++;
            free(mark);
            free(dir);
            continue;
        }
        free(mark);
        struct ln_pg_file *files = NULL;
        size_t n_files = 0;
        if (ln_path_stat(dir, 0, &info, NULL) == LN_OK &&
            (rc = ln__read_files(dir, &files, &n_files, err)) < 0) {
            ln_error_prefix(err, "job %s", job->id);
            free(dir);
            break;
        }
        free(dir);
        int requeue = !ln_job_status_is_final(job->status);
        if (requeue) {
            job->status = LN_JOB_STATUS_QUEUED;
            snprintf(job->stage, sizeof job->stage, "queued");
            job->progress = 0;
        }
        json_t *obj = ln_job_to_json(job);
        char *text = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
        json_decref(obj);
        int added = 0;
        if (!text)
            rc = ln_error_set(err, LN_ENOMEM, "out of memory importing job %s", job->id);
        else
            rc = ln_pg_import(pg, job->id, ln_job_status_name(job->status), text,
                              job->created_at, job->attempts, files, n_files, &added, err);
        free(text);
        if (rc == LN_OK && added) {
            rep->jobs++;
            rep->requeued += requeue;
            rep->files += n_files;
            for (size_t k = 0; k < n_files; k++)
                rep->bytes += files[k].size;
        } else if (rc == LN_OK) {
            rep->present++;
        }
        ln__free_files(files, n_files);
    }
    free(jobs);
    return rc;
}
