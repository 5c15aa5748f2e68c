/*
 * The job manager's persistence: each change to a job goes to its folder
 * record (ln_folder.h) and then to outputs/jobs.json (ln_store.h), with smu
 * held and mu not (ln_jobs_int.h); retention of finished jobs likewise.
 */
#include "ln_jobs_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ln_folder.h"
#include "ln_log.h"
#include "ln_time.h"

/* ---- persistence (smu held, mu not) ---- */

/* Whether the job is being deleted (ln_jobs_delete): its record is then
 * the deletion mark, which nothing else may overwrite. */
static int ln__marked(struct ln_jobs *J, const char *id)
{
    pthread_mutex_lock(&J->mu);
    int marked = json_object_get(J->deleting, id) != NULL;
    pthread_mutex_unlock(&J->mu);
    return marked;
}

/* Writes the history document as jobs.json (smu held). */
int ln__save(struct ln_jobs *J, struct ln_error *err)
{
    int rc = ln_store_save(J->store, J->doc, err);
    if (rc == LN_OK)
        J->dirty = 0;
    return rc;
}

/* DESIGN: the hand-off from the table to the disk. Every change to the
 * history (a submission, a cancel of a queued job, a worker's claim and
 * result, retention, a deletion) is decided under mu from the table,
 * written here with smu held and mu released, and taken by the table under
 * mu afterwards (ln__commit). So mu is never held across a write, an fsync
 * or a folder removal: GET /jobs/{id}, the listing, /health and the event
 * notifier read the table between saves, never behind one
 * (test_saves_leave_table_free holds a save up and reads meanwhile). And
 * the table, the only thing those readers see, never runs ahead of the
 * disk: a job shows as done only once its record and jobs.json say so, so
 * a client told "done" is never told otherwise after a crash (unless the
 * disk refused the writes: ln__persist_or_log), and no test needs to wait
 * for jobs.json after a change it saw. smu, not numbered snapshots taken
 * under mu, orders the saves, because a change is decided from the table
 * as the previous one left it (the queue's room, the idempotency key, a
 * cancel racing a claim); the store's numbering (ln_store_write) remains
 * its own guard against an older save landing last. The cost is that
 * saves queue behind each other (KNOWN_ISSUES).
 *
 * Writes the job's folder record (ln_folder.h) with `next`, then the
 * history with the same change. The record goes first: whatever instant a
 * crash picks, the record is never behind jobs.json, so the next start can
 * tell a finished job from its record even when jobs.json is lost or one
 * save behind. With `strict` a record that cannot be written refuses the
 * change (a submission is not acknowledged without its record); otherwise
 * the failure is logged and the history still saved. On failure the
 * document, the history file and the record are as before. The table is
 * the caller's to change afterwards. */
int ln__persist(struct ln_jobs *J, const struct ln_job *next, int strict, struct ln_error *err)
{
    const char *id = next->id;
    json_t *old = json_incref(json_object_get(J->doc, id));
    json_t *now = ln_job_to_json(next);
    struct ln_error rerr = {0};
    int rc;
    if (!strict && !old) {
        /* A change to a job no longer in the history: a deletion got past
         * its step 3 (and maybe its step 4, which drops the mark) after the
         * change was decided. Writing it would bring the deleted job back
         * into jobs.json; the table keeps the change to itself. Only a
         * submission adds a job, and a job being submitted cannot be
         * marked for deletion yet, so below old is always there or the
         * job is new. */
        rc = LN_OK;
        goto done;
    }
    /* A deletion marks its job before it takes smu, and writes the mark
     * after: a mark seen here is already written, one set later will be
     * written over this record. */
    int marked = ln__marked(J, id);
    rc = marked ? LN_OK : ln_folder_record_write(J->outputs, id, now, &rerr);
    int recorded = rc == LN_OK && !marked;
    if (rc < 0) {
        if (strict) {
            if (err)
                *err = rerr;
            goto done;
        }
        ln_log_error("job %s: %s", id, rerr.message);
    }
    json_object_set(J->doc, id, now);
    rc = ln__save(J, err);
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
    }
done:
    json_decref(now);
    json_decref(old);
    return rc;
}

/* For changes made by workers, which cannot be refused: the change stands
 * in the job's record and in the document, the failure is logged, and the
 * next save carries it. */
void ln__persist_or_log(struct ln_jobs *J, const struct ln_job *next)
{
    struct ln_error err = {0};
    if (ln__persist(J, next, 0, &err) < 0) {
        json_t *now = ln_job_to_json(next);
        struct ln_error rerr = {0};
        int marked = ln__marked(J, next->id);
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

/* ---- retention (smu held, mu not) ---- */

/* Removes the finished jobs beyond what the configuration keeps (a number,
 * an age). Chosen under mu; each record goes before the history, as in
 * ln__persist, so that a crash in between cannot bring a removed job back
 * from its folder, and a job whose record cannot be removed stays until
 * the next try; then the table drops them under mu and their folders are
 * doomed (ln__remove_doomed). A job marked for deletion after the choice
 * is removed all the same; its deletion then finds it gone. */
void ln__retain(struct ln_jobs *J)
{
    if (J->keep_jobs == 0 && J->keep_seconds <= 0)
        return;
    double now = ln_time_wall();
    json_t *victims = json_object(); /* id -> true */
    pthread_mutex_lock(&J->mu);
    size_t n_final = 0;
    for (size_t i = 0; i < J->n_table; i++)
        n_final += ln_job_status_is_final(J->table[i].status) != 0;
    size_t over = J->keep_jobs && n_final > J->keep_jobs ? n_final - J->keep_jobs : 0;
    for (size_t i = 0; i < J->n_table; i++) {
        const struct ln_job *job = &J->table[i];
        if (!ln_job_status_is_final(job->status) || json_object_get(J->deleting, job->id))
            continue;
        double done_at = job->finished_at > 0 ? job->finished_at : job->created_at;
        if (json_object_size(victims) < over ||
            (J->keep_seconds > 0 && now - done_at > J->keep_seconds))
            json_object_set_new(victims, job->id, json_true());
    }
    pthread_mutex_unlock(&J->mu);

    json_t *saved = json_object();
    struct ln_error err = {0};
    const char *id;
    json_t *v, *tmp;
    json_object_foreach_safe(victims, tmp, id, v)
    {
        if (ln_folder_record_drop(J->outputs, id, &err) < 0) {
            ln_log_error("job %s kept for now: %s", id, err.message);
            json_object_del(victims, id);
            continue;
        }
        json_object_set(saved, id, json_object_get(J->doc, id));
        json_object_del(J->doc, id);
    }
    if (json_object_size(victims) && ln__save(J, &err) < 0) {
        ln_log_error("old jobs kept: %s", err.message);
        json_t *job;
        json_object_foreach(saved, id, job)
        {
            struct ln_error rerr = {0};
            if (ln_folder_record_write(J->outputs, id, job, &rerr) < 0)
                ln_log_error("job %s: %s", id, rerr.message);
        }
        json_object_update(J->doc, saved);
        json_object_clear(victims);
    }
    json_decref(saved);
    if (!json_object_size(victims)) {
        json_decref(victims);
        return;
    }

    pthread_mutex_lock(&J->mu);
    size_t kept = 0;
    for (size_t i = 0; i < J->n_table; i++) {
        struct ln_job *job = &J->table[i];
        if (!json_object_get(victims, job->id)) {
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
        if (job->idempotency_key[0]) {
            json_t *owner = json_object_get(J->keys, job->idempotency_key);
            if (owner && strcmp(json_string_value(owner), job->id) == 0)
                json_object_del(J->keys, job->idempotency_key);
        }
    }
    J->n_table = kept;
    ln__reindex(J);
    ln__changed(J);
    pthread_mutex_unlock(&J->mu);
    json_decref(victims);
}
