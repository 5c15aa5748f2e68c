/*
 * Job folders and the record each one keeps (see ln_folder.h). The record
 * is written before jobs.json at every change, so it is never behind the
 * history except when its own write failed; at start-up the two are merged
 * by how far along the job is, which makes a lost or stale history
 * recoverable from the folders without anyone editing files by hand.
 */
#include "ln_folder.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_alloc.h"
#include "ln_file.h"
#include "ln_fs.h"
#include "ln_log.h"

#define LN__STAGING_PREFIX ".staging-"
#define LN__RECORD_MAX_BYTES ((size_t)1 << 20)

/* outputs/<id>/<name>, a new string. */
static char *ln__path(const char *outputs, const char *id, const char *name)
{
    size_t n = strlen(outputs) + strlen(id) + (name ? strlen(name) : 0) + 3;
    char *p = ln_xmalloc(n);
    if (name)
        snprintf(p, n, "%s/%s/%s", outputs, id, name);
    else
        snprintf(p, n, "%s/%s", outputs, id);
    return p;
}

int ln_folder_record_write(const char *outputs, const char *id, const json_t *job,
                           struct ln_error *err)
{
    if (!ln_job_id_valid(id))
        return ln_error_set(err, LN_EINVAL, "\"%.40s\" is not a job id", id ? id : "");
    char *text = json_dumps(job, JSON_INDENT(2) | JSON_REAL_PRECISION(12));
    if (!text)
        return ln_error_set(err, LN_ENOMEM, "cannot serialise the record of job %s", id);
    char *path = ln__path(outputs, id, LN_FOLDER_RECORD);
    size_t len = strlen(text);
    text[len++] = '\n'; /* replaces the NUL: the length is what is written */
    int rc = ln_file_write_atomic(path, text, len, err);
    free(text);
    if (rc < 0) {
        free(path);
        return ln_error_prefix(err, "record of job %s not saved", id);
    }
    /* A job with a record is not being deleted. */
    char *mark = ln__path(outputs, id, LN_FOLDER_DELETED);
    int rm = ln_path_remove(mark, err);
    if (rm == LN_OK)
        rc = ln_file_sync_parent(mark, err);
    else if (rm != LN_ENOTFOUND)
        rc = rm;
    free(mark);
    free(path);
    return rc;
}

int ln_folder_record_read(const char *outputs, const char *id, struct ln_job *job,
                          struct ln_error *err)
{
    if (!ln_job_id_valid(id))
        return ln_error_set(err, LN_EINVAL, "\"%.40s\" is not a job id", id ? id : "");
    char *path = ln__path(outputs, id, LN_FOLDER_RECORD);
    uint8_t *data = NULL;
    size_t len = 0;
    int rc = ln_file_read(path, LN__RECORD_MAX_BYTES, &data, &len, err);
    if (rc == LN_ETOOBIG)
        rc = ln_error_set(err, LN_EFORMAT, "%s is larger than any job record", path);
    if (rc < 0)
        goto done;
    json_error_t jerr;
    json_t *root = json_loadb((const char *)data, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        rc = ln_error_set(err, LN_EFORMAT, "%s: not valid JSON (line %d: %s)", path, jerr.line,
                          jerr.text);
        goto done;
    }
    struct ln_error jerr2 = {0};
    rc = ln_job_from_json(root, job, &jerr2);
    json_decref(root);
    if (rc < 0)
        rc = ln_error_set(err, LN_EFORMAT, "%s: %s", path, jerr2.message);
    else if (strcmp(job->id, id) != 0)
        rc = ln_error_set(err, LN_EFORMAT, "%s: it is the record of job %s", path, job->id);
done:
    free(data);
    free(path);
    return rc;
}

int ln_folder_record_drop(const char *outputs, const char *id, struct ln_error *err)
{
    if (!ln_job_id_valid(id))
        return ln_error_set(err, LN_EINVAL, "\"%.40s\" is not a job id", id ? id : "");
    char *path = ln__path(outputs, id, LN_FOLDER_RECORD);
    char *mark = ln__path(outputs, id, LN_FOLDER_DELETED);
    int rc = LN_OK;
    char *dir = ln__path(outputs, id, NULL);
    struct ln_path_info info;
    struct ln_error rerr = {0};
    /* One rename: at every instant the folder has its record or its mark. */
    int mv = ln_path_rename(path, mark, &rerr);
    if (mv < 0) {
        if (mv != LN_ENOTFOUND)
            rc = ln_error_set(err, LN_EIO, "cannot mark %s deleted: %s", path, rerr.message);
        else if (ln_path_stat(dir, LN_PATH_NOFOLLOW, &info, NULL) == LN_ENOTFOUND)
            goto done; /* no folder: nothing could adopt the job back */
        else
            rc = ln_file_write_atomic(mark, "", 0, err);
    }
    if (rc == LN_OK)
        rc = ln_file_sync_parent(mark, err);
done:
    free(dir);
    free(mark);
    free(path);
    return rc;
}

int ln_folder_remove(const char *outputs, const char *name)
{
    int ok = name && !strchr(name, '/') && !strchr(name, '\\') &&
             (ln_job_id_valid(name) ||
              (strncmp(name, LN__STAGING_PREFIX, strlen(LN__STAGING_PREFIX)) == 0 &&
               strlen(name) > strlen(LN__STAGING_PREFIX)));
    if (!ok) {
        ln_log_error("refusing to remove \"%s\": not a job or staging folder of %s",
                     name ? name : "(null)", outputs);
        return LN_EINVAL;
    }
    char *path = ln__path(outputs, name, NULL);
    int rc = LN_OK;
    struct ln_error err = {0};
    if (ln_dir_remove_tree(path, &err) < 0) {
        ln_log_warn("%s", err.message);
        rc = LN_EIO;
    }
    free(path);
    return rc;
}

int ln_folder_job_ahead(const struct ln_job *a, const struct ln_job *b)
{
    int fa = ln_job_status_is_final(a->status) != 0;
    int fb = ln_job_status_is_final(b->status) != 0;
    if (fa != fb)
        return fa;
    if (fa)
        return 0;
    /* Unfinished: queued -> running (attempts + 1) -> queued again by a
     * shutdown or a restart (same attempts) -> running (attempts + 1). */
    if (a->attempts != b->attempts)
        return a->attempts > b->attempts;
    return a->status == LN_JOB_STATUS_RUNNING && b->status == LN_JOB_STATUS_QUEUED;
}

/* ---- reconciliation ---- */

/* NAME.tmp-XXXXXX: a file whose atomic write was cut short. */
static int ln__is_temporary(const char *f)
{
    const char *t = strstr(f, ".tmp-");
    return t && t != f && strlen(t) == 5 + 6;
}

/* 1 when the folder holds nothing but uploaded inputs and temporaries
 * (what a submission cut off before its record leaves), 0 otherwise with
 * the first other entry in `other`, -1 when it cannot be listed. */
static int ln__only_uploads(const char *dir, char *other, size_t n_other)
{
    struct ln_dir *d;
    struct ln_error err = {0};
    if (ln_dir_open(&d, dir, &err) < 0) {
        snprintf(other, n_other, "an unreadable folder (%.200s)", err.message);
        return -1;
    }
    int only = 1;
    struct ln_dir_entry e;
    int rc;
    while ((rc = ln_dir_next(d, &e, &err)) > 0) {
        if (ln_job_input_name_valid(e.name) || ln__is_temporary(e.name))
            continue;
        snprintf(other, n_other, "%.200s", e.name);
        only = 0;
        break;
    }
    ln_dir_close(d);
    if (rc < 0) {
        snprintf(other, n_other, "an unreadable folder (%.200s)", err.message);
        return -1;
    }
    return only;
}

static int ln__cmp_names(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Collects the names of outputs that are job ids (sorted, so the log reads
 * the same on every start). */
static int ln__job_folders(const char *outputs, char ***names, size_t *n, struct ln_error *err)
{
    *names = NULL;
    *n = 0;
    struct ln_dir *d;
    struct ln_error lerr = {0};
    if (ln_dir_open(&d, outputs, &lerr) < 0)
        return ln_error_set(err, LN_EIO, "%s", lerr.message);
    struct ln_dir_entry e;
    int rc;
    while ((rc = ln_dir_next(d, &e, &lerr)) > 0) {
        if (!ln_job_id_valid(e.name))
            continue;
        *names = ln_xrealloc(*names, (*n + 1) * sizeof **names);
        (*names)[(*n)++] = ln_xstrdup(e.name);
    }
    ln_dir_close(d);
    if (rc < 0) {
        for (size_t i = 0; i < *n; i++)
            free((*names)[i]);
        free(*names);
        *names = NULL;
        *n = 0;
        return ln_error_set(err, LN_EIO, "cannot list %s: %s", outputs, lerr.message);
    }
    if (*n > 1)
        qsort(*names, *n, sizeof **names, ln__cmp_names);
    return LN_OK;
}

/* A folder with no usable record and no entry in the history. */
static void ln__orphan(const char *outputs, const char *id, int record_rc,
                       const struct ln_error *record_err, struct ln_folder_census *c)
{
    if (record_rc != LN_ENOTFOUND) {
        ln_log_warn("folder %s/%s is not in the job history and its record cannot be used "
                    "(%s): left as it is",
                    outputs, id, record_err->message);
        c->kept++;
        return;
    }
    char *dir = ln__path(outputs, id, NULL);
    char other[256] = "";
    int only = ln__only_uploads(dir, other, sizeof other);
    free(dir);
    if (only != 1) {
        ln_log_warn("folder %s/%s is not in the job history and has no job record, but holds "
                    "%s: left as it is",
                    outputs, id, other);
        c->kept++;
        return;
    }
    if (ln_folder_remove(outputs, id) < 0) {
        c->kept++;
        return;
    }
    ln_log_info("removed the folder %s/%s: a submission that was never acknowledged (no job "
                "record, only its uploads)",
                outputs, id);
    c->removed++;
}

int ln_folder_reconcile(const char *outputs, json_t *history, struct ln_folder_census *c,
                        struct ln_error *err)
{
    memset(c, 0, sizeof *c);
    char **names;
    size_t n_names;
    int rc = ln__job_folders(outputs, &names, &n_names, err);
    if (rc < 0)
        return rc;
    struct ln_job *rec = ln_xmalloc(sizeof *rec);
    struct ln_job *old = ln_xmalloc(sizeof *old);
    for (size_t i = 0; i < n_names; i++) {
        const char *id = names[i];
        char *dir = ln__path(outputs, id, NULL);
        struct ln_path_info info;
        int is_dir =
            ln_path_stat(dir, LN_PATH_NOFOLLOW, &info, NULL) == LN_OK && info.kind == LN_PATH_DIR;
        free(dir);
        if (!is_dir)
            continue;

        json_t *entry = json_object_get(history, id);
        char *mark = ln__path(outputs, id, LN_FOLDER_DELETED);
        struct ln_path_info mark_info;
        int marked = ln_path_stat(mark, 0, &mark_info, NULL) == LN_OK;
        if (marked && !entry) {
            /* Deleted, and the history says so: finish the removal. */
            if (ln_folder_remove(outputs, id) == LN_OK) {
                ln_log_info("removed the folder %s/%s of a deleted job (the removal had been "
                            "cut short)",
                            outputs, id);
                c->deleted++;
            } else {
                c->kept++;
            }
            free(mark);
            continue;
        }
        /* The deletion was not saved: the job stays. */
        if (marked && ln_path_remove(mark, NULL) == LN_OK)
            ln_file_sync_parent(mark, NULL);
        free(mark);
        struct ln_error rerr = {0};
        int rrc = ln_folder_record_read(outputs, id, rec, &rerr);
        if (rrc == LN_OK && !entry) {
            json_object_set_new(history, id, ln_job_to_json(rec));
            ln_log_debug("job %s (%s) adopted from its folder", id,
                         ln_job_status_name(rec->status));
            c->adopted++;
            continue;
        }
        if (!entry) {
            ln__orphan(outputs, id, rrc, &rerr, c);
            continue;
        }
        /* In the history: the entry is valid (the store checked it). */
        if (ln_job_from_json(entry, old, NULL) < 0)
            continue;
        if (rrc == LN_OK && ln_folder_job_ahead(rec, old)) {
            ln_log_info("job %s: its folder record (%s, %d attempt%s) is ahead of the history "
                        "(%s): the record is used",
                        id, ln_job_status_name(rec->status), rec->attempts,
                        rec->attempts == 1 ? "" : "s", ln_job_status_name(old->status));
            json_object_set_new(history, id, ln_job_to_json(rec));
            c->advanced++;
            continue;
        }
        if (rrc == LN_OK && !ln_folder_job_ahead(old, rec))
            continue; /* the same state: nothing to do */
        if (rrc != LN_OK && rrc != LN_ENOTFOUND && rrc != LN_EFORMAT) {
            ln_log_warn("job %s: %s", id, rerr.message);
            continue;
        }
        /* Missing (a folder from before records were kept), not valid, or
         * behind (its own write failed): written again from the history. */
        if (rrc == LN_EFORMAT)
            ln_log_warn("job %s: its folder record is not valid (%s): written again from the "
                        "history",
                        id, rerr.message);
        struct ln_error werr = {0};
        if (ln_folder_record_write(outputs, id, entry, &werr) < 0)
            ln_log_warn("%s", werr.message);
        else
            c->written++;
    }
    free(old);
    free(rec);
    for (size_t i = 0; i < n_names; i++)
        free(names[i]);
    free(names);
    return LN_OK;
}
